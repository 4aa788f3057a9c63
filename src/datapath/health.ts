/** RPO and health of a replicated VM, from the newest sealed point and the policy's thresholds. */
import type { ReplicationPolicySpec } from '../api/types.ts';
import { parseDuration } from '../util/duration.ts';

export type Health = 'Normal' | 'Warning' | 'Critical';

export interface PolicyTimes {
  intervalMs: number;
  retentionMs: number;
  appConsistentIntervalMs: number | undefined;
  warningMs: number;
  criticalMs: number;
}

/** The policy's durations with the API's defaults (5m, 24h, off, 15m, 60m). */
export function policyTimes(spec: ReplicationPolicySpec | undefined): PolicyTimes {
  const parse = (value: string | undefined, fallback: string) => parseDuration(value ?? fallback);
  return {
    intervalMs: parse(spec?.recoveryPointInterval, '5m'),
    retentionMs: parse(spec?.retention, '24h'),
    appConsistentIntervalMs: spec?.appConsistentInterval ? parseDuration(spec.appConsistentInterval) : undefined,
    warningMs: parse(spec?.rpoWarningThreshold, '15m'),
    criticalMs: parse(spec?.rpoCriticalThreshold, '60m'),
  };
}

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
