/**
 * The Azure ids a ReplicatedVM's spec names besides its first five (placement groups, and inside lists: per-NIC
 * overrides, load balancer, application security group and disk encryption set mappings), by field
 * path, for the subscription check of enabling replication (arm-id.ts, foreignSubscriptionRefusal): an id in
 * another subscription would otherwise be read as the same name in the operator's own.
 */
import type { ReplicatedVM } from '../../api/types.ts';

export function moreAzureIds(vm: ReplicatedVM): Record<string, string | undefined> {
  const { targetProximityPlacementGroupId, targetCapacityReservationGroupId } = vm.spec;
  const ids: Record<string, string | undefined> = { targetProximityPlacementGroupId, targetCapacityReservationGroupId };
  for (const o of vm.spec.networkInterfaces ?? []) {
    ids[`networkInterfaces[${o.sourceName}].targetNetworkSecurityGroupId`] = o.targetNetworkSecurityGroupId;
    ids[`networkInterfaces[${o.sourceName}].targetPublicIpAddressId`] = o.targetPublicIpAddressId;
  }
  for (const [i, m] of (vm.spec.loadBalancerMappings ?? []).entries()) {
    ids[`loadBalancerMappings[${i}].sourceLoadBalancerId`] = m.sourceLoadBalancerId;
    ids[`loadBalancerMappings[${i}].targetLoadBalancerId`] = m.targetLoadBalancerId;
  }
  for (const [i, m] of (vm.spec.applicationSecurityGroupMappings ?? []).entries()) {
    ids[`applicationSecurityGroupMappings[${i}].sourceApplicationSecurityGroupId`] = m.sourceApplicationSecurityGroupId;
    ids[`applicationSecurityGroupMappings[${i}].targetApplicationSecurityGroupId`] = m.targetApplicationSecurityGroupId;
  }
  for (const [i, m] of (vm.spec.diskEncryptionSetMappings ?? []).entries()) {
    ids[`diskEncryptionSetMappings[${i}].sourceDiskEncryptionSetId`] = m.sourceDiskEncryptionSetId;
    ids[`diskEncryptionSetMappings[${i}].targetDiskEncryptionSetId`] = m.targetDiskEncryptionSetId;
  }
  return ids;
}
