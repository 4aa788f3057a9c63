/**
 * The churn rule (ReplicationPolicy spec.churnAnomaly): is a cycle's change volume so far above the VM's
 * usual that it looks like ransomware rewriting the disks? Replication copies encryption faithfully, so
 * the points sealed from then on are suspect, and a failover wants the newest point before them.
 *
 * The rule, per disk of the cycle (a full copy — initial sync, resync, seed — is neither judged nor learnt):
 *
 *   baseline  = median of the disk's changed bytes over its last `baselineCycles` normal incremental cycles
 *   anomalous = at least 3 such cycles are known  and  bytes > max(factor × baseline, minBytes)
 *
 * A cycle is anomalous when one of its disks is. The median, not the mean: one earlier burst (a backup,
 * an index rebuild) does not lift the baseline and hide the next one. `minBytes` keeps a quiet disk (median
 * near zero) from being flagged for a few megabytes; `factor` sets how far above normal counts. An
 * anomalous cycle is not learnt (an attack must not become the new normal); a normal one is appended and
 * the window trimmed to `baselineCycles`. The worker (worker-churn.ts) freezes the baseline while an
 * anomaly is in force and empties it when a person clears the anomaly.
 *
 * Pure functions only: the unit tests drive them with properties (test/unit/churn-baseline.test.ts).
 */
import type { ReplicationPolicySpec } from '../api/types.ts';

/** Cycles a disk's window must hold before its cycles are judged. */
export const WARMUP_CYCLES = 3;

export interface ChurnRule {
  enabled: boolean;
  factor: number;
  minBytes: number;
  baselineCycles: number;
}

/** Changed bytes per disk, newest last: the normal incremental cycles learnt so far. */
export type ChurnSamples = Record<string, number[]>;

/** One disk's part of a cycle, as the journal records it. */
export interface DiskChurn {
  name: string;
  bytes: number;
  /** A full copy (initial sync, resync) or the differences from a seed: not an incremental cycle. */
  full: boolean;
}

/** An anomaly in force (worker-churn.ts keeps it in the journal). */
export interface ChurnAnomaly {
  /** The first anomalous cycle, its capture time, and why. */
  cycle: number;
  since: string;
  reason: string;
  firstSuspectPoint: string;
  /** The newest point sealed before it: what LatestClean picks, kept past the retention. */
  lastCleanPoint?: string;
}

/** The journal's churn state: the baseline, the anomaly in force, the last clear honoured. */
export interface ChurnState {
  samples: ChurnSamples;
  anomaly?: ChurnAnomaly;
  /** The clear annotation's value last honoured (a value seen once clears once). */
  cleared?: string;
}

export type ChurnVerdict =
  | { anomalous: false; samples: ChurnSamples }
  | { anomalous: true; disk: string; bytes: number; baseline: number; threshold: number };

const UNITS: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };

/** Bytes of a size such as `64Mi`, `1Gi` or `4096` (the schema's pattern: digits, then Ki, Mi, Gi or Ti). */
export function parseBinaryBytes(text: string): number {
  const match = /^(\d{1,12})(Ki|Mi|Gi|Ti)?$/.exec(text);
  if (!match) throw new Error(`not a size in bytes: ${JSON.stringify(text)} (e.g. 64Mi)`);
  return Number(match[1]) * (UNITS[match[2] ?? ''] ?? 1);
}

/** The policy's rule with the API's defaults (on; factor 10, minBytes 64Mi, 30 cycles). */
export function churnRuleOf(spec: ReplicationPolicySpec | undefined): ChurnRule {
  const given = spec?.churnAnomaly;
  return {
    enabled: given?.enabled ?? true,
    factor: given?.factor ?? 10,
    minBytes: parseBinaryBytes(given?.minBytes ?? '64Mi'),
    baselineCycles: given?.baselineCycles ?? 30,
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length === 0) return 0;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Judges one cycle against the samples; a normal cycle returns the samples with it learnt. */
export function judgeCycle(rule: ChurnRule, samples: Readonly<ChurnSamples>, disks: readonly DiskChurn[]): ChurnVerdict {
  if (!rule.enabled) return { anomalous: false, samples: { ...samples } };
  let worst: Extract<ChurnVerdict, { anomalous: true }> | undefined;
  for (const disk of disks) {
    const window = samples[disk.name] ?? [];
    if (disk.full || window.length < WARMUP_CYCLES) continue;
    const baseline = median(window);
    const threshold = Math.max(rule.factor * baseline, rule.minBytes);
    if (disk.bytes <= threshold) continue;
    if (!worst || disk.bytes / Math.max(1, baseline) > worst.bytes / Math.max(1, worst.baseline)) worst = { anomalous: true, disk: disk.name, bytes: disk.bytes, baseline, threshold };
  }
  if (worst) return worst;
  return { anomalous: false, samples: learn(rule, samples, disks) };
}

/** The samples with a normal cycle appended (full copies skipped), each window trimmed; disks gone are forgotten. */
function learn(rule: ChurnRule, samples: Readonly<ChurnSamples>, disks: readonly DiskChurn[]): ChurnSamples {
  const next: ChurnSamples = {};
  for (const disk of disks) {
    const window = samples[disk.name] ?? [];
    next[disk.name] = disk.full ? [...window] : [...window, disk.bytes].slice(-rule.baselineCycles);
  }
  return next;
}

/** What a person reads in status and events about an anomalous cycle. */
export function anomalyReason(cycle: number, verdict: Extract<ChurnVerdict, { anomalous: true }>, rule: ChurnRule): string {
  const mib = (n: number) => `${(n / 1024 ** 2).toFixed(1)} MiB`;
  const times = verdict.baseline > 0 ? `${(verdict.bytes / verdict.baseline).toFixed(1)}x its baseline of ${mib(verdict.baseline)}` : 'its baseline being 0 B';
  return `cycle ${cycle}: disk ${verdict.disk} changed ${mib(verdict.bytes)}, ${times} (threshold ${mib(verdict.threshold)}: factor ${rule.factor}, minBytes ${mib(rule.minBytes)}, median of up to ${rule.baselineCycles} cycles)`;
}
