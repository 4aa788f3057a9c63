/**
 * The Azure resources enabling replication creates (or adopts) for one VM, in the order they are needed:
 * the target resource group, the cache storage account (source region), the target storage account
 * (target region), the target availability set matching the source's (unless a zone is chosen), the
 * mirrors of the NICs' network security groups (network-security-groups.ts), the restore point collection the datapath captures into, and the VM's containers in both accounts. Names
 * are derived deterministically, so a retried create is the same PUT.
 *
 * With spec.targetSubscriptionId another subscription than the operator's, the target resource group, the
 * availability set and the NSG mirrors are created there (what the failed-over VM joins shares its
 * subscription), and a group of the same name in the operator's subscription (ROLE.replicaGroup) holds the
 * storage accounts and the restore point collection (a VM's restore points are in its own subscription);
 * failover imports its disks from there across subscriptions (managed-disk.ts, creationData.storageAccountId).
 * A source VM in another subscription (re-protect of such a failover: it replicates back into the operator's)
 * has its restore point collection in its own resource group there; the storage stays in the operator's.
 */
import type { ReplicatedVM } from '../../api/types.ts';
import { RESOURCE_ROLE as ROLE } from '../../api/contract.ts';
import type { AzureClients } from '../../azure/clients.ts';
import { parseArmId, shortHash, storageAccountName } from '../../azure/arm-id.ts';
import { convergeResource, type ExternalResource } from '../../azure/external-resource.ts';
import { availabilitySetResource } from '../../azure/resources/availability-set.ts';
import { blobContainerResource } from '../../azure/resources/blob-container.ts';
import { networkSecurityGroupResource } from '../../azure/resources/network-security-group.ts';
import { getOrUndefined } from '../../azure/resources/observe.ts';
import { resourceGroupResource } from '../../azure/resources/resource-group.ts';
import { restorePointCollectionResource } from '../../azure/resources/restore-point-collection.ts';
import { storageAccountResource } from '../../azure/resources/storage-account.ts';
import type { SourceVm } from '../../azure/source-vm.ts';
import type { ReconcileResult } from '../../runtime/controller.ts';
import { done, type Step } from '../../runtime/step.ts';
import { networkSecurityGroupMirrorStep, NSG_MIRROR_ROLE } from './network-security-groups.ts';
import type { VmPass } from './pass.ts';

/** Roles whose resources other ReplicatedVMs may share (deleted only when none uses them any more). */
export const SHARED_ROLES = new Set<string>([ROLE.group, ROLE.replicaGroup, ROLE.cache, ROLE.target, ROLE.availabilitySet]);

/** The names the operator derives for one ReplicatedVM; deterministic, so a retried create is the same PUT. */
export function targetNames(vm: ReplicatedVM, source: { resourceGroup: string; location: string; name: string }, subscriptionId: string) {
  const targetResourceGroup = vm.spec.targetResourceGroup ?? `${source.resourceGroup}-asr`;
  const container = `rvm-${shortHash(20, vm.metadata.namespace ?? '', vm.metadata.name ?? '', vm.spec.sourceVirtualMachineId)}`;
  return {
    targetResourceGroup,
    cacheAccount: storageAccountName('asrcache', subscriptionId, source.location, targetResourceGroup),
    targetAccount: storageAccountName('asrtgt', subscriptionId, vm.spec.targetLocation, targetResourceGroup),
    restorePointCollection: `${source.name}-asr-rpc-${shortHash(6, vm.metadata.namespace ?? '', vm.metadata.name ?? '')}`,
    container,
  };
}

/** The steps converging each target resource, in order; `persist` records a pending mark durably. */
export function targetResourceSteps(pass: VmPass, source: SourceVm, persist: () => Promise<void>): Array<() => Promise<Step<unknown>>> {
  const { az } = pass.deps;
  const steps = resourceSteps(pass, source, persist);
  return [
    steps.group,
    steps.replicaGroup,
    () => steps.storage(ROLE.cache, pass.vm.spec.cacheStorageAccountId, steps.names.cacheAccount, source.location),
    steps.target,
    () => availabilitySetStep(pass, source, steps.names.targetResourceGroup, persist),
    () => networkSecurityGroupMirrorStep(pass, source, steps.names.targetResourceGroup, persist),
    () => {
      const at = restorePointCollectionPlace(az, source, steps.names.targetResourceGroup);
      return convergeResource(restorePointCollectionResource(at.az, ROLE.restorePoints, { resourceGroup: at.resourceGroup, name: steps.names.restorePointCollection, location: source.location, sourceVirtualMachineId: source.id, owner: pass.owner }), pass.ledger, persist);
    },
    () => steps.container(ROLE.cacheContainer, ROLE.cache),
    steps.replicaContainer,
  ];
}

/**
 * Where the restore point collection lives: beside the replica storage (the target group's name in the
 * operator's subscription) when the source VM is in the operator's subscription; else (a VM failed over into
 * another subscription, re-protected back) in the source VM's own resource group, as a VM's restore points are
 * in its own subscription. The datapath addresses it by its id (restore-points.ts).
 */
function restorePointCollectionPlace(az: AzureClients, source: SourceVm, targetResourceGroup: string): { az: AzureClients; resourceGroup: string } {
  const sourceAz = az.forResource(source.id);
  return sourceAz === az ? { az, resourceGroup: targetResourceGroup } : { az: sourceAz, resourceGroup: parseArmId(source.id).resourceGroup };
}

/**
 * Only the steps whose resources live in the target region and need nothing of the source VM (its
 * resource group and name come from the spec's id): the target resource group, the target storage
 * account and the replica container. What a cluster can converge while the source region is down.
 */
export function targetRegionSteps(pass: VmPass, persist: () => Promise<void>): Array<() => Promise<Step<unknown>>> {
  const id = parseArmId(pass.vm.spec.sourceVirtualMachineId);
  const steps = resourceSteps(pass, { resourceGroup: id.resourceGroup, name: id.name, location: pass.vm.status?.sourceLocation ?? '' }, persist);
  return [steps.group, steps.replicaGroup, steps.target, steps.replicaContainer];
}

function resourceSteps(pass: VmPass, source: { resourceGroup: string; location: string; name: string }, persist: () => Promise<void>) {
  const { az } = pass.deps;
  const { spec } = pass.vm;
  const { ledger, owner } = pass;
  const names = targetNames(pass.vm, source, az.subscriptionId);
  const group = names.targetResourceGroup;
  // Resources other VMs share: a recent look by another VM's pass that found nothing to do is enough.
  const shared = <T>(resource: ExternalResource<T>) => pass.deps.sharedObservations?.cached(pass.namespace, resource) ?? resource;
  const storage = (role: string, adoptId: string | undefined, name: string, location: string) => {
    const id = adoptId ? parseArmId(adoptId) : { resourceGroup: group, name };
    return convergeResource(shared(storageAccountResource(az, role, { resourceGroup: id.resourceGroup, name: id.name, location, owner }, !adoptId)), ledger, persist);
  };
  const container = (role: string, accountRole: string) => {
    const account = parseArmId(ledger.get(accountRole)?.id as string);
    return convergeResource(blobContainerResource(az, role, account.resourceGroup, account.name, names.container), ledger, persist);
  };
  return {
    names,
    storage,
    container,
    group: () => convergeResource(shared(resourceGroupResource(pass.targetAz, ROLE.group, group, spec.targetLocation, owner)), ledger, persist),
    // The replica storage's group, in the operator's subscription, when the target group is in another.
    replicaGroup: async (): Promise<Step<unknown>> => (pass.targetAz === az ? done() : convergeResource(shared(resourceGroupResource(az, ROLE.replicaGroup, group, spec.targetLocation, owner)), ledger, persist)),
    target: () => storage(ROLE.target, spec.targetStorageAccountId, names.targetAccount, spec.targetLocation),
    replicaContainer: () => container(ROLE.replicaContainer, ROLE.target),
  };
}

/** Runs `steps` in order; the first that has not finished ends the pass (stalled, or waiting to look again). */
export async function convergeSteps(pass: VmPass, steps: Array<() => Promise<Step<unknown>>>): Promise<ReconcileResult | undefined> {
  for (const step of steps) {
    const result = await step();
    if (result.state === 'stalled') return pass.stall(result);
    // A protected VM stays Protected while a drift check updates a target resource (an NSG mirror's rules).
    if (result.state === 'waiting') return pass.pause(result, { phase: pass.vm.status?.phase === 'Protected' ? 'Protected' : 'EnablingReplication' });
  }
  return undefined;
}

/** The set named in the spec (adopted), else a mirror of the source VM's set, else none (zones). */
async function availabilitySetStep(pass: VmPass, source: SourceVm, resourceGroup: string, persist: () => Promise<void>): Promise<Step<unknown>> {
  const { az } = pass.deps;
  const { spec } = pass.vm;
  const { ledger, owner } = pass;
  if (spec.targetZone) return done();
  if (spec.targetAvailabilitySetId) {
    const id = parseArmId(spec.targetAvailabilitySetId);
    return convergeResource(availabilitySetResource(az.forResource(spec.targetAvailabilitySetId), ROLE.availabilitySet, { resourceGroup: id.resourceGroup, name: id.name, location: spec.targetLocation, owner, faultDomains: 2, updateDomains: 5 }, false), ledger, persist);
  }
  if (!source.availabilitySetId) return done();
  const sourceSetId = parseArmId(source.availabilitySetId);
  const sourceSet = await getOrUndefined(() => az.compute.availabilitySets.get(sourceSetId.resourceGroup, sourceSetId.name));
  const mirror = {
    resourceGroup,
    name: `${sourceSetId.name}-asr`,
    location: spec.targetLocation,
    owner,
    faultDomains: sourceSet?.platformFaultDomainCount ?? 2,
    updateDomains: sourceSet?.platformUpdateDomainCount ?? 5,
  };
  return convergeResource(availabilitySetResource(pass.targetAz, ROLE.availabilitySet, mirror), ledger, persist);
}

/** A handle able to observe and delete the resource recorded under `role` (for disabling replication), in its id's subscription. */
export function recordedResource(operatorAz: AzureClients, role: string, id: string): ExternalResource<unknown> {
  const az = operatorAz.forResource(id);
  const parsed = parseArmId(id);
  const base = { resourceGroup: parsed.resourceGroup, location: '', owner: '' };
  switch (role) {
    case ROLE.cache:
    case ROLE.target:
      return storageAccountResource(az, role, { ...base, name: parsed.name });
    case ROLE.availabilitySet:
      return availabilitySetResource(az, role, { ...base, name: parsed.name, faultDomains: 0, updateDomains: 0 });
    case ROLE.restorePoints:
      return restorePointCollectionResource(az, role, { ...base, name: parsed.name, sourceVirtualMachineId: '' });
    default:
      if (role.startsWith(NSG_MIRROR_ROLE)) return networkSecurityGroupResource(az, role, { ...base, name: parsed.name, rules: [] });
      return blobContainerResource(az, role, parsed.resourceGroup, parsed.names[0] as string, parsed.name);
  }
}
