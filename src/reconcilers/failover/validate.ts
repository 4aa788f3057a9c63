/**
 * The refusals that stop a FailoverRequest before it touches anything: the VM is protected; no other real
 * failover of it is under way (the one rule in `realFailoversOf`); a Planned failover is refused without a
 * call to Azure when the ReplicatedVM reports its source region unavailable (condition
 * SourceRegionUnavailable=True, set by the datapath); a failback does not replace an original
 * VM that runs again; a named recovery point exists and is the VM's own; a Test has a test network, in the
 * subscription the VM fails over into (spec.targetSubscriptionId).
 */
import { realFailoversOf } from '../../api/contract.ts';
import type { FailoverRequest, ReplicatedVM } from '../../api/types.ts';
import { parseArmId } from '../../azure/arm-id.ts';
import { powerState } from '../../azure/failover-resources.ts';
import { getVirtualMachine } from '../../azure/resources/virtual-machine.ts';
import { replacesSeed } from './names.ts';
import type { FailoverDeps } from './state.ts';
import { LATEST_POINTS } from './steps/recovery-point.ts';
import { PLANNED_NEEDS_SOURCE, SOURCE_REGION_UNAVAILABLE } from './steps/source.ts';

export interface Refusal {
  reason: string;
  message: string;
}

export async function validate(deps: FailoverDeps, fo: FailoverRequest, vm: ReplicatedVM): Promise<Refusal | undefined> {
  const namespace = fo.metadata.namespace ?? 'default';
  if (!vm.status?.disks?.length || !vm.status.targetStorageAccountId) {
    return { reason: 'NotProtected', message: `ReplicatedVM ${vm.metadata.name} is not replicating yet (phase ${vm.status?.phase ?? 'Pending'})` };
  }
  const refusal = fo.spec.type === 'Test' ? undefined : ((await refuseConcurrent(deps, fo, vm)) ?? refuseSourceDown(fo, vm) ?? (await refuseRunningSeed(deps, vm)));
  if (refusal) return refusal;
  const point = fo.spec.recoveryPoint ?? 'LatestProcessed';
  if (!LATEST_POINTS.includes(point)) {
    const named = await deps.points.get({ namespace, name: point });
    if (!named) return { reason: 'RecoveryPointNotFound', message: `RecoveryPoint ${point} does not exist` };
    if (named.spec.replicatedVMName !== vm.metadata.name) {
      return { reason: 'RecoveryPointMismatch', message: `RecoveryPoint ${point} belongs to ${named.spec.replicatedVMName}, not ${vm.metadata.name}` };
    }
  }
  const across = testNetworkRefusal(deps, fo, vm);
  if (across) return across;
  if (fo.spec.type === 'Test' && !fo.spec.testVirtualNetworkId) {
    const mapping = await deps.mappings.get({ namespace, name: vm.spec.networkMappingRef.name });
    if (!mapping?.status?.testVirtualNetworkId) {
      return { reason: 'NoTestNetwork', message: `no test network: set spec.testVirtualNetworkId or let NetworkMapping ${vm.spec.networkMappingRef.name} create one` };
    }
  }
  return undefined;
}

/** A Test failover's own test network must be in the subscription the VM fails over into (spec.targetSubscriptionId). */
function testNetworkRefusal(deps: FailoverDeps, fo: FailoverRequest, vm: ReplicatedVM): Refusal | undefined {
  const target = vm.spec.targetSubscriptionId ?? deps.az.subscriptionId;
  const testNetwork = fo.spec.type === 'Test' ? fo.spec.testVirtualNetworkId : undefined;
  if (testNetwork && parseArmId(testNetwork).subscriptionId.toLowerCase() !== target.toLowerCase()) {
    return { reason: 'TestNetworkSubscriptionMismatch', message: `spec.testVirtualNetworkId ${testNetwork} is not in subscription ${target}, which ${vm.metadata.name} fails over into (a NIC and its network share a subscription)` };
  }
  return undefined;
}

/** One real failover of a VM at a time, and none of a VM another request already failed over. */
async function refuseConcurrent(deps: FailoverDeps, fo: FailoverRequest, vm: ReplicatedVM): Promise<Refusal | undefined> {
  const first = realFailoversOf(deps.listFailovers(fo.metadata.namespace ?? 'default'), vm)[0];
  if (first && first.metadata.uid !== fo.metadata.uid) {
    return { reason: 'ConcurrentFailover', message: `FailoverRequest ${first.metadata.name} already fails ${vm.metadata.name} over; one real failover at a time` };
  }
  if (vm.status?.phase === 'FailedOver' && vm.status.activeFailover && vm.status.activeFailover !== fo.metadata.name) {
    return { reason: 'AlreadyFailedOver', message: `${vm.metadata.name} was already failed over by ${vm.status.activeFailover}` };
  }
  return undefined;
}

/** A Planned failover needs the source region: refused at once when the ReplicatedVM reports it down. */
function refuseSourceDown(fo: FailoverRequest, vm: ReplicatedVM): Refusal | undefined {
  const down = fo.spec.type === 'Planned' ? vm.status?.conditions?.find((c) => c.type === SOURCE_REGION_UNAVAILABLE && c.status === 'True') : undefined;
  if (!down) return undefined;
  return { reason: SOURCE_REGION_UNAVAILABLE, message: `ReplicatedVM ${vm.metadata.name} reports its source region unavailable (${down.message || down.reason}): ${PLANNED_NEEDS_SOURCE}` };
}

/** A failback replaces the original VM: refuse before importing anything if it runs again. */
async function refuseRunningSeed(deps: FailoverDeps, vm: ReplicatedVM): Promise<Refusal | undefined> {
  if (!replacesSeed(vm)) return undefined;
  const seedId = vm.spec.seedVirtualMachineId as string;
  const state = (await getVirtualMachine(deps.az.forResource(seedId), seedId)) ? await powerState(deps.az.forResource(seedId), seedId) : 'deallocated';
  if (state === 'stopped' || state === 'deallocated') return undefined;
  return { reason: 'ReplacedVirtualMachineRunning', message: `VM ${parseArmId(seedId).name} (the original VM, seed of this replication) is ${state ?? 'in an unknown state'}: the failed-back VM takes its name and NICs; deallocate it first` };
}
