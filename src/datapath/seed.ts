/**
 * Seeded initial sync (re-protect): after a failover, the original source VM's disks in the region the
 * VM now replicates back to hold an older copy of its data. Instead of copying every allocated byte, the
 * replica blob of each disk starts as a copy of that seed disk and the first cycle carries only what
 * differs:
 *
 *   seedReplica        copies the seed disk's allocated ranges into the replica blob storage to storage
 *                      (Put Page From URL from a read SAS of the seed, under the fence: nothing crosses
 *                      regions), then marks the blob (metadata `srseed`) so no later session seeds it again;
 *   differingRanges    compares the source restore point with the seeded replica by checksums storage
 *                      computes in each region (4 MiB at a time), then reads only the chunks whose checksums
 *                      differ and compares those COMPARE_BLOCK at a time; returns the ranges that differ:
 *                      data to copy, or ranges the source has cleared.
 *
 * A seeded cycle is applied onto the seeded blob as it is (never cleared first); if its cache data is
 * lost, the disk falls back to an ordinary full copy. The seed disk is addressed in its own subscription
 * (re-protected into another subscription, a VM is seeded from the VM failed over there).
 */
import type { BlockBlobClient, PageBlobClient } from '@azure/storage-blob';
import type { AzureClients } from '../azure/clients.ts';
import { parseArmId } from '../azure/arm-id.ts';
import { fenced, type BlobFence } from './fence.ts';
import { seedComparedBytes } from './metrics.ts';
import { TaskPool } from '../util/task-pool.ts';
import { LIST_WINDOW, MAX_CHUNK, chunks, fromSdkRange, normalize, windows, type ByteRange } from '../util/byte-ranges.ts';
import { sameChecksums as storageSameChecksums, type CopySourceAuth } from '../azure/storage-checksums.ts';
import type { BlobAccess } from './storage.ts';
import type { TargetDisk } from './target.ts';

/** Metadata on a replica blob: the seed disk whose content it was given. */
export const SEED_METADATA = 'srseed';
/** Granularity of the comparison: a differing block of this size is what travels. */
export const COMPARE_BLOCK = 64 * 1024;
const SAS_SECONDS = 3600;
/** Polls of a long-running operation: the SDK's poller waits each answer's Retry-After; 500 ms only when there is none. */
const POLL = { updateIntervalInMs: 500 };

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
 * Whether the replica blob holds what an earlier journal applied (its checkpoint names another epoch):
 * the journal in the cache account was lost, and the blob is its own seed, so only what differs travels.
 */
export function holdsEarlierJournal(target: TargetDisk, epoch: string): boolean {
  const { srepoch, srcycle } = target.metadata;
  return target.applied === 0 && srepoch !== undefined && srepoch !== epoch && Number(srcycle ?? 0) > 0;
}

/**
 * Copies the seed disk into the replica blob. Returns the bytes copied, or undefined when the seed cannot
 * be used (larger than the replica): the disk is then copied in full as usual.
 */
export async function seedReplica(deps: SeedDeps, target: TargetDisk, seedDiskId: string): Promise<number | undefined> {
  const { az, fence, signal } = deps;
  const id = parseArmId(seedDiskId);
  const access = await az.forResource(seedDiskId).compute.disks.beginGrantAccessAndWait(id.resourceGroup, id.name, { access: 'Read', durationInSeconds: SAS_SECONDS }, { ...POLL, abortSignal: signal });
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
    await az.forResource(seedDiskId).compute.disks.beginRevokeAccessAndWait(id.resourceGroup, id.name, { ...POLL, abortSignal: signal }).catch(() => undefined);
  }
}

export interface Differences {
  data: ByteRange[];
  cleared: ByteRange[];
}

/** The two sides of a seeded comparison. */
export interface CompareSides {
  /** The source disk restore point (read SAS) and its URL. */
  source: PageBlobClient;
  sourceUrl: string;
  /** The seeded replica blob (read with our identity). */
  replica: PageBlobClient;
  /** Scratch block blobs beside each side (same account, so same region), for checksums made by storage. */
  sourceScratch: BlockBlobClient;
  replicaScratch: BlockBlobClient;
  /** Our bearer authorization, to name the replica blob as a copy source. */
  auth: CopySourceAuth;
}

/**
 * Compares `window` of the source with the same range of the seeded replica, without moving the data
 * across regions where it matches. Checksums come from storage in each region: a range is staged (never
 * committed) as a block of a scratch blob in the same account as each side with Put Block From URL, whose
 * answer carries the block's CRC-64. Every range allocated on either side is compared CHECKSUM_CHUNK at a
 * time; a chunk whose checksums differ is compared again REFINE_CHUNK at a time; only the pieces that still
 * differ are read from both sides and compared COMPARE_BLOCK at a time. Blocks that differ are data to
 * copy, or cleared ranges when the source block is all zeros. `onCompared` gets the bytes compared and
 * how many matched.
 */
export async function differingRanges(sides: CompareSides, window: ByteRange, options: { concurrency: number; signal: AbortSignal; onCompared?(bytes: number, matched: number): void }): Promise<Differences> {
  const { signal } = options;
  const { source, replica } = sides;
  const length = window.end - window.start;
  const [ours, theirs] = await Promise.all([source.getPageRanges(window.start, length, { abortSignal: signal }), replica.getPageRanges(window.start, length, { abortSignal: signal })]);
  const allocated = normalize([...(ours.pageRange ?? []), ...(theirs.pageRange ?? [])].map(fromSdkRange));
  const out: Differences = { data: [], cleared: [] };
  const pool = new TaskPool(options.concurrency);
  // Scratch block ids per transfer in flight, restaged over and over: a scratch blob never holds more.
  const slots = Array.from({ length: Math.max(1, options.concurrency) }, (_, i) => i);
  const blockId = (slot: number, part: number) => Buffer.from(`cmp${String(slot).padStart(4, '0')}${String(part).padStart(3, '0')}`).toString('base64');
  const free: Array<[Buffer, Buffer]> = [];
  const compare = async (chunk: ByteRange, slot: number): Promise<number> => {
    if (await sameChecksums(sides, chunk, blockId(slot, 0), signal)) {
      seedComparedBytes.inc({ method: 'checksum' }, chunk.end - chunk.start);
      return chunk.end - chunk.start;
    }
    const parts = [...chunks([chunk], REFINE_CHUNK)];
    const same = await Promise.all(parts.map((part, i) => sameChecksums(sides, part, blockId(slot, i + 1), signal)));
    let matched = 0;
    const pair = free.pop() ?? [Buffer.allocUnsafe(REFINE_CHUNK), Buffer.allocUnsafe(REFINE_CHUNK)];
    try {
      for (const [i, part] of parts.entries()) {
        const n = part.end - part.start;
        if (same[i]) {
          seedComparedBytes.inc({ method: 'checksum' }, n);
          matched += n;
          continue;
        }
        seedComparedBytes.inc({ method: 'read' }, n);
        const [a, b] = await Promise.all([readRange(source, part.start, n, pair[0], signal), readRange(replica, part.start, n, pair[1], signal)]);
        const found = compareBlocks(a, b, part.start);
        out.data.push(...found.data);
        out.cleared.push(...found.cleared);
        matched += n - found.differing;
      }
    } finally {
      free.push(pair);
    }
    return matched;
  };
  try {
    for (const chunk of chunks(allocated, CHECKSUM_CHUNK)) {
      await pool.submit(async () => {
        const slot = slots.pop()!;
        try {
          options.onCompared?.(chunk.end - chunk.start, await compare(chunk, slot));
        } finally {
          slots.push(slot);
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

/** Granularity of the checksum comparison (the largest block Put Block From URL stages in one request)... */
const CHECKSUM_CHUNK = MAX_CHUNK;
/** ...and of its second look at a chunk that differs: only such pieces that differ too are read. */
const REFINE_CHUNK = 512 * 1024;

/** Whether storage computes the same checksum for `range` on both sides (src/azure/storage-checksums.ts). */
function sameChecksums(sides: CompareSides, range: ByteRange, block: string, signal: AbortSignal): Promise<boolean> {
  return storageSameChecksums({ url: sides.sourceUrl, scratch: sides.sourceScratch }, { url: sides.replica.url, auth: sides.auth, scratch: sides.replicaScratch }, range, block, signal);
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
