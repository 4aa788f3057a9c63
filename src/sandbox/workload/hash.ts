// sha256 of a whole page blob or snapshot (a managed disk's content), unallocated pages read as zeros.
// Streaming with bounded memory: allocated ranges are read in chunks (a few in flight, hashed in order),
// holes are hashed from one shared zero buffer without reading them.
import crypto from 'node:crypto';
import type { PageBlobClient } from '@azure/storage-blob';
import { pageBlobClient, type DiskCredential } from './clients.ts';

const CHUNK = 4 * 1024 * 1024;
const ZEROS = Buffer.alloc(CHUNK);

export interface HashDiskOptions {
  credential?: DiskCredential;
  /** Chunks read in parallel (default 4): memory is about concurrency x 4 MiB. */
  concurrency?: number;
  signal?: AbortSignal;
  /**
   * Hash only the first `length` bytes. Compares a disk with a smaller source: a managed disk imported
   * from a blob is the blob's size rounded up to whole GiB, zero beyond it.
   */
  length?: number;
}

async function allocatedRanges(client: PageBlobClient, signal?: AbortSignal): Promise<Array<[number, number]>> {
  const out: Array<[number, number]> = [];
  for await (const page of client.listPageRanges(0, undefined, { abortSignal: signal }).byPage()) {
    for (const r of page.pageRange ?? []) out.push([r.start, r.end + 1]);
  }
  out.sort((a, b) => a[0] - b[0]);
  return out;
}

/** Hex sha256 of the blob's content (length = its x-ms-blob-content-length, or opts.length if smaller). */
export async function hashDisk(url: string, opts: HashDiskOptions = {}): Promise<string> {
  const client = pageBlobClient(url, opts.credential);
  const props = await client.getProperties({ abortSignal: opts.signal });
  const length = Math.min(props.contentLength ?? 0, opts.length ?? Number.POSITIVE_INFINITY);
  const ranges = await allocatedRanges(client, opts.signal);

  // Work list in offset order: holes (zeros) and allocated chunks to read.
  type Piece = { start: number; end: number; read: boolean };
  const pieces: Piece[] = [];
  let pos = 0;
  for (const [s0, e0] of ranges) {
    const s = Math.min(s0, length);
    const e = Math.min(e0, length);
    if (s > pos) pieces.push({ start: pos, end: s, read: false });
    for (let o = Math.max(s, pos); o < e; o += CHUNK) pieces.push({ start: o, end: Math.min(e, o + CHUNK), read: true });
    pos = Math.max(pos, e);
  }
  if (pos < length) pieces.push({ start: pos, end: length, read: false });

  const hash = crypto.createHash('sha256');
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const inflight = new Map<number, Promise<Buffer>>();
  let next = 0;
  const launch = (): void => {
    while (next < pieces.length && inflight.size < concurrency) {
      const i = next++;
      const p = pieces[i]!;
      if (p.read) {
        const promise = client.downloadToBuffer(p.start, p.end - p.start, { abortSignal: opts.signal, concurrency: 1 });
        promise.catch(() => undefined); // awaited below, in order
        inflight.set(i, promise);
      }
    }
  };
  for (let i = 0; i < pieces.length; i++) {
    launch();
    const p = pieces[i]!;
    if (p.read) {
      const buf = await inflight.get(i)!;
      inflight.delete(i);
      if (buf.length !== p.end - p.start) throw new Error(`short read at ${p.start}: ${buf.length} of ${p.end - p.start} bytes`);
      hash.update(buf);
    } else {
      for (let o = p.start; o < p.end; o += CHUNK) hash.update(ZEROS.subarray(0, Math.min(CHUNK, p.end - o)));
    }
  }
  return hash.digest('hex');
}
