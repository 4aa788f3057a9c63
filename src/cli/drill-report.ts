/**
 * The report of a DR drill (`site-recovery drill`, `--json` prints it as is): what scripts read. One file so
 * that the drill's steps (drill-run.ts, drill-verify.ts) and its printer (drill-command.ts) share it.
 */
import type { VerifyMethod } from '../azure/verify/disk-verifier.ts';

export type DrillType = 'Test' | 'Planned';

export interface DrillDiskResult {
  /** os, lun0, ... */
  name: string;
  pass: boolean;
  sizeBytes: number;
  method: VerifyMethod;
  /** Bytes shown equal (the disk's size when it passed). */
  bytesVerified: number;
  /** Bytes of either side read through this process (Checksums: 0). */
  bytesRead: number;
  /** Checksums: allocated bytes storage checksummed on both sides. */
  bytesCompared?: number;
  seconds?: number;
  /** Where the disks first differ (Checksums: the first differing 512-byte page). */
  firstDifferingOffset?: number;
  /** Full: sha256 of the failed-over disk. */
  sha256?: string;
  targetDiskId?: string;
  /** What the failed-over disk must equal (Full: with its sha256). */
  expected: { kind: 'RecoveryPointSnapshot' | 'SourceDisk'; ref: string; sha256?: string };
  error?: string;
}

export interface DrillReport {
  vm: string;
  namespace: string;
  type: DrillType;
  verify: VerifyMethod;
  pass: boolean;
  failoverRequest?: string;
  /** Final phase of the FailoverRequest (Succeeded, Failed). */
  phase?: string;
  reason?: string;
  message?: string;
  requestTime?: string;
  recoveryPoint?: { name: string; time: string; consistency?: string };
  /** Data a real failover at the request time would have lost: request time − point capture time. */
  rpoSeconds?: number;
  /** Request → target VM running (from the FailoverRequest). */
  rtoSeconds?: number;
  targetVirtualMachineId?: string;
  disks: DrillDiskResult[];
  bytesVerified: number;
  /** Disk bytes that crossed the network to this process while verifying. */
  bytesRead: number;
  verifySeconds?: number;
  cleanup: { state: 'Done' | 'Failed' | 'Skipped'; seconds?: number; resourcesRemoved?: number; message?: string };
  error?: string;
  durationSeconds: number;
}

/** The report with its fields in reading order (JSON keeps insertion order), undefined fields dropped. */
export function ordered(r: DrillReport): DrillReport {
  const { vm, namespace, type, verify, pass, failoverRequest, phase, reason, message, requestTime, recoveryPoint, rpoSeconds, rtoSeconds, targetVirtualMachineId, bytesVerified, bytesRead, verifySeconds, disks, cleanup, error, durationSeconds } = r;
  const disk = (d: DrillDiskResult) => ({
    name: d.name,
    pass: d.pass,
    sizeBytes: d.sizeBytes,
    method: d.method,
    bytesVerified: d.bytesVerified,
    bytesRead: d.bytesRead,
    bytesCompared: d.bytesCompared,
    seconds: d.seconds,
    firstDifferingOffset: d.firstDifferingOffset,
    sha256: d.sha256,
    expected: d.expected,
    targetDiskId: d.targetDiskId,
    error: d.error,
  });
  const out = { vm, namespace, type, verify, pass, failoverRequest, phase, reason, message, requestTime, recoveryPoint, rpoSeconds, rtoSeconds, targetVirtualMachineId, bytesVerified, bytesRead, verifySeconds, disks: disks.map(disk), cleanup, error, durationSeconds };
  return JSON.parse(JSON.stringify(out)) as DrillReport;
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
