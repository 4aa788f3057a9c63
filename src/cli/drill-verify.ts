/**
 * The drill's verification step: every disk of the recovery point, its failed-over disk checked by the
 * verification engine (src/azure/verify/disk-verifier.ts) with the chosen method — against the point's
 * replica snapshot for a Test failover, against the source disk for a Planned one — one disk after another,
 * each reported with bytes verified, bytes read, time and, on a mismatch, the first differing offset. A disk
 * that cannot be checked fails with the reason; the others are still checked.
 */
import type { FailoverRequest, RecoveryPoint, ReplicatedVM } from '../api/types.ts';
import type { AzureClients } from '../azure/clients.ts';
import { DiskVerifier, type VerifyExpected, type VerifyMethod } from '../azure/verify/disk-verifier.ts';
import { vmDisksByName } from '../azure/verify/vm-disks.ts';
import type { TokenCredential } from '@azure/core-auth';
import { errorText, type DrillDiskResult, type DrillReport, type DrillType } from './drill-report.ts';
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

/** Verifies every disk of `point` on the failed-over VM of `fo`, into `report`. */
export async function verifyDrillDisks(s: VerifyStep, fo: FailoverRequest, point: RecoveryPoint, vm: ReplicatedVM, report: DrillReport): Promise<void> {
  const t0 = Date.now();
  const targetId = fo.status?.targetVirtualMachineId;
  if (!targetId) throw new Error('the failover reports no target VM');
  const targetDisks = await vmDisksByName(s.az, targetId, s.signal);
  const verifier = new DiskVerifier(s.az, s.credential, `${fo.metadata.namespace}/${fo.metadata.name}`);
  const against = s.type === 'Test' ? 'the recovery point replica snapshot' : 'the source disk';
  s.say(`verifying ${point.spec.disks.length} disk(s) against ${against} (${s.method.toLowerCase()})`);
  for (const d of point.spec.disks) {
    if (s.signal?.aborted) throw new VerifyInterrupted();
    const sourceDiskId = d.sourceDiskId ?? vm.status?.disks?.find((x) => x.name === d.name)?.sourceDiskId;
    const expected: DrillDiskResult['expected'] = s.type === 'Test' ? { kind: 'RecoveryPointSnapshot', ref: `${d.blobUrl}?snapshot=${d.snapshot}` } : { kind: 'SourceDisk', ref: sourceDiskId ?? '' };
    const result: DrillDiskResult = { name: d.name, pass: false, sizeBytes: d.sizeBytes, method: s.method, bytesVerified: 0, bytesRead: 0, expected };
    report.disks.push(result);
    try {
      const diskId = targetDisks.get(d.name);
      if (!diskId) throw new Error(`the target VM has no disk ${d.name}`);
      result.targetDiskId = diskId;
      let want: VerifyExpected;
      if (s.type === 'Test') want = { kind: 'RecoveryPointSnapshot', blobUrl: d.blobUrl, snapshot: d.snapshot };
      else if (sourceDiskId) want = { kind: 'SourceDisk', diskId: sourceDiskId };
      else throw new Error(`the source disk of ${d.name} is not recorded`);
      // Imported disks are rounded up to whole GiB: compare the source's size.
      const v = await verifier.verify({ method: s.method, diskId, expected: want, sizeBytes: d.sizeBytes, scratchBesideBlobUrl: d.blobUrl, signal: s.signal });
      Object.assign(result, {
        pass: v.pass,
        bytesVerified: v.bytesVerified,
        bytesRead: v.bytesRead,
        seconds: v.seconds,
        ...(v.bytesCompared !== undefined ? { bytesCompared: v.bytesCompared } : {}),
        ...(v.firstDifferingOffset !== undefined ? { firstDifferingOffset: v.firstDifferingOffset } : {}),
        ...(v.sha256 ? { sha256: v.sha256 } : {}),
        ...(v.error ? { error: v.error } : {}),
      });
      if (v.expectedSha256) result.expected.sha256 = v.expectedSha256;
    } catch (error) {
      if (s.signal?.aborted) {
        report.disks.pop();
        throw new VerifyInterrupted();
      }
      result.error = errorText(error);
    }
    report.bytesVerified += result.bytesVerified;
    report.bytesRead += result.bytesRead;
    s.say(`  ${d.name.padEnd(6)} ${result.pass ? `pass  ${formatBytes(result.bytesVerified)} by ${s.method.toLowerCase()} in ${result.seconds ?? 0} s, ${formatBytes(result.bytesRead)} read` : `FAIL (${result.error})`}`);
  }
  report.verifySeconds = Math.round((Date.now() - t0) / 100) / 10;
}
