/**
 * Capture, one cycle of one VM (DESIGN §2): a VM restore point (all disks at one instant), read access
 * to each disk restore point, the ranges to copy (every allocated range for a full copy — initial sync
 * or resync — else Get Page Ranges diff against the previous cycle's disk restore point, which also
 * names the cleared ranges), and those ranges copied into the cache as segments, each chunk with the
 * checksum storage computed for it, plus a manifest per disk. Nothing is visible until the caller
 * commits the returned record to the journal; a capture cut short leaves only data that garbage
 * collection removes.
 *
 * Data moves storage to storage: each chunk (at most 4 MiB) is staged as a block of its segment with Put
 * Block From URL from the disk restore point's read SAS, so the bytes never pass through the datapath;
 * the service answers with the block's CRC-64 (or MD5), which the manifest records and apply has the
 * service check again (target.ts). Memory is bounded whatever the disk size: ranges are listed window by
 * window (1 GiB) and at most `concurrency` chunks are in flight.
 */
import { randomUUID } from 'node:crypto';
import type { BlockBlobClient, ContainerClient, PageBlobClient } from '@azure/storage-blob';
import type { ConsistencyType } from '../api/types.ts';
import { isAzureNotFound } from '../azure/errors.ts';
import type { CycleRecord, DiskCycle, JournalState } from './journal.ts';
import { ManifestWriter, SEGMENT_CHUNKS, manifestName, segmentName } from './manifest.ts';
import { TaskPool } from '../util/task-pool.ts';
import { LIST_WINDOW, chunks, fromSdkRange, normalize, windows, type ByteRange } from '../util/byte-ranges.ts';
import { restorePointName, type RestorePoints } from './restore-points.ts';
import { removeScratch, stagedChecksum } from '../azure/storage-checksums.ts';
import { differingRanges } from './seed.ts';
import { storageError, type BlobAccess } from './storage.ts';

interface CaptureDisk {
  name: string;
  sourceDiskId: string;
  /**
   * The replica blob, when it holds a seed and nothing else yet: only what differs from it is copied
   * (seed.ts); with a scratch block blob beside it for the comparison's checksums.
   */
  seed?: { replica: PageBlobClient; scratch: BlockBlobClient };
}

export interface CaptureInput {
  cycle: number;
  consistency: ConsistencyType;
  base: JournalState['base'];
  /** Disks that must be copied in full this time. */
  resync: readonly string[];
  disks: readonly CaptureDisk[];
  syncToken?: string;
}

export interface CaptureDeps {
  points: RestorePoints;
  blobs: BlobAccess;
  cache: ContainerClient;
  concurrency: number;
  signal: AbortSignal;
  /** Bytes a full copy will move (known before the copy starts). */
  onPlanned?(bytes: number): void;
  /** Bytes copied into the cache so far (called per chunk). */
  onCopied?(bytes: number): void;
  /** Seeded disks: bytes compared with the seed so far, and how many of them matched. */
  onCompared?(bytes: number, matched: number): void;
}

export interface CaptureResult {
  record: CycleRecord;
  base: NonNullable<JournalState['base']>;
}


export async function captureCycle(deps: CaptureDeps, input: CaptureInput): Promise<CaptureResult> {
  const { signal } = deps;
  const pointName = restorePointName(input.cycle);
  const mode = input.consistency === 'AppConsistent' ? 'ApplicationConsistent' : 'CrashConsistent';
  const ensured = await deps.points.ensure(pointName, mode, signal);
  let { point } = ensured;
  if (ensured.reused && input.disks.some((d) => !deps.points.find(deps.points.disksOf(point), d.sourceDiskId))) {
    // An earlier attempt's restore point, taken before a disk was attached: take it again.
    await deps.points.remove(pointName, signal);
    ({ point } = await deps.points.ensure(pointName, mode, signal));
  }
  const captured = deps.points.disksOf(point);
  const time = point.timeCreated ? new Date(point.timeCreated).toISOString() : new Date().toISOString();
  const attempt = randomUUID().slice(0, 8);
  const pool = new TaskPool(deps.concurrency);
  const plans: Array<{ disk: CaptureDisk; source: PageBlobClient; sourceUrl: string; baseUrl: string | undefined; seed: CaptureDisk['seed']; sizeBytes: number; drp: string }> = [];

  // Sources and diff bases first (and the planned size of full copies, for progress).
  for (const disk of input.disks) {
    const drp = deps.points.find(captured, disk.sourceDiskId);
    if (!drp) throw new Error(`restore point ${pointName} has no disk restore point for ${disk.name} (${disk.sourceDiskId})`);
    const sourceUrl = await deps.points.readUrl(pointName, drp, signal);
    const source = deps.blobs.sasPageBlob(sourceUrl);
    const sizeBytes = (await source.getProperties({ abortSignal: signal })).contentLength ?? 0;
    let baseUrl: string | undefined;
    const baseDrp = input.base?.disks[disk.name];
    if (input.base && baseDrp && !input.resync.includes(disk.name)) {
      baseUrl = await deps.points.readUrl(input.base.restorePoint, baseDrp, signal).catch((error: unknown) => {
        if (isAzureNotFound(error)) return undefined; // the base is gone: copy this disk in full
        throw error;
      });
      if (baseUrl && !(await diffable(source, baseUrl, signal))) baseUrl = undefined;
    }
    plans.push({ disk, source, sourceUrl, baseUrl, seed: baseUrl ? undefined : disk.seed, sizeBytes, drp });
  }
  if (deps.onPlanned) {
    let planned = 0;
    for (const plan of plans) if (!plan.baseUrl) planned += await allocatedBytes(plan.source, plan.sizeBytes, signal);
    deps.onPlanned(planned);
  }

  const disks: Record<string, DiskCycle> = {};
  const writers: Array<{ name: string; writer: ManifestWriter; full: boolean; seeded: boolean; sizeBytes: number }> = [];
  try {
    for (const plan of plans) {
      const full = plan.baseUrl === undefined && plan.seed === undefined;
      const writer = new ManifestWriter(deps.cache, manifestName(input.cycle, attempt, plan.disk.name), { cycle: input.cycle, disk: plan.disk.name, full, sizeBytes: plan.sizeBytes });
      writers.push({ name: plan.disk.name, writer, full, seeded: plan.seed !== undefined, sizeBytes: plan.sizeBytes });
      await copyDisk(deps, { ...plan, cycle: input.cycle, attempt, writer, pool });
    }
    await pool.drain();
  } catch (error) {
    await pool.drain().catch(() => undefined);
    throw error;
  }
  for (const { name, writer, full, seeded, sizeBytes } of writers) {
    const summary = await writer.commit();
    disks[name] = { full, ...(seeded ? { seeded } : {}), sizeBytes, bytes: summary.bytes, chunks: summary.chunks, clears: summary.clears, manifestMd5: summary.md5 };
  }
  const record: CycleRecord = { cycle: input.cycle, attempt, restorePoint: pointName, time, consistency: input.consistency, disks, ...(input.syncToken ? { syncToken: input.syncToken } : {}) };
  const base = { cycle: input.cycle, restorePoint: pointName, time, disks: Object.fromEntries(plans.map((p) => [p.disk.name, p.drp])) };
  return { record, base };
}

/** False when the service cannot diff against the base any more (it was deleted): copy in full then. */
async function diffable(source: PageBlobClient, baseUrl: string, signal: AbortSignal): Promise<boolean> {
  try {
    await source.getPageRangesDiffForManagedDisks(0, 512, baseUrl, { abortSignal: signal });
    return true;
  } catch (error) {
    const { status, code } = storageError(error);
    if (status === 404 || code === 'PreviousSnapshotNotFound' || code === 'PreviousSnapshotOperationNotSupported') return false;
    throw error;
  }
}

async function allocatedBytes(source: PageBlobClient, sizeBytes: number, signal: AbortSignal): Promise<number> {
  let total = 0;
  for (const w of windows(sizeBytes, LIST_WINDOW)) {
    const list = await source.getPageRanges(w.start, w.end - w.start, { abortSignal: signal });
    for (const r of list.pageRange ?? []) total += fromSdkRange(r).end - r.offset;
  }
  return total;
}

interface CopyPlan {
  disk: CaptureDisk;
  source: PageBlobClient;
  /** The disk restore point's read SAS URL: the copy source. */
  sourceUrl: string;
  baseUrl: string | undefined;
  seed: CaptureDisk['seed'];
  sizeBytes: number;
  cycle: number;
  attempt: string;
  writer: ManifestWriter;
  pool: TaskPool;
}

/** Lists one disk's ranges window by window and hands each chunk to the pool. */
async function copyDisk(deps: CaptureDeps, plan: CopyPlan): Promise<void> {
  const { signal } = deps;
  let segment = new Segment(deps.cache, segmentName(plan.cycle, plan.attempt, plan.disk.name, 0), 0);
  for (const w of windows(plan.sizeBytes, LIST_WINDOW)) {
    signal.throwIfAborted();
    let data: ByteRange[];
    let cleared: ByteRange[] = [];
    if (plan.baseUrl) {
      const diff = await plan.source.getPageRangesDiffForManagedDisks(w.start, w.end - w.start, plan.baseUrl, { abortSignal: signal });
      data = (diff.pageRange ?? []).map(fromSdkRange);
      cleared = (diff.clearRange ?? []).map(fromSdkRange);
    } else if (plan.seed) {
      const sides = { source: plan.source, sourceUrl: plan.sourceUrl, replica: plan.seed.replica, sourceScratch: deps.cache.getBlockBlobClient(`seed-compare/${plan.disk.name}`), replicaScratch: plan.seed.scratch, auth: await deps.blobs.copySourceAuthorization() };
      try {
        ({ data, cleared } = await differingRanges(sides, w, { concurrency: deps.concurrency, signal, onCompared: deps.onCompared }));
      } finally {
        await Promise.all([removeScratch(sides.sourceScratch), removeScratch(sides.replicaScratch)]);
      }
    } else {
      data = ((await plan.source.getPageRanges(w.start, w.end - w.start, { abortSignal: signal })).pageRange ?? []).map(fromSdkRange);
    }
    for (const r of normalize(cleared)) await plan.writer.add({ t: 'c', o: r.start, n: r.end - r.start });
    for (const chunk of chunks(normalize(data))) {
      if (segment.count === SEGMENT_CHUNKS) {
        await segment.close();
        segment = new Segment(deps.cache, segmentName(plan.cycle, plan.attempt, plan.disk.name, segment.index + 1), segment.index + 1);
      }
      const seg = segment;
      const slot = seg.reserve(chunk.end - chunk.start);
      await plan.pool.submit(async () => {
        const n = chunk.end - chunk.start;
        const staged = await seg.blob.stageBlockFromURL(slot.blockId, plan.sourceUrl, chunk.start, n, { abortSignal: signal });
        await plan.writer.add({ t: 'd', o: chunk.start, n, s: seg.index, so: slot.offset, ...checksumOf(staged, chunk.start) });
        deps.onCopied?.(n);
        await seg.finished();
      });
    }
  }
  await segment.close();
}

/** The checksum storage computed for a staged chunk (see stagedChecksum); none is an error. */
function checksumOf(staged: { xMsContentCrc64?: Uint8Array; contentMD5?: Uint8Array }, offset: number): { x: string } | { m: string } {
  const checksum = stagedChecksum(staged);
  if (!checksum) throw new Error(`storage returned no checksum for the chunk at ${offset} (Put Block From URL)`);
  return checksum;
}

/** One segment blob: blocks staged concurrently, committed once closed and every block is staged. */
class Segment {
  readonly blob: BlockBlobClient;
  readonly index: number;
  private readonly blocks: string[] = [];
  private size = 0;
  private pending = 0;
  private closed = false;

  constructor(cache: ContainerClient, name: string, index: number) {
    this.blob = cache.getBlockBlobClient(name);
    this.index = index;
  }

  get count(): number {
    return this.blocks.length;
  }

  reserve(bytes: number): { blockId: string; offset: number } {
    const blockId = Buffer.from(String(this.blocks.length).padStart(6, '0')).toString('base64');
    const offset = this.size;
    this.blocks.push(blockId);
    this.size += bytes;
    this.pending += 1;
    return { blockId, offset };
  }

  async finished(): Promise<void> {
    this.pending -= 1;
    if (this.closed && this.pending === 0) await this.commit();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pending === 0 && this.blocks.length > 0) await this.commit();
  }

  private async commit(): Promise<void> {
    await this.blob.commitBlockList(this.blocks);
  }
}
