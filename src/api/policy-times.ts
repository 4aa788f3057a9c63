/** A ReplicationPolicy's durations, with the API's defaults: what the operator, the datapath and the metrics read from a policy. */
import type { ReplicationPolicySpec } from './types.ts';
import { parseDuration } from '../util/duration.ts';

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
