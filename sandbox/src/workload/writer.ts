// A workload inside a sandbox VM: writes to the VM's disks at a chosen rate and pattern through the
// managed-disk front (Put Page / Clear Pages), as an application would, so that replication, RPO and
// byte-exact recovery can be measured. Also fills disks with initial content. Pattern `encrypt` plays
// ransomware: it rewrites every allocated block of every disk once with random data (the allocated ranges
// listed with Get Page Ranges first), then stops — what the datapath's churn anomaly rule must catch.
import crypto from 'node:crypto';
import type { PageBlobClient } from '@azure/storage-blob';
import { createLogger } from '../../../src/util/logger.ts';
import { pageBlobClient, redactUrl, type DiskCredential } from './clients.ts';

const log = createLogger('sandbox-workload');

export type WorkloadPattern = 'random' | 'sequential' | 'hotset' | 'trim' | 'encrypt';

export const MAX_WRITE = 4 * 1024 * 1024;

export interface WorkloadOptions {
  /** Page blob URLs of the disks (SAS URLs, or plain URLs used with `credential` / the sandbox token). */
  diskBlobUrls?: string[];
  /** Alternative to diskBlobUrls: disk resource ids, mapped through the sandbox storage. */
  diskIds?: string[];
  storage?: { diskBlobUrl(diskResourceId: string): string };
  credential?: DiskCredential;
  /** Average bytes written per second, over all disks. */
  rateBytesPerSec: number;
  durationMs: number;
  /**
   * random (default), sequential (wrapping per disk), hotset (80% of writes to a 10% region), trim (30% clears),
   * encrypt (every allocated block rewritten once, disks in turn; ends early when all are).
   */
  pattern?: WorkloadPattern;
  /** Bytes per write, a multiple of 512 up to 4 MiB (default 64 KiB). */
  writeSize?: number;
  /** Writes in flight (default 4). */
  concurrency?: number;
  /** Stops early; runWorkload then resolves with what was written. */
  signal?: AbortSignal;
  /** Seed for offsets (data is always fresh random bytes). */
  seed?: number;
  onProgress?: (p: WorkloadProgress) => void;
}

export interface WorkloadProgress {
  bytesWritten: number;
  bytesCleared: number;
  writes: number;
  clears: number;
  elapsedMs: number;
}

export interface WorkloadResult extends WorkloadProgress {
  perDisk: Array<{ url: string; bytesWritten: number; bytesCleared: number }>;
}

/** Small deterministic PRNG (mulberry32) for offsets. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Disk {
  url: string;
  /** encrypt: the allocated ranges still to rewrite, as [offset, length] pieces of at most one write. */
  allocated: Array<[number, number]>;
  client: PageBlobClient;
  size: number;
  cursor: number;
  hotStart: number;
  hotLength: number;
  bytesWritten: number;
  bytesCleared: number;
}

function resolveUrls(opts: { diskBlobUrls?: string[]; diskIds?: string[]; storage?: { diskBlobUrl(id: string): string } }): string[] {
  const urls = [...(opts.diskBlobUrls ?? [])];
  if (opts.diskIds?.length) {
    if (!opts.storage) throw new Error('diskIds need storage (to map ids to page blobs)');
    for (const id of opts.diskIds) urls.push(opts.storage.diskBlobUrl(id));
  }
  if (urls.length === 0) throw new Error('no disks given');
  return urls;
}

function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export async function runWorkload(opts: WorkloadOptions): Promise<WorkloadResult> {
  const urls = resolveUrls(opts);
  const pattern = opts.pattern ?? 'random';
  const writeSize = opts.writeSize ?? 64 * 1024;
  if (writeSize <= 0 || writeSize % 512 !== 0 || writeSize > MAX_WRITE) throw new Error(`writeSize must be a multiple of 512 up to ${MAX_WRITE}`);
  if (!(opts.rateBytesPerSec > 0)) throw new Error('rateBytesPerSec must be positive');
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const rand = seededRandom(opts.seed ?? 1);

  const disks: Disk[] = await Promise.all(
    urls.map(async (url) => {
      const client = pageBlobClient(url, opts.credential);
      const size = (await client.getProperties({ abortSignal: opts.signal })).contentLength ?? 0;
      if (size < writeSize) throw new Error(`disk ${redactUrl(url)} (${size} bytes) is smaller than one write`);
      const slots = Math.floor(size / writeSize);
      const hotSlots = Math.max(1, Math.floor(slots / 10));
      const hotStart = Math.floor(rand() * (slots - hotSlots + 1)) * writeSize;
      const allocated = pattern === 'encrypt' ? await allocatedPieces(client, size, writeSize, opts.signal) : [];
      return { url, client, size, allocated, cursor: 0, hotStart, hotLength: hotSlots * writeSize, bytesWritten: 0, bytesCleared: 0 };
    }),
  );

  const progress: WorkloadProgress = { bytesWritten: 0, bytesCleared: 0, writes: 0, clears: 0, elapsedMs: 0 };
  const started = performance.now();
  const deadline = started + opts.durationMs;
  let issued = 0; // bytes scheduled so far (writes and clears alike count against the rate)
  let diskTurn = 0;

  const nextOp = (): { disk: Disk; offset: number; length: number; clear: boolean } | undefined => {
    if (pattern === 'encrypt') return nextEncrypt();
    const disk = disks[diskTurn++ % disks.length]!;
    const slots = Math.floor(disk.size / writeSize);
    let offset: number;
    switch (pattern) {
      case 'sequential':
        if (disk.cursor + writeSize > disk.size) disk.cursor = 0;
        offset = disk.cursor;
        disk.cursor += writeSize;
        break;
      case 'hotset':
        offset =
          rand() < 0.8
            ? disk.hotStart + Math.floor(rand() * (disk.hotLength / writeSize)) * writeSize
            : Math.floor(rand() * slots) * writeSize;
        break;
      default:
        offset = Math.floor(rand() * slots) * writeSize;
    }
    return { disk, offset, length: writeSize, clear: pattern === 'trim' && rand() < 0.3 };
  };
  // Disks in turn, each one's allocated pieces in order; undefined once every piece was taken.
  const nextEncrypt = (): { disk: Disk; offset: number; length: number; clear: boolean } | undefined => {
    for (let tried = 0; tried < disks.length; tried++) {
      const disk = disks[diskTurn++ % disks.length]!;
      const piece = disk.allocated.shift();
      if (piece) return { disk, offset: piece[0], length: piece[1], clear: false };
    }
    return undefined;
  };

  let lastReport = 0;
  const worker = async (): Promise<void> => {
    const buf = Buffer.allocUnsafe(writeSize);
    for (;;) {
      if (opts.signal?.aborted) return;
      const at = started + (issued / opts.rateBytesPerSec) * 1000;
      if (at >= deadline) return;
      const op = nextOp();
      if (!op) return;
      issued += op.length;
      await abortableDelay(at - performance.now(), opts.signal);
      if (opts.signal?.aborted) return;
      if (op.clear) {
        await op.disk.client.clearPages(op.offset, op.length, { abortSignal: opts.signal });
        op.disk.bytesCleared += op.length;
        progress.bytesCleared += op.length;
        progress.clears++;
      } else {
        const data = buf.subarray(0, op.length);
        crypto.randomFillSync(data);
        await op.disk.client.uploadPages(data, op.offset, op.length, { abortSignal: opts.signal });
        op.disk.bytesWritten += op.length;
        progress.bytesWritten += op.length;
        progress.writes++;
      }
      const now = performance.now();
      if (opts.onProgress && now - lastReport >= 1000) {
        lastReport = now;
        opts.onProgress({ ...progress, elapsedMs: now - started });
      }
    }
  };

  const results = await Promise.allSettled(Array.from({ length: concurrency }, worker));
  progress.elapsedMs = performance.now() - started;
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure && !opts.signal?.aborted) throw failure.reason;
  log.info('workload finished', {
    disks: disks.length,
    pattern,
    bytesWritten: progress.bytesWritten,
    bytesCleared: progress.bytesCleared,
    elapsedMs: Math.round(progress.elapsedMs),
  });
  return {
    ...progress,
    perDisk: disks.map((d) => ({ url: redactUrl(d.url), bytesWritten: d.bytesWritten, bytesCleared: d.bytesCleared })),
  };
}

/** The allocated ranges of a page blob (Get Page Ranges), cut into pieces of at most `pieceBytes`, in offset order. */
async function allocatedPieces(client: PageBlobClient, size: number, pieceBytes: number, signal?: AbortSignal): Promise<Array<[number, number]>> {
  const ranges: Array<[number, number]> = [];
  for await (const page of client.listPageRanges(0, size, { abortSignal: signal }).byPage()) {
    for (const r of page.pageRange ?? []) ranges.push([r.start, r.end + 1]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const pieces: Array<[number, number]> = [];
  for (const [start, end] of ranges) for (let o = start; o < end; o += pieceBytes) pieces.push([o, Math.min(end, o + pieceBytes) - o]);
  return pieces;
}

export interface FillDiskOptions {
  credential?: DiskCredential;
  /** First byte to fill (multiple of 512, default 0). */
  offset?: number;
  /** Bytes to fill (multiple of 512, default: to the end of the disk). */
  bytes?: number;
  /** Fraction (0..1] of 4 MiB chunks written, chosen by `seed` (default 1: all). */
  fraction?: number;
  seed?: number;
  concurrency?: number;
  signal?: AbortSignal;
}

/**
 * Writes random data (a fresh OS disk should not be all zeros, or hashes mean nothing). Returns the bytes
 * written.
 */
export async function fillDisk(url: string, opts: FillDiskOptions = {}): Promise<number> {
  const client = pageBlobClient(url, opts.credential);
  const size = (await client.getProperties({ abortSignal: opts.signal })).contentLength ?? 0;
  const offset = opts.offset ?? 0;
  const end = Math.min(size, opts.bytes === undefined ? size : offset + opts.bytes);
  if (offset % 512 !== 0 || end % 512 !== 0) throw new Error('fillDisk offset and bytes must be multiples of 512');
  const fraction = opts.fraction ?? 1;
  const rand = seededRandom(opts.seed ?? 1);
  const chunks: Array<[number, number]> = [];
  for (let o = offset; o < end; o += MAX_WRITE) {
    if (fraction >= 1 || rand() < fraction) chunks.push([o, Math.min(end, o + MAX_WRITE)]);
  }
  let next = 0;
  let written = 0;
  const worker = async (): Promise<void> => {
    const buf = Buffer.allocUnsafe(MAX_WRITE);
    while (next < chunks.length) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
      const [s, e] = chunks[next++]!;
      const data = buf.subarray(0, e - s);
      crypto.randomFillSync(data);
      await client.uploadPages(data, s, e - s, { abortSignal: opts.signal });
      written += e - s;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 4) }, worker));
  return written;
}
