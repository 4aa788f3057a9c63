/**
 * sha256 of a page blob's (or a blob snapshot's) content, the way byte-exact checks of disks need it:
 * unallocated pages count as zeros and are never downloaded; allocated ranges are read in 4 MiB chunks, a
 * few in flight, hashed in order, so memory stays near concurrency × 4 MiB whatever the disk size.
 */
import crypto from 'node:crypto';
import type { PageBlobClient } from '@azure/storage-blob';

const CHUNK = 4 * 1024 * 1024;
const ZEROS = Buffer.alloc(CHUNK);

export interface PageBlobHashOptions {
  /**
   * Hash only the first `length` bytes (an error if the blob is shorter). Compares a disk with a smaller
   * source: a managed disk imported from a blob is the blob's size rounded up to whole GiB.
   */
  length?: number;
  /** Chunks read in parallel (default 4). */
  concurrency?: number;
  signal?: AbortSignal;
}

export interface PageBlobHash {
  sha256: string;
  /** Bytes covered by the hash. */
  bytes: number;
  /** Bytes downloaded (the allocated ranges within them): what crossed the network to this process. */
  bytesRead: number;
}

export async function hashPageBlob(client: PageBlobClient, options: PageBlobHashOptions = {}): Promise<PageBlobHash> {
  const { signal } = options;
  const size = (await client.getProperties({ abortSignal: signal })).contentLength ?? 0;
  const length = options.length ?? size;
  if (size < length) throw new Error(`blob is ${size} bytes, shorter than the ${length} bytes to verify`);
  const ranges: Array<[number, number]> = [];
  for await (const page of client.listPageRanges(0, length, { abortSignal: signal }).byPage()) {
    for (const r of page.pageRange ?? []) ranges.push([r.start, Math.min(r.end + 1, length)]);
  }
  ranges.sort((a, b) => a[0] - b[0]);

  // Pieces in offset order: holes hashed from a zero buffer, allocated data read a few chunks ahead.
  const pieces: Array<{ start: number; end: number; read: boolean }> = [];
  let pos = 0;
  for (const [s, e] of ranges) {
    if (s > pos) pieces.push({ start: pos, end: s, read: false });
    for (let o = Math.max(s, pos); o < e; o += CHUNK) pieces.push({ start: o, end: Math.min(e, o + CHUNK), read: true });
    pos = Math.max(pos, e);
  }
  if (pos < length) pieces.push({ start: pos, end: length, read: false });

  const hash = crypto.createHash('sha256');
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const inflight = new Map<number, Promise<Buffer>>();
  let next = 0;
  let bytesRead = 0;
  for (let i = 0; i < pieces.length; i++) {
    while (next < pieces.length && inflight.size < concurrency) {
      const p = pieces[next] as (typeof pieces)[number];
      if (p.read) {
        const read = client.downloadToBuffer(p.start, p.end - p.start, { abortSignal: signal, concurrency: 1 });
        read.catch(() => undefined); // awaited in order below
        inflight.set(next, read);
      }
      next++;
    }
    const p = pieces[i] as (typeof pieces)[number];
    if (p.read) {
      const buf = await (inflight.get(i) as Promise<Buffer>);
      inflight.delete(i);
      if (buf.length !== p.end - p.start) throw new Error(`short read at ${p.start}: ${buf.length} of ${p.end - p.start} bytes`);
      hash.update(buf);
      bytesRead += buf.length;
    } else {
      for (let o = p.start; o < p.end; o += CHUNK) hash.update(ZEROS.subarray(0, Math.min(CHUNK, p.end - o)));
    }
  }
  return { sha256: hash.digest('hex'), bytes: length, bytesRead };
}
