/**
 * The names and ids a failover derives, so that every create is deterministic (a create re-sent after a
 * crash is the same PUT and never makes a second resource), and the two pure rules of re-protect and
 * failback: the name of the reverse ReplicatedVM, and whether a failover takes the place of its seed.
 */
import type { FailoverRequest, ReplicatedVM } from '../../api/types.ts';
import { parseArmId, resourceGroupNameOf, shortHash } from '../../azure/arm-id.ts';

/**
 * Names of what a request creates: a real failover keeps the VM's name (its disks get a per-request
 * suffix, so a failback next to the disks of an earlier failover never collides); a test gets a suffix.
 */
export function failoverNames(fo: FailoverRequest, sourceVmName: string) {
  const hash = shortHash(5, fo.metadata.uid ?? fo.metadata.name ?? '');
  const test = fo.spec.type === 'Test';
  return {
    vm: test ? `${sourceVmName}-test-${hash}` : sourceVmName,
    disk: (diskName: string) => `${sourceVmName}-${diskName}-${test ? 'test' : 'asr'}-${hash}`,
    nic: (nicName: string) => `${nicName}${test ? `-test-${hash}` : '-asr'}`,
    publicIp: (nicName: string, configName: string) => `${nicName}-${configName}-pip${test ? `-test-${hash}` : '-asr'}`,
  };
}

/** Where a failover of `vm` puts what it creates: the target resource group, availability set or zone. */
export function targetPlacement(vm: ReplicatedVM) {
  const resourceGroupId = vm.status?.targetResourceGroupId as string;
  return {
    resourceGroupId,
    resourceGroup: resourceGroupNameOf(resourceGroupId),
    availabilitySetId: vm.status?.targetAvailabilitySetId,
    zone: vm.status?.targetZone,
  };
}

/** The ARM ids of what request `fo` creates for `vm` (from `failoverNames`, in the target resource group). */
export function failoverIds(fo: FailoverRequest, vm: ReplicatedVM) {
  const group = targetPlacement(vm).resourceGroupId;
  const names = failoverNames(fo, parseArmId(vm.spec.sourceVirtualMachineId).name);
  return {
    vmName: names.vm,
    vm: `${group}/providers/Microsoft.Compute/virtualMachines/${names.vm}`,
    disk: (diskName: string) => `${group}/providers/Microsoft.Compute/disks/${names.disk(diskName)}`,
    nic: (nicName: string) => `${group}/providers/Microsoft.Network/networkInterfaces/${names.nic(nicName)}`,
    publicIp: (nicName: string, configName: string) => `${group}/providers/Microsoft.Network/publicIPAddresses/${names.publicIp(nicName, configName)}`,
  };
}

/** The tag value that marks a resource as created by request `fo`. */
export function ownerOf(fo: FailoverRequest): string {
  return `${fo.metadata.namespace}/${fo.metadata.name}`;
}

/**
 * Whether a real failover of `vm` takes the place of its seed: a failback after re-protect, where the
 * original VM (stopped, the seed of the reverse replication) has the name and resource group the failed
 * back VM gets.
 */
export function replacesSeed(vm: ReplicatedVM): boolean {
  const seedId = vm.spec.seedVirtualMachineId;
  const group = vm.status?.targetResourceGroupId;
  if (!seedId || !group) return false;
  const seed = parseArmId(seedId);
  return seed.name.toLowerCase() === parseArmId(vm.spec.sourceVirtualMachineId).name.toLowerCase() && seed.resourceGroup.toLowerCase() === resourceGroupNameOf(group).toLowerCase();
}

/**
 * The name of the ReplicatedVM that protects a VM back: `<name>-reverse`, or after a failback (re-protecting
 * `<name>-reverse`) the original `<name>` when it is free again. Undefined when every candidate is taken.
 */
export function reverseName(name: string, taken: (candidate: string) => boolean): string | undefined {
  const candidates = name.endsWith('-reverse') ? [name.slice(0, -'-reverse'.length), `${name}-reverse`] : [`${name}-reverse`];
  return candidates.map((c) => c.slice(0, 253)).find((c) => c && !taken(c));
}

/** NICs (or NIC references) with the primary one first: the order a VM takes them in. */
export function primaryFirst<T extends { primary?: boolean }>(nics: readonly T[]): T[] {
  return nics.slice().sort((a, b) => Number(Boolean(b.primary)) - Number(Boolean(a.primary)));
}
