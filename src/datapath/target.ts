/**
 * Apply: the replica side. Each protected disk has a page blob in the VM's replica container (created
 * empty at the disk's size), leased by the owner (fence.ts). Its metadata is the apply checkpoint, written
 * under the lease:
 *   srepoch     the journal epoch the other fields belong to (progress of another journal is ignored),
 *   srcycle     the newest cycle fully applied to this blob,
 *   srprogress  "<cycle>:<item>" while a cycle is being applied: items before <item> are written.
 * A cycle's items never overlap and hold the data as of that cycle's capture, so replaying items of the
 * cycle in progress over a partly applied blob is harmless, and a blob is never taken back: srcycle
 * only grows, and a cycle is applied only onto the state of the cycle before it (or as a full copy).
 *
 * Data moves storage to storage: Put Page From URL (4 MiB at most) from the cache segment, authorized
 * with our bearer token, and x-ms-source-content-crc64 (or -md5) = the chunk's checksum from the manifest,
 * so storage refuses a corrupted chunk (Crc64Mismatch, Md5Mismatch) and the datapath never holds the data.
 */
import type { ContainerClient, PageBlobClient } from '@azure/storage-blob';
import type { ProtectedDisk } from '../api/types.ts';
import { fenced, type BlobFence } from './fence.ts';
import type { CycleRecord, DiskCycle } from './journal.ts';
import { CacheDataError, manifestName, md5Of, readManifest, segmentName, type DataItem } from './manifest.ts';
import { TaskPool, Watermark } from '../util/task-pool.ts';
import { LIST_WINDOW, fromSdkRange, windows } from '../util/byte-ranges.ts';
import { storageError, type BlobAccess } from './storage.ts';

const CHECKPOINT_INTERVAL_MS = 2000;

export interface TargetDisk {
  name: string;
  blob: PageBlobClient;
  sizeBytes: number;
  /** Newest cycle fully applied under the current epoch (0: none or unknown). */
  applied: number;
  progress?: { cycle: number; item: number };
  metadata: Record<string, string>;
}

export function targetBlobName(disk: ProtectedDisk): string {
  return disk.targetBlobName ?? `${disk.name}.vhd`;
}

/** Creates the replica blob if needed, takes its lease (breaking any other: we hold the journal) and reads the checkpoint. */
export async function openTarget(replica: ContainerClient, disk: ProtectedDisk, fence: BlobFence, epoch: string): Promise<TargetDisk> {
  const blob = replica.getPageBlobClient(targetBlobName(disk));
  try {
    await blob.create(disk.sizeBytes, { conditions: { ifNoneMatch: '*' } });
  } catch (error) {
    const { status } = storageError(error);
    if (status !== 409 && status !== 412) throw error;
  }
  await fence.acquire(blob, () => true);
  const properties = await blob.getProperties({ conditions: { leaseId: fence.leaseId } });
  const metadata = properties.metadata ?? {};
  const sameEpoch = metadata.srepoch === epoch;
  const progress = sameEpoch && metadata.srprogress ? /^(\d+):(\d+)$/.exec(metadata.srprogress) : null;
  return {
    name: disk.name,
    blob,
    sizeBytes: properties.contentLength ?? disk.sizeBytes,
    applied: sameEpoch ? Number(metadata.srcycle ?? 0) : 0,
    ...(progress ? { progress: { cycle: Number(progress[1]), item: Number(progress[2]) } } : {}),
    metadata,
  };
}

async function writeCheckpoint(target: TargetDisk, fence: BlobFence, epoch: string, fields: { srcycle?: number; srprogress?: string | undefined }): Promise<void> {
  const metadata: Record<string, string> = { ...target.metadata, srepoch: epoch };
  if (fields.srcycle !== undefined) metadata.srcycle = String(fields.srcycle);
  if (fields.srprogress === undefined) delete metadata.srprogress;
  else metadata.srprogress = fields.srprogress;
  await fenced('checkpointing apply progress', () => target.blob.setMetadata(metadata, { conditions: { leaseId: fence.leaseId } }));
  target.metadata = metadata;
  const progress = fields.srprogress ? /^(\d+):(\d+)$/.exec(fields.srprogress) : null;
  if (progress) target.progress = { cycle: Number(progress[1]), item: Number(progress[2]) };
  else if (fields.srprogress === undefined && fields.srcycle !== undefined) delete target.progress;
}

export interface ApplyDeps {
  blobs: BlobAccess;
  cache: ContainerClient;
  fence: BlobFence;
  epoch: string;
  concurrency: number;
  signal: AbortSignal;
  onApplied?(bytes: number): void;
}

/** Whether `target` can take cycle `record` now: the next cycle in its chain, or a full copy. */
export function canApply(target: TargetDisk, entry: DiskCycle | undefined, cycle: number): boolean {
  if (!entry || target.applied >= cycle) return false;
  // The differences from a seed were measured against the blob before any cycle was applied to it.
  if (entry.seeded) return target.applied === 0;
  return entry.full || target.applied === cycle - 1;
}

/**
 * Applies one disk's part of a cycle. Throws CacheDataError when the cache data is missing or corrupt
 * (nothing of the bad chunk is written), FenceLostError when another replica took the blob.
 */
export async function applyDisk(deps: ApplyDeps, target: TargetDisk, record: CycleRecord, entry: DiskCycle): Promise<void> {
  const { signal, fence } = deps;
  const manifest = deps.cache.getBlobClient(manifestName(record.cycle, record.attempt, target.name));
  const download = async () => {
    try {
      return (await manifest.download(0, undefined, { abortSignal: signal })).readableStreamBody as NodeJS.ReadableStream;
    } catch (error) {
      if (storageError(error).status === 404) throw new CacheDataError('missing', `manifest of ${target.name} for cycle ${record.cycle} is missing`);
      throw error;
    }
  };
  if ((await md5Of((await download()) as never)) !== entry.manifestMd5) {
    throw new CacheDataError('corrupt', `manifest of ${target.name} for cycle ${record.cycle} does not match its checksum`);
  }

  const from = target.progress?.cycle === record.cycle ? target.progress.item : 0;
  if (entry.sizeBytes > target.sizeBytes) {
    await fenced('growing the replica blob', () => target.blob.resize(entry.sizeBytes, { conditions: { leaseId: fence.leaseId } }));
    target.sizeBytes = entry.sizeBytes;
  }
  if (entry.full && from === 0) await clearAll(target, fence, signal);

  const auth = await deps.blobs.copySourceAuthorization();
  const pool = new TaskPool(deps.concurrency);
  const mark = new Watermark(from);
  let checkpointAt = Date.now();
  try {
    for await (const { index, item } of readManifest((await download()) as never, { cycle: record.cycle, disk: target.name })) {
      if (index < from) continue;
      await pool.submit(async () => {
        if (item.t === 'd') {
          const source = deps.cache.getBlobClient(segmentName(record.cycle, record.attempt, target.name, item.s)).url;
          await putFromUrl(target, fence, source, item, auth, signal);
          deps.onApplied?.(item.n);
        } else {
          await fenced('clearing pages', () => target.blob.clearPages(item.o, item.n, { conditions: { leaseId: fence.leaseId }, abortSignal: signal }));
        }
        mark.complete(index);
      });
      if (Date.now() - checkpointAt > CHECKPOINT_INTERVAL_MS) {
        checkpointAt = Date.now();
        await writeCheckpoint(target, fence, deps.epoch, { srprogress: `${record.cycle}:${mark.value}` });
      }
    }
    await pool.drain();
  } catch (error) {
    await pool.drain().catch(() => undefined);
    // Keep what was done: a retry resumes after the last contiguous item written.
    if (!(error instanceof CacheDataError) && mark.value > from) {
      await writeCheckpoint(target, fence, deps.epoch, { srprogress: `${record.cycle}:${mark.value}` }).catch(() => undefined);
    }
    throw error;
  }
  await writeCheckpoint(target, fence, deps.epoch, { srcycle: record.cycle, srprogress: undefined });
  target.applied = record.cycle;
  delete target.progress;
}

async function putFromUrl(target: TargetDisk, fence: BlobFence, source: string, item: DataItem, auth: { scheme: 'Bearer'; value: string }, signal: AbortSignal): Promise<void> {
  const checksum = item.x !== undefined ? { sourceContentCrc64: Buffer.from(item.x, 'base64') } : { sourceContentMD5: Buffer.from(item.m ?? '', 'base64') };
  try {
    await fenced('writing pages', () =>
      target.blob.uploadPagesFromURL(source, item.so, item.o, item.n, {
        ...checksum,
        sourceAuthorization: auth,
        conditions: { leaseId: fence.leaseId },
        abortSignal: signal,
      }),
    );
  } catch (error) {
    const { status, code } = storageError(error);
    const sourceStatus = (error as { response?: { headers?: { get?(n: string): string | undefined } } }).response?.headers?.get?.('x-ms-copy-source-status-code');
    if (code === 'Md5Mismatch' || code === 'Crc64Mismatch' || code === 'InvalidSourceRange' || code === 'InvalidRange') {
      throw new CacheDataError('corrupt', `cache chunk at ${item.o} of ${target.name} failed its checksum (${code})`);
    }
    if (code === 'CannotVerifyCopySource' && (status === 404 || sourceStatus === '404')) {
      throw new CacheDataError('missing', `cache segment for ${target.name} at ${item.o} is missing`);
    }
    throw error;
  }
}

/** A full copy starts from zeros: clear every allocated range of the replica blob. */
async function clearAll(target: TargetDisk, fence: BlobFence, signal: AbortSignal): Promise<void> {
  for (const w of windows(target.sizeBytes, LIST_WINDOW)) {
    const list = await target.blob.getPageRanges(w.start, w.end - w.start, { abortSignal: signal });
    for (const r of (list.pageRange ?? []).map(fromSdkRange)) {
      await fenced('clearing the replica blob', () => target.blob.clearPages(r.start, r.end - r.start, { conditions: { leaseId: fence.leaseId }, abortSignal: signal }));
    }
  }
}

/**
 * Snapshots every replica blob (under the lease): the content of a sealed recovery point. Each snapshot
 * carries `metadata(disk)`, what rebuilding the point from target storage alone needs (point-metadata.ts).
 */
export async function snapshotAll(targets: readonly TargetDisk[], fence: BlobFence, metadata: (disk: string) => Record<string, string>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const target of targets) {
    const snapshot = await fenced('snapshotting the replica blob', () => target.blob.createSnapshot({ metadata: metadata(target.name), conditions: { leaseId: fence.leaseId } }));
    if (!snapshot.snapshot) throw new Error(`no snapshot time returned for ${target.name}`);
    out[target.name] = snapshot.snapshot;
  }
  return out;
}
