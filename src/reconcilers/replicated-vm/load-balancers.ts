/**
 * Load balancers and application security groups at enable time: every backend pool a source IP configuration
 * is in must map to a pool of an existing target load balancer (spec.loadBalancerMappings,
 * load-balancer-mapping.ts) in the target region, and every application security group to an existing target
 * group there (spec.applicationSecurityGroupMappings), checked before anything is created (Stalled
 * LoadBalancerNotMapped / LoadBalancerNotUsable, ApplicationSecurityGroupNotMapped / ...NotUsable), so a
 * failover never finds out with the source region gone. Each target is read once per pass.
 */
import type { ApplicationSecurityGroup, LoadBalancer } from '@azure/arm-network';
import { parseArmId } from '../../azure/arm-id.ts';
import type { SourceVm } from '../../azure/source-vm.ts';
import { getOrUndefined } from '../../azure/resources/observe.ts';
import {
  APPLICATION_SECURITY_GROUP_NOT_MAPPED,
  APPLICATION_SECURITY_GROUP_NOT_USABLE,
  LOAD_BALANCER_NOT_MAPPED,
  LOAD_BALANCER_NOT_USABLE,
  loadBalancerOfPool,
  poolName,
  targetApplicationSecurityGroup,
  targetPool,
  unmappedGroupMessage,
  unmappedPoolMessage,
} from '../load-balancer-mapping.ts';
import type { VmPass } from './pass.ts';

const sameLocation = (a: string | undefined, b: string) => (a ?? '').replace(/\s/g, '').toLowerCase() === b.replace(/\s/g, '').toLowerCase();

/** Why the VM's backend pool memberships cannot be carried over, if they cannot. */
export async function loadBalancerRefusal(pass: VmPass, source: SourceVm): Promise<{ reason: string; message: string } | undefined> {
  const { vm, deps } = pass;
  const read = new Map<string, Promise<LoadBalancer | undefined>>();
  for (const nic of source.networkInterfaces) {
    for (const config of nic.ipConfigurations) {
      for (const sourcePool of config.loadBalancerBackendAddressPoolIds ?? []) {
        const target = targetPool(vm.spec.loadBalancerMappings, sourcePool);
        if ('unmapped' in target) return { reason: LOAD_BALANCER_NOT_MAPPED, message: unmappedPoolMessage(nic.name, config.name, sourcePool) };
        const lbId = loadBalancerOfPool(target.poolId);
        const key = lbId.toLowerCase();
        if (!read.has(key)) {
          const id = parseArmId(lbId);
          read.set(key, getOrUndefined(() => deps.az.forResource(lbId).network.loadBalancers.get(id.resourceGroup, id.name)));
        }
        const lb = await read.get(key);
        const why = !lb
          ? 'does not exist'
          : !sameLocation(lb.location, vm.spec.targetLocation)
            ? `is in ${lb.location}, not in the target region ${vm.spec.targetLocation}`
            : !(lb.backendAddressPools ?? []).some((p) => p.name?.toLowerCase() === poolName(target.poolId).toLowerCase())
              ? `has no backend pool ${poolName(target.poolId)}`
              : undefined;
        if (why) return { reason: LOAD_BALANCER_NOT_USABLE, message: `target load balancer ${lbId} (for ${nic.name}/${config.name}) ${why}` };
      }
    }
  }
  return undefined;
}

/** Why the VM's application security group memberships cannot be carried over, if they cannot. */
export async function applicationSecurityGroupRefusal(pass: VmPass, source: SourceVm): Promise<{ reason: string; message: string } | undefined> {
  const { vm, deps } = pass;
  const read = new Map<string, Promise<ApplicationSecurityGroup | undefined>>();
  for (const nic of source.networkInterfaces) {
    for (const config of nic.ipConfigurations) {
      for (const sourceGroup of config.applicationSecurityGroupIds ?? []) {
        const targetId = targetApplicationSecurityGroup(vm.spec.applicationSecurityGroupMappings, sourceGroup);
        if (!targetId) return { reason: APPLICATION_SECURITY_GROUP_NOT_MAPPED, message: unmappedGroupMessage(nic.name, config.name, sourceGroup) };
        const key = targetId.toLowerCase();
        if (!read.has(key)) {
          const id = parseArmId(targetId);
          read.set(key, getOrUndefined(() => deps.az.forResource(targetId).network.applicationSecurityGroups.get(id.resourceGroup, id.name)));
        }
        const group = await read.get(key);
        const why = !group ? 'does not exist' : !sameLocation(group.location, vm.spec.targetLocation) ? `is in ${group.location}, not in the target region ${vm.spec.targetLocation}` : undefined;
        if (why) return { reason: APPLICATION_SECURITY_GROUP_NOT_USABLE, message: `target application security group ${targetId} (for ${nic.name}/${config.name}) ${why}` };
      }
    }
  }
  return undefined;
}
