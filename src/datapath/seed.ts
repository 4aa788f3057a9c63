/**
 * Seeded initial sync (re-protect): after a failover, the original source VM's disks in the region the
 * VM now replicates back to hold an older copy of its data. Instead of copying every allocated byte, the
 * replica blob of each disk starts as a copy of that seed disk and the first cycle carries only what
 * differs:
 *
 *   seedReplica        copies the seed disk's allocated ranges into the replica blob storage to storage
 *                      (Put Page From URL from a read SAS of the seed, under the fence: nothing crosses
 *                      regions), then marks the blob (metadata `srseed`) so no later session seeds it again;
 *   differingRanges    compares the source restore point with the seeded replica, COMPARE_BLOCK at a time,
 *                      and returns the ranges that differ: data to copy, or ranges the source has cleared.
 *
 * A seeded cycle is applied onto the seeded blob as it is (never cleared first); if its cache data is
 * lost, the disk falls back to an ordinary full copy.
 */
import type { PageBlobClient } from '@azure/storage-blob';
import type { AzureClients } from '../azure/clients.ts';
import { parseArmId } from '../azure/arm-id.ts';
import { fenced, type BlobFence } from './fence.ts';
import { TaskPool } from './pool.ts';
import { MAX_CHUNK, chunks, fromSdkRange, normalize, windows, type ByteRange } from './ranges.ts';
import type { BlobAccess } from './storage.ts';
import type { TargetDisk } from './target.ts';

/** Metadata on a replica blob: the seed disk whose content it was given. */
export const SEED_METADATA = 'srseed';
/** Granularity of the comparison: a differing block of this size is what travels. */
export const COMPARE_BLOCK = 64 * 1024;
const SAS_SECONDS = 3600;
const POLL = { updateIntervalInMs: 500 };
const LIST_WINDOW = 1024 ** 3;

export interface SeedDeps {
  az: AzureClients;
  blobs: BlobAccess;
  fence: BlobFence;
  concurrency: number;
  signal: AbortSignal;
}

/** Whether the replica blob holds the seed's content (and nothing of a cycle yet). */
export function isSeeded(target: TargetDisk, seedDiskId: string | undefined): boolean {
  return Boolean(seedDiskId) && target.applied === 0 && target.metadata[SEED_METADATA]?.toLowerCase() === seedDiskId?.toLowerCase();
}

/**
 * Copies the seed disk into the replica blob. Returns the bytes copied, or undefined when the seed cannot
 * be used (larger than the replica): the disk is then copied in full as usual.
 */
export async function seedReplica(deps: SeedDeps, target: TargetDisk, seedDiskId: string): Promise<number | undefined> {
  const { az, fence, signal } = deps;
  const id = parseArmId(seedDiskId);
  const access = await az.compute.disks.beginGrantAccessAndWait(id.resourceGroup, id.name, { access: 'Read', durationInSeconds: SAS_SECONDS }, { ...POLL, abortSignal: signal });
  if (!access.accessSAS) throw new Error(`no read access granted to seed disk ${id.name}`);
  try {
    const seedUrl = access.accessSAS;
    const seed = deps.blobs.sasPageBlob(seedUrl);
    const size = (await seed.getProperties({ abortSignal: signal })).contentLength ?? 0;
    if (size > target.sizeBytes) return undefined;
    const pool = new TaskPool(deps.concurrency);
    let copied = 0;
    try {
      for (const w of windows(size, LIST_WINDOW)) {
        const listed = await seed.getPageRanges(w.start, w.end - w.start, { abortSignal: signal });
        for (const chunk of chunks(normalize((listed.pageRange ?? []).map(fromSdkRange)))) {
          await pool.submit(async () => {
            const n = chunk.end - chunk.start;
            await fenced('seeding the replica blob', () => target.blob.uploadPagesFromURL(seedUrl, chunk.start, chunk.start, n, { conditions: { leaseId: fence.leaseId }, abortSignal: signal }));
            copied += n;
          });
        }
      }
      await pool.drain();
    } catch (error) {
      await pool.drain().catch(() => undefined);
      throw error;
    }
    const metadata = { ...target.metadata, [SEED_METADATA]: seedDiskId };
    await fenced('marking the replica blob seeded', () => target.blob.setMetadata(metadata, { conditions: { leaseId: fence.leaseId } }));
    target.metadata = metadata;
    return copied;
  } finally {
    await az.compute.disks.beginRevokeAccessAndWait(id.resourceGroup, id.name, { ...POLL, abortSignal: signal }).catch(() => undefined);
  }
}

export interface Differences {
  data: ByteRange[];
  cleared: ByteRange[];
}

/**
 * Compares `window` of the source with the same range of the seeded replica: every range allocated on
 * either side is read from both, COMPARE_BLOCK at a time. Blocks that differ are data to copy, or cleared
 * ranges when the source block is all zeros. `onCompared` gets the bytes compared and how many matched.
 */
export async function differingRanges(
  source: PageBlobClient,
  replica: PageBlobClient,
  window: ByteRange,
  options: { concurrency: number; signal: AbortSignal; onCompared?(bytes: number, matched: number): void },
): Promise<Differences> {
  const { signal } = options;
  const length = window.end - window.start;
  const [ours, theirs] = await Promise.all([source.getPageRanges(window.start, length, { abortSignal: signal }), replica.getPageRanges(window.start, length, { abortSignal: signal })]);
  const allocated = normalize([...(ours.pageRange ?? []), ...(theirs.pageRange ?? [])].map(fromSdkRange));
  const out: Differences = { data: [], cleared: [] };
  const pool = new TaskPool(options.concurrency);
  const free: Array<[Buffer, Buffer]> = [];
  try {
    for (const chunk of chunks(allocated, MAX_CHUNK)) {
      await pool.submit(async () => {
        const pair = free.pop() ?? [Buffer.allocUnsafe(MAX_CHUNK), Buffer.allocUnsafe(MAX_CHUNK)];
        try {
          const n = chunk.end - chunk.start;
          const [a, b] = await Promise.all([readRange(source, chunk.start, n, pair[0], signal), readRange(replica, chunk.start, n, pair[1], signal)]);
          const found = compareBlocks(a, b, chunk.start);
          out.data.push(...found.data);
          out.cleared.push(...found.cleared);
          options.onCompared?.(n, n - found.differing);
        } finally {
          free.push(pair);
        }
      });
    }
    await pool.drain();
  } catch (error) {
    await pool.drain().catch(() => undefined);
    throw error;
  }
  return { data: normalize(out.data), cleared: normalize(out.cleared) };
}

/** The blocks where `source` and `replica` (both read at `offset`) differ. Pure; exported for tests. */
export function compareBlocks(source: Buffer, replica: Buffer, offset: number, block = COMPARE_BLOCK): Differences & { differing: number } {
  const out = { data: [] as ByteRange[], cleared: [] as ByteRange[], differing: 0 };
  for (let at = 0; at < source.length; at += block) {
    const end = Math.min(source.length, at + block);
    const ours = source.subarray(at, end);
    if (ours.equals(replica.subarray(at, end))) continue;
    out.differing += end - at;
    const range = { start: offset + at, end: offset + end };
    if (isZero(ours)) out.cleared.push(range);
    else out.data.push(range);
  }
  out.data = normalize(out.data);
  out.cleared = normalize(out.cleared);
  return out;
}

const ZEROS = Buffer.alloc(COMPARE_BLOCK);

function isZero(bytes: Buffer): boolean {
  for (let at = 0; at < bytes.length; at += ZEROS.length) {
    const piece = bytes.subarray(at, Math.min(bytes.length, at + ZEROS.length));
    if (!piece.equals(ZEROS.subarray(0, piece.length))) return false;
  }
  return true;
}

/** Reads [offset, offset+count) of a blob into `buffer`. */
async function readRange(source: PageBlobClient, offset: number, count: number, buffer: Buffer, signal: AbortSignal): Promise<Buffer> {
  const response = await source.download(offset, count, { abortSignal: signal, maxRetryRequests: 3 });
  let position = 0;
  for await (const piece of response.readableStreamBody ?? []) {
    const bytes = piece as Buffer;
    if (position + bytes.length > count) throw new Error(`read of ${count} bytes at ${offset} returned more`);
    bytes.copy(buffer, position);
    position += bytes.length;
  }
  if (position !== count) throw new Error(`short read at ${offset}: ${position} of ${count} bytes`);
  return buffer.subarray(0, count);
}
