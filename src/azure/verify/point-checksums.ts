/**
 * The checksums a recovery point's cycle wrote, kept in target storage beside each replica blob so a sealed
 * point can be verified later without the source region and without reading its bytes here.
 *
 * Capture stages every changed chunk of the source's disk restore point into the cache with Put Block From
 * URL and records the CRC-64 storage computed for it (the cycle's manifest, src/datapath/manifest.ts). When
 * the datapath seals point n it copies those (offset, length, checksum) lines into
 *   <replica blob>.checksums/<cycle, 10 digits>.ndjson        (a block blob in the replica container)
 *   {"t":"h","v":1,"cycle":7,"disk":"os","full":true,"sizeBytes":…}   header
 *   {"o":<disk offset>,"n":<bytes>,"x":"<crc64 base64>"}             (or "m": MD5) one per chunk written
 *   {"t":"e","ranges":…,"bytes":…}                                    trailer
 * Chunks of one cycle never overlap, so in point n's snapshot each recorded range must still hold exactly
 * what capture read from the source: verifyAgainstRecord has storage compute each range's checksum on the
 * snapshot (Put Block From URL into a scratch blob; storage-checksums.ts) and compares. A full cycle (the
 * initial sync, a resync) records every allocated range of the disk; a later cycle only what it changed.
 */
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import type { BlobClient, BlockBlobClient } from '@azure/storage-blob';
import { TaskPool } from '../../util/task-pool.ts';
import { matchesChecksum, type ChecksumSide, type StagedChecksum } from '../storage-checksums.ts';

export const RECORD_VERSION = 1;

export interface RecordHeader {
  t: 'h';
  v: 1;
  cycle: number;
  disk: string;
  full: boolean;
  sizeBytes: number;
}

/** One chunk the cycle wrote, with the checksum storage computed from the source at capture. */
export type RecordedRange = { o: number; n: number } & StagedChecksum;

/** The record's name beside a replica blob (`<blob name>.checksums/<cycle>.ndjson`). */
export function checksumRecordName(blobName: string, cycle: number): string {
  return `${blobName}.checksums/${String(cycle).padStart(10, '0')}.ndjson`;
}

/** The record's URL beside the replica blob at `blobUrl` (its URL's path gets the same suffix). */
export function checksumRecordUrl(blobUrl: string, cycle: number): string {
  const url = new URL(blobUrl);
  const path = url.pathname.split('/');
  const blob = path.pop() ?? '';
  url.pathname = [...path, ...checksumRecordName(decodeURIComponent(blob), cycle).split('/').map(encodeURIComponent)].join('/');
  return url.toString();
}

/** The cycle a record name (under `<blob>.checksums/`) belongs to; undefined for other blobs. */
export function cycleOfRecord(name: string): number | undefined {
  const match = /\.checksums\/(\d{10})\.ndjson$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** Writes a record from the ranges a cycle wrote (streamed: bounded memory whatever the disk's size). */
export async function writeChecksumRecord(blob: BlockBlobClient, header: Omit<RecordHeader, 't' | 'v'>, ranges: AsyncIterable<RecordedRange>, signal?: AbortSignal): Promise<void> {
  async function* lines(): AsyncGenerator<string> {
    yield `${JSON.stringify({ t: 'h', v: RECORD_VERSION, ...header })}\n`;
    let count = 0;
    let bytes = 0;
    for await (const r of ranges) {
      count += 1;
      bytes += r.n;
      yield `${JSON.stringify(r)}\n`;
    }
    yield `${JSON.stringify({ t: 'e', ranges: count, bytes })}\n`;
  }
  await blob.uploadStream(Readable.from(lines()), 1024 * 1024, 2, { abortSignal: signal, blobHTTPHeaders: { blobContentType: 'application/x-ndjson' } });
}

/** Reads a record: its ranges, then checks the trailer (a truncated record is an error, not a pass). */
export async function* readChecksumRecord(blob: BlobClient, expect: { cycle: number }, signal?: AbortSignal): AsyncGenerator<RecordedRange> {
  const body = (await blob.download(0, undefined, { abortSignal: signal })).readableStreamBody;
  if (!body) throw new Error(`checksum record ${blob.name} has no body`);
  let header: RecordHeader | undefined;
  let seen = 0;
  let trailer: { ranges: number } | undefined;
  for await (const text of createInterface({ input: body as Readable, crlfDelay: Infinity })) {
    if (!text) continue;
    const line = JSON.parse(text) as (RecordHeader | { t: 'e'; ranges: number } | RecordedRange) & { t?: string };
    if (line.t === 'h') header = line as RecordHeader;
    else if (line.t === 'e') trailer = line as { ranges: number };
    else {
      if (!header || header.cycle !== expect.cycle) throw new Error(`checksum record ${blob.name} has no header for cycle ${expect.cycle}`);
      seen += 1;
      yield line as RecordedRange;
    }
  }
  if (!trailer || trailer.ranges !== seen) throw new Error(`checksum record ${blob.name} is truncated`);
}

export interface RecordCheck {
  /** Ranges checked, and their bytes that matched. */
  ranges: number;
  bytesVerified: number;
  /** Ranges whose checksum differs, and the lowest offset of one. */
  differingRanges: number;
  firstDifferingOffset?: number;
  /** Put Block From URL requests made. */
  requests: number;
}

/**
 * Checks every range of `record` on `snapshot` (where storage reads the point's replica snapshot, staging
 * into `snapshot.scratch`): each must have the recorded checksum. No byte of the disk reaches this process.
 */
export async function verifyAgainstRecord(snapshot: ChecksumSide, record: AsyncIterable<RecordedRange>, options: { concurrency?: number; signal?: AbortSignal } = {}): Promise<RecordCheck> {
  const concurrency = Math.max(1, options.concurrency ?? 8);
  const out: RecordCheck = { ranges: 0, bytesVerified: 0, differingRanges: 0, requests: 0 };
  // Block ids reused per slot: the scratch blob never holds more than the blocks in flight.
  let next = 0;
  const blockId = () => Buffer.from(`point${String(next++ % (concurrency * 2)).padStart(6, '0')}`).toString('base64');
  const pool = new TaskPool(concurrency);
  try {
    for await (const r of record) {
      await pool.submit(async () => {
        const expected: StagedChecksum = 'x' in r ? { x: r.x } : { m: r.m };
        out.requests += 1;
        const same = await matchesChecksum(snapshot, { start: r.o, end: r.o + r.n }, blockId(), expected, options.signal);
        out.ranges += 1;
        if (same) {
          out.bytesVerified += r.n;
          return;
        }
        out.differingRanges += 1;
        if (out.firstDifferingOffset === undefined || r.o < out.firstDifferingOffset) out.firstDifferingOffset = r.o;
      });
    }
    await pool.drain();
  } catch (error) {
    await pool.drain().catch(() => undefined);
    throw error;
  }
  return out;
}
