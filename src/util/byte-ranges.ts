/**
 * Byte ranges of page blobs: half-open [start, end) pairs, 512-byte aligned as the page-blob service
 * returns them. Changed ranges are cut into chunks of at most 4 MiB (the largest Put Page).
 */

export const MAX_CHUNK = 4 * 1024 * 1024;
/** Page ranges are listed this many bytes at a time (capture, seeding and clearing a replica alike). */
export const LIST_WINDOW = 1024 ** 3;

export interface ByteRange {
  start: number;
  /** Exclusive. */
  end: number;
}

/**
 * A page range as @azure/storage-blob reports it, as a half-open range. The SDK maps the service's
 * inclusive <Start>/<End> to { offset: start, count: end - start }: one less than the length.
 */
export function fromSdkRange(r: { offset: number; count?: number }): ByteRange {
  return { start: r.offset, end: r.offset + (r.count ?? 0) + 1 };
}

/** Sorted, merged copy (adjacent and overlapping ranges joined). */
export function normalize(ranges: Iterable<ByteRange>): ByteRange[] {
  const sorted = [...ranges].filter((r) => r.end > r.start).sort((a, b) => a.start - b.start);
  const out: ByteRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

/** Cuts ranges into pieces of at most `max` bytes, in order. */
export function* chunks(ranges: Iterable<ByteRange>, max = MAX_CHUNK): Generator<ByteRange> {
  for (const r of ranges) {
    for (let start = r.start; start < r.end; start += max) yield { start, end: Math.min(r.end, start + max) };
  }
}

/** Windows of `size` bytes covering [0, total): large disks are listed window by window (bounded memory). */
export function* windows(total: number, size: number): Generator<ByteRange> {
  for (let start = 0; start < total; start += size) yield { start, end: Math.min(total, start + size) };
}
