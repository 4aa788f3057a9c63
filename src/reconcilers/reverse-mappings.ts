/**
 * The mappings a re-protect needs, derived from the forward ones: the failed-over VM's IP configurations
 * are in the target load balancers' pools and the target application security groups, and its disks are
 * encrypted with the target disk encryption sets, so the ReplicatedVM back names each forward mapping
 * turned around (target → source). Without them the reverse ReplicatedVM would stall (LoadBalancerNotMapped,
 * ApplicationSecurityGroupNotMapped, DiskEncryptionSetNotMapped) until someone wrote them by hand.
 *
 * A target that several forward mappings share (two source load balancers onto one target) has no single
 * way back: it is left out, and the reverse ReplicatedVM stalls naming it, for a person to choose. Pure.
 */
import type { ReplicatedVMSpec } from '../api/types.ts';
import { sameArmId } from '../azure/arm-id.ts';

type ReverseMappings = Pick<ReplicatedVMSpec, 'loadBalancerMappings' | 'applicationSecurityGroupMappings' | 'diskEncryptionSetMappings'>;

/** Each pair turned around, leaving out targets that more than one source maps to. */
function turnAround(pairs: readonly (readonly [string, string])[]): [string, string][] {
  const unique = pairs.filter(([, target]) => pairs.filter(([, t]) => sameArmId(t, target)).length === 1);
  return unique.map(([source, target]) => [target, source]);
}

/** The reverse ReplicatedVM's mappings (only the non-empty lists), from the forward ReplicatedVM's spec. */
export function reverseMappings(forward: ReplicatedVMSpec): ReverseMappings {
  const lb = turnAround((forward.loadBalancerMappings ?? []).map((m) => [m.sourceLoadBalancerId, m.targetLoadBalancerId] as const));
  const asg = turnAround((forward.applicationSecurityGroupMappings ?? []).map((m) => [m.sourceApplicationSecurityGroupId, m.targetApplicationSecurityGroupId] as const));
  const des = turnAround((forward.diskEncryptionSetMappings ?? []).map((m) => [m.sourceDiskEncryptionSetId, m.targetDiskEncryptionSetId] as const));
  return {
    ...(lb.length ? { loadBalancerMappings: lb.map(([s, t]) => ({ sourceLoadBalancerId: s, targetLoadBalancerId: t })) } : {}),
    ...(asg.length ? { applicationSecurityGroupMappings: asg.map(([s, t]) => ({ sourceApplicationSecurityGroupId: s, targetApplicationSecurityGroupId: t })) } : {}),
    ...(des.length ? { diskEncryptionSetMappings: des.map(([s, t]) => ({ sourceDiskEncryptionSetId: s, targetDiskEncryptionSetId: t })) } : {}),
  };
}
