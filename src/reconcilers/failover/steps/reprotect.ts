/**
 * Re-protect, after commit: the original VM is deallocated for good (its disks become the seed), the
 * reverse network mapping and the reverse ReplicatedVM are created (or adopted), and the request follows
 * the reverse initial sync. Each step records what it made in status (reverseNetworkMappingName,
 * reverseReplicatedVMName), and the objects it creates carry the REPROTECT_OF_LABEL, so a restart finds
 * them instead of making a second one. A VM failed over into another subscription is protected back into
 * the original one (the reverse ReplicatedVM's spec.targetSubscriptionId).
 */
import { REPROTECT_OF_LABEL } from '../../../api/contract.ts';
import type { ReplicatedVM } from '../../../api/types.ts';
import { parseArmId, sameArmId } from '../../../azure/arm-id.ts';
import { isAzureNotFound } from '../../../azure/errors.ts';
import { powerState, startDeallocate } from '../../../azure/failover-resources.ts';
import { readSourceVm } from '../../../azure/source-vm.ts';
import { isTrue } from '../../../runtime/conditions.ts';
import { done, stalled, waiting, type Step } from '../../../runtime/step.ts';
import { reverseMappings } from '../../reverse-mappings.ts';
import { reverseName } from '../names.ts';
import type { ProcedurePass } from '../state.ts';
import { sourceCall, sourceRegionSilence, SOURCE_REGION_UNAVAILABLE } from './source.ts';

/**
 * The original VM must not run again beside the failed-over one, and its disks are the seed. While its
 * region does not answer, re-protect waits (and looks again) rather than fail: the reverse replication
 * never starts before the original VM is known to be deallocated.
 */
export async function deallocateSource(pass: ProcedurePass): Promise<Step> {
  const { deps, vm } = pass;
  const sourceId = vm.spec.sourceVirtualMachineId;
  try {
    const state = await powerState(deps.az, sourceId, sourceCall(pass));
    if (state === 'deallocated') return done('original VM deallocated; its disks seed the reverse replication');
    if (state !== 'deallocating') await startDeallocate(deps.az, sourceId, sourceCall(pass));
    return waiting('DeallocatingSource', 'deallocating the original VM');
  } catch (error) {
    if (isAzureNotFound(error)) return done('the original VM no longer exists: the reverse initial sync will copy every disk in full');
    const silence = sourceRegionSilence(pass, error);
    if (!silence) throw error;
    return waiting(SOURCE_REGION_UNAVAILABLE, `the original region does not answer (${silence}): waiting to deallocate the original VM, which must never run beside the failed-over one, before replicating back`, SOURCE_REGION_RECHECK_MS);
  }
}

/** How soon re-protect looks again at an original region that did not answer. */
const SOURCE_REGION_RECHECK_MS = 15_000;

/** The mapping back (failed-over network to the original one): an existing one, else `<mapping>-reverse`. */
export async function createReverseMapping(pass: ProcedurePass): Promise<Step> {
  const { deps, fo, vm, namespace } = pass;
  const forward = await deps.mappings.get({ namespace, name: vm.spec.networkMappingRef.name });
  const reverse = forward?.status?.reverse;
  if (!forward || !reverse?.sourceVirtualNetworkId || !reverse.targetVirtualNetworkId || !reverse.targetLocation) {
    return stalled('NoReverseNetworkMapping', `NetworkMapping ${vm.spec.networkMappingRef.name} reports no reverse mapping`);
  }
  const existing = (await deps.mappings.list(namespace)).items.find((m) => sameArmId(m.spec.sourceVirtualNetworkId, reverse.sourceVirtualNetworkId as string) && m.spec.targetLocation === reverse.targetLocation);
  let mapping = existing;
  if (!mapping) {
    const name = `${forward.metadata.name}-reverse`.slice(0, 253);
    if (await deps.mappings.get({ namespace, name })) return stalled('ReverseNetworkMappingConflict', `NetworkMapping ${name} exists but does not map ${reverse.sourceVirtualNetworkId}`);
    mapping = await deps.mappings.create(namespace, {
      metadata: { name, labels: { [REPROTECT_OF_LABEL]: fo.metadata.name ?? '' } },
      spec: {
        sourceVirtualNetworkId: reverse.sourceVirtualNetworkId,
        targetLocation: reverse.targetLocation,
        targetResourceGroup: parseArmId(reverse.targetVirtualNetworkId).resourceGroup,
        targetVirtualNetworkId: reverse.targetVirtualNetworkId,
        ...(reverse.subnetMappings?.length ? { subnetMappings: reverse.subnetMappings } : {}),
      },
    });
  }
  pass.status.reverseNetworkMappingName = mapping.metadata.name;
  if (!isTrue(mapping.status?.conditions, 'Ready')) return waiting('WaitingForNetworkMapping', `waiting for NetworkMapping ${mapping.metadata.name} to be ready`);
  return done(`NetworkMapping ${mapping.metadata.name}${existing ? ' (existing)' : ''}`);
}

/**
 * The ReplicatedVM back to the original region: source the failed-over VM, target the original resource
 * group, placement and size, seeded from the original VM's disks, with the load balancer, application
 * security group and disk encryption set mappings turned around (target → source). An existing one for the
 * same VM is used as it is: its mappings are the ones the user wrote.
 */
export async function createReverseVm(pass: ProcedurePass): Promise<Step> {
  const { deps, vm, namespace } = pass;
  const failedOver = pass.status.targetVirtualMachineId;
  if (!failedOver || !vm.status?.sourceLocation) return stalled('NoTargetVM', 'the failed-over VM or the original region was not recorded');
  const mappingName = pass.status.reverseNetworkMappingName;
  if (!mappingName) return stalled('NoReverseNetworkMapping', 'the reverse network mapping was not recorded');
  const all = (await deps.vms.list(namespace)).items;
  const live = (r: ReplicatedVM) => !r.metadata.deletionTimestamp && r.status?.phase !== 'FailedOver' && r.status?.phase !== 'FailingOver';
  let reverse = all.find((r) => sameArmId(r.spec.sourceVirtualMachineId, failedOver) && live(r));
  if (!reverse) {
    const name = reverseName(vm.metadata.name ?? '', (n) => all.some((r) => r.metadata.name === n));
    if (!name) return stalled('ReverseReplicatedVMConflict', `ReplicatedVMs ${vm.metadata.name}-reverse and the like exist but protect other VMs (or are failed over): delete the stale one`);
    reverse = await deps.vms.create(namespace, await reverseVmOf(pass, name, failedOver, mappingName));
  }
  pass.status.reverseReplicatedVMName = reverse.metadata.name;
  return done(`ReplicatedVM ${reverse.metadata.name}${reverse.spec.seedVirtualMachineId ? `, seeded from ${parseArmId(reverse.spec.seedVirtualMachineId).name}` : ''}`);
}

async function reverseVmOf({ deps, fo, vm }: ProcedurePass, name: string, failedOver: string, mappingName: string): Promise<Omit<ReplicatedVM, 'apiVersion' | 'kind'>> {
  const original = await readSourceVm(deps.az, vm.spec.sourceVirtualMachineId);
  const seed = original.found && original.supported ? original.vm : undefined;
  return {
    metadata: { name, labels: { [REPROTECT_OF_LABEL]: fo.metadata.name ?? '' } },
    spec: {
      sourceVirtualMachineId: failedOver,
      targetLocation: vm.status?.sourceLocation as string,
      targetResourceGroup: parseArmId(vm.spec.sourceVirtualMachineId).resourceGroup,
      ...backIntoSubscription(deps.az.subscriptionId, vm),
      policyRef: vm.spec.policyRef,
      networkMappingRef: { name: mappingName },
      ...(vm.status?.sourceVmSize ? { targetVmSize: vm.status.sourceVmSize } : {}),
      ...(seed ? { seedVirtualMachineId: seed.id } : {}),
      ...(seed?.availabilitySetId ? { targetAvailabilitySetId: seed.availabilitySetId } : seed?.zone ? { targetZone: seed.zone as '1' | '2' | '3' } : {}),
      ...reverseMappings(vm.spec),
      deletionPolicy: vm.spec.deletionPolicy ?? 'Retain',
    },
  };
}

/**
 * A VM failed over into another subscription (spec.targetSubscriptionId) replicates back into the original
 * one: the reverse ReplicatedVM names it (its source VM is in the other; arm-id.ts, sourceSubscriptionRefusal).
 */
function backIntoSubscription(operatorSubscriptionId: string, vm: ReplicatedVM): Pick<ReplicatedVM['spec'], 'targetSubscriptionId'> {
  const original = parseArmId(vm.spec.sourceVirtualMachineId).subscriptionId;
  const target = vm.spec.targetSubscriptionId ?? operatorSubscriptionId;
  return target.toLowerCase() === original.toLowerCase() ? {} : { targetSubscriptionId: original };
}

export async function reverseInitialSync({ deps, status, namespace }: ProcedurePass): Promise<Step> {
  const name = status.reverseReplicatedVMName;
  const reverse = name ? await deps.vms.get({ namespace, name }) : undefined;
  if (!reverse) return stalled('ReverseReplicatedVMGone', `ReplicatedVM ${name ?? '?'} no longer exists`);
  const sync = reverse.status?.initialSync;
  if (reverse.status?.phase === 'Protected' || reverse.status?.lastRecoveryPoint) {
    const matched = sync?.bytesMatched !== undefined ? `; ${sync.bytesMatched} of ${sync.bytesTotal ?? '?'} bytes matched the seed and were not copied` : '';
    return done(`${name} protected${matched}`);
  }
  const stuck = reverse.status?.conditions?.find((c) => c.type === 'Stalled' && c.status === 'True');
  if (stuck) return waiting('ReverseReplicationStalled', `${name} is stalled (${stuck.reason}): ${stuck.message}`, 30_000);
  return waiting('ReverseInitialSync', `${name}: ${reverse.status?.phase ?? 'Pending'}, initial sync ${sync?.percent ?? 0}%`, 5_000);
}
