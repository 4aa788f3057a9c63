/** RPO and health of a replicated VM, from the newest sealed point and the policy's thresholds. */
import type { PolicyTimes } from '../api/policy-times.ts';

export type Health = 'Normal' | 'Warning' | 'Critical';

/**
 * Health: Critical when replication is broken or the RPO is above the critical threshold, Warning above
 * the warning threshold, else Normal. Before the first point (initial sync) there is no RPO yet: health
 * is Normal unless replication is failing.
 */
export function healthOf(rpoMs: number | undefined, broken: boolean, times: Pick<PolicyTimes, 'warningMs' | 'criticalMs'>): Health {
  if (broken) return 'Critical';
  if (rpoMs === undefined) return 'Normal';
  if (rpoMs > times.criticalMs) return 'Critical';
  if (rpoMs > times.warningMs) return 'Warning';
  return 'Normal';
}
