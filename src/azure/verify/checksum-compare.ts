/**
 * Are two page blobs equal over [0, length)? Answered by storage, not by reading them: every range
 * allocated on either side is cut into CHUNK pieces (4 MiB, the largest block Put Block From URL stages),
 * and storage computes each piece's CRC-64 on both sides (storage-checksums.ts). A range unallocated on both
 * sides reads as zeros on both: equal without a request. No byte of either blob reaches this process.
 *
 * When chunks differ, the lowest one is narrowed down the same way — cut in eight, the first part whose
 * checksums differ cut in eight again — until a 512-byte page: the first differing offset, still without
 * reading data (about five rounds of eight requests per side).
 */
import type { PageBlobClient } from '@azure/storage-blob';
import { LIST_WINDOW, MAX_CHUNK, chunks, fromSdkRange, normalize, windows, type ByteRange } from '../../util/byte-ranges.ts';
import { TaskPool } from '../../util/task-pool.ts';
import { sameChecksums, type ChecksumSide } from '../storage-checksums.ts';

/** Granularity of the comparison. */
export const CHUNK = MAX_CHUNK;
/** The unit of a page blob: the first difference is named to this precision. */
export const PAGE = 512;
const SPLIT = 8;

/** A side: a client to list its page ranges, and where storage reads it from. */
export interface CompareSide extends ChecksumSide {
  blob: PageBlobClient;
}

export interface ChecksumComparison {
  /** Allocated bytes (on either side) whose checksums storage computed on both sides. */
  bytesCompared: number;
  /** Chunks (of CHUNK bytes) whose checksums differ. */
  differingChunks: number;
  /** The first byte of the first differing 512-byte page, when the blobs differ. */
  firstDifference?: number;
  /** Put Block From URL requests made (both sides). */
  requests: number;
}

export interface CompareOptions {
  concurrency?: number;
  signal?: AbortSignal;
}

/** Compares [0, length) of two page blobs by checksums storage computes. */
export async function compareByChecksums(a: CompareSide, b: CompareSide, length: number, options: CompareOptions = {}): Promise<ChecksumComparison> {
  const { signal } = options;
  const concurrency = Math.max(1, options.concurrency ?? 8);
  const out: ChecksumComparison = { bytesCompared: 0, differingChunks: 0, requests: 0 };
  // Block ids reused per slot: a scratch blob never holds more than the blocks in flight.
  let next = 0;
  const blockId = () => Buffer.from(`verify${String(next++ % (concurrency * SPLIT * 2)).padStart(6, '0')}`).toString('base64');
  const same = async (range: ByteRange) => {
    out.requests += 2;
    return sameChecksums(a, b, range, blockId(), signal);
  };
  const differing: { lowest?: ByteRange } = {};
  for (const w of windows(length, LIST_WINDOW)) {
    const allocated = await allocatedUnion(a.blob, b.blob, w, signal);
    const pool = new TaskPool(concurrency);
    try {
      for (const chunk of chunks(allocated, CHUNK)) {
        await pool.submit(async () => {
          const equal = await same(chunk);
          out.bytesCompared += chunk.end - chunk.start;
          if (equal) return;
          out.differingChunks += 1;
          if (!differing.lowest || chunk.start < differing.lowest.start) differing.lowest = chunk;
        });
      }
      await pool.drain();
    } catch (error) {
      await pool.drain().catch(() => undefined);
      throw error;
    }
  }
  if (differing.lowest) out.firstDifference = await narrow(differing.lowest, same);
  return out;
}

/** Ranges allocated on either blob within `w`, clipped to it. */
async function allocatedUnion(a: PageBlobClient, b: PageBlobClient, w: ByteRange, signal?: AbortSignal): Promise<ByteRange[]> {
  const n = w.end - w.start;
  const [x, y] = await Promise.all([a.getPageRanges(w.start, n, { abortSignal: signal }), b.getPageRanges(w.start, n, { abortSignal: signal })]);
  return normalize([...(x.pageRange ?? []), ...(y.pageRange ?? [])].map(fromSdkRange).map((r) => ({ start: Math.max(r.start, w.start), end: Math.min(r.end, w.end) })));
}

/** The start of the first PAGE of `range` whose checksums differ (`range` is known to differ). */
async function narrow(range: ByteRange, same: (r: ByteRange) => Promise<boolean>): Promise<number> {
  let at = range;
  while (at.end - at.start > PAGE) {
    const size = Math.ceil((at.end - at.start) / SPLIT / PAGE) * PAGE;
    const parts = [...chunks([at], size)];
    const equal = await Promise.all(parts.map((p) => same(p)));
    const first = parts.find((_, i) => !equal[i]);
    if (!first) return at.start; // differs as a whole only (a checksum the service did not give): name its start
    at = first;
  }
  return at.start;
}
