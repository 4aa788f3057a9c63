/**
 * Load balancer backend pools across regions (spec.loadBalancerMappings of a ReplicatedVM): a source IP
 * configuration in pool `<source load balancer>/backendAddressPools/<pool>` joins, at a Planned or Unplanned
 * failover, the pool of the same name of the target load balancer the mapping names; and application
 * security groups (spec.applicationSecurityGroupMappings), group for group. Pure: enabling replication
 * refuses an unmapped pool or group with it, and the failover's CreateNetworkInterfaces step uses it.
 */
import type { ApplicationSecurityGroupMapping, LoadBalancerMapping } from '../api/types.ts';
import { sameArmId } from '../azure/arm-id.ts';

/** The load balancer id of a backend pool id. */
export function loadBalancerOfPool(poolId: string): string {
  return poolId.replace(/\/backendAddressPools\/[^/]+$/i, '');
}

export function poolName(poolId: string): string {
  return poolId.split('/').pop() ?? poolId;
}

/** The target pool of source pool `poolId`, or the source load balancer no mapping names. */
export function targetPool(mappings: readonly LoadBalancerMapping[] | undefined, poolId: string): { poolId: string } | { unmapped: string } {
  const source = loadBalancerOfPool(poolId);
  const mapping = mappings?.find((m) => sameArmId(m.sourceLoadBalancerId, source));
  return mapping ? { poolId: `${mapping.targetLoadBalancerId}/backendAddressPools/${poolName(poolId)}` } : { unmapped: source };
}

/** The refusal of a source pool no mapping covers, naming the NIC and IP configuration. */
export function unmappedPoolMessage(nicName: string, configName: string, poolId: string): string {
  return `IP configuration ${configName} of network interface ${nicName} is in backend pool ${poolName(poolId)} of load balancer ${loadBalancerOfPool(poolId)}, which spec.loadBalancerMappings does not map to a target load balancer`;
}

export const LOAD_BALANCER_NOT_MAPPED = 'LoadBalancerNotMapped';
export const LOAD_BALANCER_NOT_USABLE = 'LoadBalancerNotUsable';

export { APPLICATION_SECURITY_GROUP_NOT_MAPPED } from '../azure/resources/network-security-group.ts';
export const APPLICATION_SECURITY_GROUP_NOT_USABLE = 'ApplicationSecurityGroupNotUsable';

/** The target group of source application security group `groupId` (undefined when no mapping names it). */
export function targetApplicationSecurityGroup(mappings: readonly ApplicationSecurityGroupMapping[] | undefined, groupId: string): string | undefined {
  return mappings?.find((m) => sameArmId(m.sourceApplicationSecurityGroupId, groupId))?.targetApplicationSecurityGroupId;
}

export function unmappedGroupMessage(nicName: string, configName: string, groupId: string): string {
  return `IP configuration ${configName} of network interface ${nicName} is in application security group ${groupId}, which spec.applicationSecurityGroupMappings does not map to a target group`;
}
