/**
 * The CapacityAtRisk condition of a protected VM: could a failover get its size in the target region and
 * zone now (offered, and within the vCPU quotas; src/azure/capacity.ts)? Asked at the drift-check cadence,
 * not at every reconcile: the answer is kept in memory per VM and asked again only when the interval has
 * passed or what it depends on (region, zone, sizes) changed, so the quiet steady state stays quiet (a
 * restarted operator asks once more; capacity-cache.ts). A check that fails (Azure did not answer) keeps the
 * last verdict; with none yet, the condition is Unknown with the failure's reason (AuthorizationFailed
 * naming the missing action, when the identity may not read SKUs or usages).
 */
import type { ReplicatedVM } from '../../api/types.ts';
import { judgeCapacity, readRegionCapacity } from '../../azure/capacity.ts';
import { reconcileErrorFor } from '../../azure/errors.ts';
import type { ConditionInput } from '../../runtime/conditions.ts';
import type { VmPass } from './pass.ts';

export const CAPACITY_AT_RISK = 'CapacityAtRisk';

/** The sizes a failover tries, in order (as the failover's vm-shape.ts takes them). */
function failoverSizes(vm: ReplicatedVM, sourceVmSize: string | undefined): string[] {
  const first = vm.spec.targetVmSize ?? sourceVmSize;
  return [...new Set([...(first ? [first] : []), ...(vm.spec.targetVmSizeFallbacks ?? [])])];
}

/** The CapacityAtRisk condition for this pass (undefined: no verdict yet); a Warning event when it turns True. */
export async function capacityCondition(pass: VmPass, sourceVmSize: string | undefined, targetZone: string | undefined): Promise<ConditionInput | undefined> {
  const { vm, deps } = pass;
  const sizes = failoverSizes(vm, sourceVmSize);
  const checks = deps.capacityChecks;
  if (!sizes.length || !checks) return undefined;
  const request = { location: vm.spec.targetLocation, zone: targetZone, sizes };
  let failure: ConditionInput | undefined;
  const ask = async () => {
    try {
      // Offers and quotas are the target subscription's (spec.targetSubscriptionId): the region is cached per subscription.
      const az = pass.targetAz;
      const key = az === deps.az ? request.location : `${az.subscriptionId}/${request.location}`;
      const region = await checks.region(key, () => readRegionCapacity(az, request.location, pass.ctx.signal));
      return judgeCapacity(region, request);
    } catch (error) {
      pass.ctx.log.warn('capacity check failed; the last verdict stands', { vm: pass.owner, error: error instanceof Error ? error.message : String(error) });
      const { reason, message } = reconcileErrorFor(error, `checking capacity in ${request.location}`);
      failure = { type: CAPACITY_AT_RISK, status: 'Unknown', reason, message };
      throw error;
    }
  };
  const verdict = await checks.verdict(pass.owner, JSON.stringify(request), ask);
  if (!verdict) return failure;
  const wasAtRisk = vm.status?.conditions?.some((c) => c.type === CAPACITY_AT_RISK && c.status === 'True' && c.reason === verdict.reason);
  if (verdict.atRisk && !wasAtRisk) pass.ctx.events.record(vm, 'Warning', CAPACITY_AT_RISK, verdict.message);
  return { type: CAPACITY_AT_RISK, status: verdict.atRisk ? 'True' : 'False', reason: verdict.reason, message: verdict.message };
}
