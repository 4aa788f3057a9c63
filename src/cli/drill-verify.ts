/**
 * The drill's verification step: every disk of the recovery point, its failed-over disk checked by the
 * verification loop the DrillSchedule uses too (src/azure/verify/failover-disks.ts) with the chosen method — against the point's
 * replica snapshot for a Test failover, against the source disk for a Planned one — one disk after another,
 * each reported with bytes verified, bytes read, time and, on a mismatch, the first differing offset. A disk
 * that cannot be checked fails with the reason; the others are still checked.
 */
import type { FailoverRequest, RecoveryPoint, RecoveryPointDisk, ReplicatedVM } from '../api/types.ts';
import type { AzureClients } from '../azure/clients.ts';
import type { VerifyMethod } from '../azure/verify/disk-verifier.ts';
import { verifyFailoverDisks, type DiskCheck, type PointDisk } from '../azure/verify/failover-disks.ts';
import type { TokenCredential } from '@azure/core-auth';
import { type DrillDiskResult, type DrillReport, type DrillType } from './drill-report.ts';
import { formatBytes } from './live-view.ts';

export interface VerifyStep {
  az: AzureClients;
  credential: TokenCredential;
  type: DrillType;
  method: VerifyMethod;
  signal?: AbortSignal | undefined;
  say(line: string): void;
}

/** Thrown when the drill is interrupted while verifying. */
export class VerifyInterrupted extends Error {
  constructor() {
    super('interrupted while verifying the disks');
  }
}

/** Verifies every disk of `point` on the failed-over VM of `fo` (src/azure/verify/failover-disks.ts), into `report`. */
export async function verifyDrillDisks(s: VerifyStep, fo: FailoverRequest, point: RecoveryPoint, vm: ReplicatedVM, report: DrillReport): Promise<void> {
  const targetId = fo.status?.targetVirtualMachineId;
  if (!targetId) throw new Error('the failover reports no target VM');
  const against = s.type === 'Test' ? 'the recovery point replica snapshot' : 'the source disk';
  s.say(`verifying ${point.spec.disks.length} disk(s) against ${against} (${s.method.toLowerCase()})`);
  const sourceOf = (d: RecoveryPointDisk) => d.sourceDiskId ?? vm.status?.disks?.find((x) => x.name === d.name)?.sourceDiskId;
  const disks: PointDisk[] = point.spec.disks.map((d) => ({ name: d.name, sizeBytes: d.sizeBytes, expected: expectedOf(s.type, d, sourceOf(d)), scratchBesideBlobUrl: d.blobUrl }));
  const onDisk = (check: DiskCheck) => {
    const d = point.spec.disks.find((x) => x.name === check.name) as RecoveryPointDisk;
    const expected: DrillDiskResult['expected'] = s.type === 'Test' ? { kind: 'RecoveryPointSnapshot', ref: `${d.blobUrl}?snapshot=${d.snapshot}` } : { kind: 'SourceDisk', ref: sourceOf(d) ?? '' };
    if (check.expectedSha256) expected.sha256 = check.expectedSha256;
    const result: DrillDiskResult = {
      name: check.name,
      pass: check.pass,
      sizeBytes: d.sizeBytes,
      method: s.method,
      bytesVerified: check.bytesVerified,
      bytesRead: check.bytesRead,
      expected,
      ...(check.targetDiskId ? { targetDiskId: check.targetDiskId } : {}),
      // A disk that could not be checked has no time.
      ...(check.pass || check.firstDifferingOffset !== undefined || check.sha256 !== undefined ? { seconds: check.seconds } : {}),
      ...(check.bytesCompared !== undefined ? { bytesCompared: check.bytesCompared } : {}),
      ...(check.firstDifferingOffset !== undefined ? { firstDifferingOffset: check.firstDifferingOffset } : {}),
      ...(check.sha256 ? { sha256: check.sha256 } : {}),
      ...(check.error ? { error: check.error } : {}),
    };
    report.disks.push(result);
    report.bytesVerified += result.bytesVerified;
    report.bytesRead += result.bytesRead;
    s.say(`  ${d.name.padEnd(6)} ${result.pass ? `pass  ${formatBytes(result.bytesVerified)} by ${s.method.toLowerCase()} in ${result.seconds ?? 0} s, ${formatBytes(result.bytesRead)} read` : `FAIL (${result.error})`}`);
  };
  try {
    const found = await verifyFailoverDisks(s.az, s.credential, { vmId: targetId, disks, method: s.method, tag: `${fo.metadata.namespace}/${fo.metadata.name}`, signal: s.signal, onDisk });
    report.verifySeconds = found.seconds;
  } catch (error) {
    if (s.signal?.aborted) throw new VerifyInterrupted();
    throw error;
  }
}

/** What a failed-over disk must equal: the point's replica snapshot (Test) or the source disk (Planned). */
function expectedOf(type: DrillType, d: RecoveryPointDisk, sourceDiskId: string | undefined): PointDisk['expected'] {
  if (type === 'Test') return { kind: 'RecoveryPointSnapshot', blobUrl: d.blobUrl, snapshot: d.snapshot };
  return sourceDiskId ? { kind: 'SourceDisk', diskId: sourceDiskId } : { error: `the source disk of ${d.name} is not recorded` };
}
