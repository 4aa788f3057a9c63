/**
 * Cache layout and the manifest format. One cycle of one disk lives under
 *   cycles/<cycle, 10 digits>/<attempt>/<disk>/
 * as segments `s<index>` (block blobs; one block per chunk of at most 4 MiB of changed data) and a
 * manifest `manifest.ndjson`, one JSON object per line, in this order:
 *   {"t":"h","v":1,"cycle":7,"disk":"os","full":false,"sizeBytes":…}          header
 *   {"t":"d","o":<disk offset>,"n":<bytes>,"s":<segment>,"so":<segment offset>,"x":"<crc64 base64>"}
 *                                                   (or "m":"<md5 base64>": the checksum storage gave)
 *   {"t":"c","o":<disk offset>,"n":<bytes>}                                   range cleared (trim)
 *   {"t":"e","chunks":…,"clears":…,"bytes":…}                                 trailer
 * Data and clear lines ("items") are numbered from 0 in file order: apply checkpoints by item number.
 * Items of one cycle never overlap, so their order does not matter and replaying any of them again over a
 * partly applied cycle is harmless. The manifest is written in blocks (bounded memory) and read as a
 * stream; its MD5 is recorded in the journal and checked before any line is trusted.
 */
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { BlockBlobClient, ContainerClient } from '@azure/storage-blob';

export const SEGMENT_CHUNKS = 64;
const MANIFEST_BLOCK_BYTES = 1024 * 1024;

export const pad = (n: number, width = 10): string => String(n).padStart(width, '0');

export function cyclePrefix(cycle: number): string {
  return `cycles/${pad(cycle)}/`;
}

function diskPrefix(cycle: number, attempt: string, disk: string): string {
  return `${cyclePrefix(cycle)}${attempt}/${disk}/`;
}

export const segmentName = (cycle: number, attempt: string, disk: string, segment: number): string => `${diskPrefix(cycle, attempt, disk)}s${pad(segment, 6)}`;
export const manifestName = (cycle: number, attempt: string, disk: string): string => `${diskPrefix(cycle, attempt, disk)}manifest.ndjson`;

export interface ManifestHeader {
  t: 'h';
  v: 1;
  cycle: number;
  disk: string;
  full: boolean;
  sizeBytes: number;
}
export interface DataItem {
  t: 'd';
  o: number;
  n: number;
  s: number;
  so: number;
  /** The chunk's checksum as the storage service computed it when staging it: CRC-64 (base64)... */
  x?: string;
  /** ...or MD5 (base64); exactly one of the two. */
  m?: string;
}
interface ClearItem {
  t: 'c';
  o: number;
  n: number;
}
interface ManifestTrailer {
  t: 'e';
  chunks: number;
  clears: number;
  bytes: number;
}
export type Item = DataItem | ClearItem;

/**
 * Writes a manifest as staged blocks of lines (bounded memory); commit() makes it visible and returns
 * its MD5. add() may be called from concurrent transfers: lines are buffered synchronously and blocks are
 * staged one after the other.
 */
export class ManifestWriter {
  private readonly blob: BlockBlobClient;
  private readonly hash = createHash('md5');
  private buffer: string[] = [];
  private bufferBytes = 0;
  private readonly blocks: string[] = [];
  private readonly counts = { chunks: 0, clears: 0, bytes: 0 };
  private flushing: Promise<void> = Promise.resolve();

  constructor(container: ContainerClient, name: string, header: Omit<ManifestHeader, 't' | 'v'>) {
    this.blob = container.getBlockBlobClient(name);
    this.line({ t: 'h', v: 1, ...header });
  }

  /** Adds an item; resolves once any block it filled is staged (back-pressure for the caller). */
  add(item: Item): Promise<void> {
    if (item.t === 'd') {
      this.counts.chunks += 1;
      this.counts.bytes += item.n;
    } else {
      this.counts.clears += 1;
    }
    this.line(item);
    return this.bufferBytes >= MANIFEST_BLOCK_BYTES ? this.flush() : Promise.resolve();
  }

  async commit(): Promise<{ md5: string; chunks: number; clears: number; bytes: number }> {
    this.line({ t: 'e', ...this.counts } satisfies ManifestTrailer);
    await this.flush();
    await this.blob.commitBlockList(this.blocks, { blobHTTPHeaders: { blobContentType: 'application/x-ndjson' } });
    return { md5: this.hash.digest('base64'), ...this.counts };
  }

  private line(value: object): void {
    const text = `${JSON.stringify(value)}\n`;
    this.buffer.push(text);
    this.bufferBytes += Buffer.byteLength(text);
  }

  private flush(): Promise<void> {
    if (this.buffer.length === 0) return this.flushing;
    const body = Buffer.from(this.buffer.join(''));
    this.buffer = [];
    this.bufferBytes = 0;
    this.hash.update(body);
    const id = Buffer.from(pad(this.blocks.length, 8)).toString('base64');
    this.blocks.push(id);
    this.flushing = this.flushing.then(() => this.blob.stageBlock(id, body, body.length)).then(() => undefined);
    return this.flushing;
  }
}

/** The manifest's data was damaged or is gone: never apply it; the disk resynchronises instead. */
export class CacheDataError extends Error {
  readonly kind: 'missing' | 'corrupt';
  constructor(kind: 'missing' | 'corrupt', message: string) {
    super(message);
    this.name = 'CacheDataError';
    this.kind = kind;
  }
}

/** MD5 of a stream (base64). */
export async function md5Of(stream: Readable): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('base64');
}

/**
 * Reads a verified manifest: yields items with their number, then checks the trailer against what was
 * read (a truncated manifest is corrupt even when its MD5 was somehow right).
 */
export async function* readManifest(stream: Readable, expect: { cycle: number; disk: string }): AsyncGenerator<{ index: number; item: Item; header: ManifestHeader }> {
  let header: ManifestHeader | undefined;
  let trailer: ManifestTrailer | undefined;
  let index = 0;
  const seen = { chunks: 0, clears: 0, bytes: 0 };
  for await (const text of createInterface({ input: stream, crlfDelay: Infinity })) {
    if (!text) continue;
    let line: ManifestHeader | Item | ManifestTrailer;
    try {
      line = JSON.parse(text) as ManifestHeader | Item | ManifestTrailer;
    } catch {
      throw new CacheDataError('corrupt', `manifest line ${index} is not JSON`);
    }
    if (trailer) throw new CacheDataError('corrupt', 'manifest has lines after its trailer');
    if (line.t === 'h') {
      if (header || line.cycle !== expect.cycle || line.disk !== expect.disk) throw new CacheDataError('corrupt', 'manifest header does not match the cycle');
      header = line;
    } else if (line.t === 'e') {
      trailer = line;
    } else {
      if (!header) throw new CacheDataError('corrupt', 'manifest has no header');
      if (line.t === 'd') {
        seen.chunks += 1;
        seen.bytes += line.n;
        if (typeof line.x !== 'string' && typeof line.m !== 'string') throw new CacheDataError('corrupt', `manifest line ${index} has no checksum`);
      } else if (line.t === 'c') {
        seen.clears += 1;
      } else {
        throw new CacheDataError('corrupt', `manifest line ${index} has an unknown type`);
      }
      yield { index, item: line, header };
      index += 1;
    }
  }
  if (!trailer || trailer.chunks !== seen.chunks || trailer.clears !== seen.clears || trailer.bytes !== seen.bytes) {
    throw new CacheDataError('corrupt', 'manifest is truncated');
  }
}
