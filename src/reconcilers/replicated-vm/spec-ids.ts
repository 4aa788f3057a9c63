/**
 * The Azure ids a ReplicatedVM's spec names besides its first five (placement groups, and inside lists: per-NIC
 * overrides, load balancer, application security group and disk encryption set mappings), by field
 * path, for the subscription check of enabling replication (arm-id.ts, foreignSubscriptionRefusal): an id in
 * another subscription would otherwise be read as the same name in the operator's own.
 *
 * Split by side: what the failed-over VM uses (`targetSideAzureIds`) lives in the target subscription
 * (spec.targetSubscriptionId, default the source's: a VM, its NICs and what they join share a subscription);
 * what the source VM uses in the source's.
 */
import type { ReplicatedVM } from '../../api/types.ts';

type Ids = Record<string, string | undefined>;

/** Every id besides the first five, both sides (tenancy checks them all). */
export function moreAzureIds(vm: ReplicatedVM): Ids {
  return { ...sourceSideAzureIds(vm), ...targetSideAzureIds(vm) };
}

/** The ids the failed-over VM uses: in the target subscription. */
export function targetSideAzureIds(vm: ReplicatedVM): Ids {
  const { targetAvailabilitySetId, targetProximityPlacementGroupId, targetCapacityReservationGroupId } = vm.spec;
  const ids: Ids = { targetAvailabilitySetId, targetProximityPlacementGroupId, targetCapacityReservationGroupId };
  for (const o of vm.spec.networkInterfaces ?? []) {
    ids[`networkInterfaces[${o.sourceName}].targetNetworkSecurityGroupId`] = o.targetNetworkSecurityGroupId;
    ids[`networkInterfaces[${o.sourceName}].targetPublicIpAddressId`] = o.targetPublicIpAddressId;
  }
  for (const [i, m] of (vm.spec.loadBalancerMappings ?? []).entries()) ids[`loadBalancerMappings[${i}].targetLoadBalancerId`] = m.targetLoadBalancerId;
  for (const [i, m] of (vm.spec.applicationSecurityGroupMappings ?? []).entries()) {
    ids[`applicationSecurityGroupMappings[${i}].targetApplicationSecurityGroupId`] = m.targetApplicationSecurityGroupId;
  }
  for (const [i, m] of (vm.spec.diskEncryptionSetMappings ?? []).entries()) ids[`diskEncryptionSetMappings[${i}].targetDiskEncryptionSetId`] = m.targetDiskEncryptionSetId;
  return ids;
}

/** The source-side ids of the mapping lists (the first ones are named by enable-replication itself). */
export function sourceSideAzureIds(vm: ReplicatedVM): Ids {
  const ids: Ids = {};
  for (const [i, m] of (vm.spec.loadBalancerMappings ?? []).entries()) ids[`loadBalancerMappings[${i}].sourceLoadBalancerId`] = m.sourceLoadBalancerId;
  for (const [i, m] of (vm.spec.applicationSecurityGroupMappings ?? []).entries()) {
    ids[`applicationSecurityGroupMappings[${i}].sourceApplicationSecurityGroupId`] = m.sourceApplicationSecurityGroupId;
  }
  for (const [i, m] of (vm.spec.diskEncryptionSetMappings ?? []).entries()) ids[`diskEncryptionSetMappings[${i}].sourceDiskEncryptionSetId`] = m.sourceDiskEncryptionSetId;
  return ids;
}

/** The subscription the VM fails over into: spec.targetSubscriptionId, else the operator's (the source's). */
export function targetSubscriptionOf(vm: ReplicatedVM, operatorSubscriptionId: string): string {
  return vm.spec.targetSubscriptionId ?? operatorSubscriptionId;
}
