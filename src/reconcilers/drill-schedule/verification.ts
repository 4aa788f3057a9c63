/**
 * The Verifying step of a drill run: every disk of the recovery point, its failed-over disk checked by the
 * verification engine (src/azure/verify/disk-verifier.ts) against the point's replica snapshot. With
 * Checksums storage computes CRC-64s of both sides, so no disk byte reaches the operator; Full reads both
 * sides through it (sha256).
 *
 * A verification takes as long as the disks are large, so it runs in the background and a reconcile pass
 * only looks at it (the work queue's workers are never held). The run's state is in the DrillSchedule's
 * status, not here: after an operator restart the Verifying step finds no task for its run and starts the
 * verification again (it is read-only towards the recovery point and the test disks; its export snapshots
 * and scratch blobs are removed by the engine whatever happens). A run that times out aborts its task.
 */
import type { FailoverRequest, RecoveryPoint } from '../../api/types.ts';
import type { AzureClients } from '../../azure/clients.ts';
import { BackgroundTasks } from '../../runtime/background-tasks.ts';
import type { VerifyMethod } from '../../azure/verify/disk-verifier.ts';
import { verifyFailoverDisks, type DiskCheck } from '../../azure/verify/failover-disks.ts';

export interface VerificationResult {
  pass: boolean;
  verifiedBytes: number;
  /** Per disk: "os: 24.0 MiB by checksums" or why it failed. */
  message: string;
}

/** Background verifications by run key (namespace/schedule/run id), on src/runtime/background-tasks.ts. */
export class Verifications {
  private readonly tasks = new BackgroundTasks<VerificationResult>();
  private readonly az: AzureClients;

  constructor(az: AzureClients) {
    this.az = az;
  }

  /**
   * The result of the run's verification; undefined while it runs (started now if none was). Several
   * targets (a plan's members, each with its name) are verified one after another into one result.
   */
  poll(key: string, method: VerifyMethod, targets: readonly VerifyTarget[]): VerificationResult | undefined {
    const result = this.tasks.poll(key, (signal) => verifyAll(this.az, method, targets, signal));
    if (!result) return undefined;
    return result.ok ? result.value : { pass: false, verifiedBytes: 0, message: `verification failed: ${result.error instanceof Error ? result.error.message : String(result.error)}` };
  }

  /** Forgets the run's verification, aborting it if it still runs. */
  forget(key: string): void {
    this.tasks.forget(key);
  }
}

/** A test failover to verify and the point it used; `member` names it in the message (a plan's VM). */
export interface VerifyTarget {
  fo: FailoverRequest;
  point: RecoveryPoint;
  member?: string;
}

async function verifyAll(az: AzureClients, method: VerifyMethod, targets: readonly VerifyTarget[], signal: AbortSignal): Promise<VerificationResult> {
  const results: VerificationResult[] = [];
  for (const t of targets) {
    const r = await verifyTestFailover(az, method, t.fo, t.point, signal);
    results.push(t.member ? { ...r, message: `${t.member}: ${r.message}` } : r);
  }
  return { pass: results.every((r) => r.pass), verifiedBytes: results.reduce((n, r) => n + r.verifiedBytes, 0), message: results.map((r) => r.message).join('; ') };
}

/** Verifies each disk of `point` on the test VM of `fo` (src/azure/verify/failover-disks.ts); a disk that cannot be checked fails with the reason. */
export async function verifyTestFailover(az: AzureClients, method: VerifyMethod, fo: FailoverRequest, point: RecoveryPoint, signal: AbortSignal): Promise<VerificationResult> {
  const vmId = fo.status?.targetVirtualMachineId;
  if (!vmId) throw new Error('the failover reports no test VM');
  const disks = point.spec.disks.map((d) => ({ name: d.name, sizeBytes: d.sizeBytes, expected: { kind: 'RecoveryPointSnapshot' as const, blobUrl: d.blobUrl, snapshot: d.snapshot }, scratchBesideBlobUrl: d.blobUrl }));
  const found = await verifyFailoverDisks(az, az.credential, { vmId, disks, method, tag: `${fo.metadata.namespace}/${fo.metadata.name}`, signal });
  const line = (d: DiskCheck) => {
    if (d.pass) return `${d.name} ${d.bytesVerified} bytes equal`;
    const compared = d.firstDifferingOffset !== undefined || d.sha256 !== undefined;
    return compared ? `${d.name} ${d.error ?? 'differs'}` : `${d.name} not verified: ${d.error ?? 'unknown error'}`;
  };
  return { pass: found.pass, verifiedBytes: found.bytesVerified, message: `${method}: ${found.disks.map(line).join('; ')}` };
}
