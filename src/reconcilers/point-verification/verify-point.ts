/**
 * Verifies one sealed RecoveryPoint by storage checksums (method CycleChecksums): for each disk, every range
 * the point's cycle wrote, read by storage from the point's replica snapshot, must have the CRC-64 capture
 * recorded from the source (src/azure/verify/point-checksums.ts). All disks are checked; the first disk
 * that differs (in the point's disk order) and its lowest differing offset are named. A disk whose record
 * or snapshot cannot be read makes the result Error with the reason (never Passed).
 *
 * Storage stages each range as an uncommitted block of a scratch block blob beside the replica blob
 * (`verify-scratch/…` in the replica container), removed afterwards; no disk byte reaches the operator.
 */
import crypto from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';
import { BlobClient, BlockBlobClient, PageBlobClient } from '@azure/storage-blob';
import type { PointVerification, RecoveryPoint } from '../../api/types.ts';
import { removeScratch } from '../../azure/storage-checksums.ts';
import { checksumRecordUrl, readChecksumRecord, verifyAgainstRecord } from '../../azure/verify/point-checksums.ts';

const STORAGE_SCOPE = 'https://storage.azure.com/.default';
const PIPELINE = { retryOptions: { maxTries: 5, tryTimeoutInMs: 120_000 } };
const CONCURRENCY = 8;

interface DiskOutcome {
  name: string;
  bytesVerified: number;
  ranges: number;
  firstDifferingOffset?: number;
  differingRanges?: number;
  error?: string;
}

/**
 * The point has no checksum record: sealed by a datapath that wrote none (before this feature) or by hand.
 * Nothing can be said about it; the caller skips it rather than report a failure.
 */
export class NoChecksumRecord extends Error {}

/** Verifies every disk of `point`; the result as status.verified records it. Throws NoChecksumRecord. */
export async function verifyPoint(credential: TokenCredential, point: RecoveryPoint, signal: AbortSignal, now: () => Date = () => new Date()): Promise<PointVerification> {
  const cycle = point.spec.cycle;
  if (cycle === undefined) return { time: now().toISOString(), method: 'CycleChecksums', result: 'Error', message: 'the point records no cycle: no checksum record to verify against' };
  const outcomes: DiskOutcome[] = [];
  for (const disk of point.spec.disks) {
    if (signal.aborted) throw signal.reason;
    outcomes.push(await verifyDisk(credential, disk, cycle, signal));
  }
  return summarize(outcomes, now());
}

async function verifyDisk(credential: TokenCredential, disk: RecoveryPoint['spec']['disks'][number], cycle: number, signal: AbortSignal): Promise<DiskOutcome> {
  const scratch = scratchBeside(disk.blobUrl, credential);
  try {
    const token = await credential.getToken(STORAGE_SCOPE);
    if (!token) throw new Error('no storage access token');
    const snapshot = new PageBlobClient(disk.blobUrl, credential, PIPELINE).withSnapshot(disk.snapshot);
    const recordBlob = new BlobClient(checksumRecordUrl(disk.blobUrl, cycle), credential, PIPELINE);
    if (!(await recordBlob.exists({ abortSignal: signal }))) throw new NoChecksumRecord(`${disk.name} of cycle ${cycle} has no checksum record`);
    const record = readChecksumRecord(recordBlob, { cycle }, signal);
    const found = await verifyAgainstRecord({ url: snapshot.url, auth: { scheme: 'Bearer', value: token.token }, scratch }, record, { concurrency: CONCURRENCY, signal });
    return {
      name: disk.name,
      bytesVerified: found.bytesVerified,
      ranges: found.ranges,
      ...(found.firstDifferingOffset !== undefined ? { firstDifferingOffset: found.firstDifferingOffset, differingRanges: found.differingRanges } : {}),
    };
  } catch (error) {
    if (signal.aborted || error instanceof NoChecksumRecord) throw error;
    return { name: disk.name, bytesVerified: 0, ranges: 0, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await removeScratch(scratch);
  }
}

function summarize(outcomes: DiskOutcome[], time: Date): PointVerification {
  const bytesVerified = outcomes.reduce((sum, d) => sum + d.bytesVerified, 0);
  const message = outcomes
    .map((d) => {
      if (d.error) return `${d.name}: not verified: ${d.error}`;
      if (d.firstDifferingOffset !== undefined) return `${d.name}: differs at offset ${d.firstDifferingOffset} (${d.differingRanges} of ${d.ranges} recorded range(s))`;
      return `${d.name}: ${d.bytesVerified} bytes in ${d.ranges} recorded range(s) match`;
    })
    .join('; ');
  const bad = outcomes.find((d) => d.firstDifferingOffset !== undefined);
  const base = { time: time.toISOString(), method: 'CycleChecksums' as const, bytesVerified, message: message.slice(0, 2048) };
  if (bad) return { ...base, result: 'Failed', disk: bad.name, offset: bad.firstDifferingOffset };
  if (outcomes.some((d) => d.error)) return { ...base, result: 'Error' };
  return { ...base, result: 'Passed' };
}

/** A scratch block blob in the replica blob's container. */
function scratchBeside(blobUrl: string, credential: TokenCredential): BlockBlobClient {
  const url = new URL(blobUrl);
  const container = url.pathname.split('/').slice(0, -1).join('/');
  return new BlockBlobClient(`${url.origin}${container}/verify-scratch/point-${crypto.randomBytes(6).toString('hex')}`, credential, PIPELINE);
}
