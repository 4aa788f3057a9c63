/**
 * Reading disks for a DR drill through the public data plane only, so the same code checks a drill on
 * Azure and on the local sandbox:
 *   - a managed disk is read through an incremental snapshot of it (allowed while its VM runs, and it does
 *     not disturb the VM) exported with the ARM `beginGrantAccess` SAS, then access is revoked and the
 *     snapshot deleted;
 *   - a recovery point's replica snapshot is read with the process's own credential (Storage Blob Data
 *     Reader on the target storage account).
 * Hashes are sha256 over the first `length` bytes, unallocated pages read as zeros (only allocated ranges
 * are downloaded).
 */
import crypto from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';
import { AnonymousCredential, PageBlobClient } from '@azure/storage-blob';
import type { AzureClients } from '../azure/clients.ts';
import { parseArmId } from '../azure/arm-id.ts';

const CHUNK = 4 * 1024 * 1024;
const ZEROS = Buffer.alloc(CHUNK);
const POLL = { updateIntervalInMs: 250 } as const;
const SAS_SECONDS = 3600;
const PIPELINE = { retryOptions: { maxTries: 5, tryTimeoutInMs: 120_000 } };

export interface DiskHash {
  sha256: string;
  /** Bytes covered by the hash. */
  bytes: number;
}

/** sha256 of a page blob's first `length` bytes (the blob's length if smaller is an error). */
export async function hashPageBlob(client: PageBlobClient, length: number, signal?: AbortSignal): Promise<DiskHash> {
  const props = await client.getProperties({ abortSignal: signal });
  const size = props.contentLength ?? 0;
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
  const inflight = new Map<number, Promise<Buffer>>();
  let next = 0;
  for (let i = 0; i < pieces.length; i++) {
    while (next < pieces.length && inflight.size < 4) {
      const p = pieces[next]!;
      if (p.read) {
        const read = client.downloadToBuffer(p.start, p.end - p.start, { abortSignal: signal, concurrency: 1 });
        read.catch(() => undefined); // awaited in order below
        inflight.set(next, read);
      }
      next++;
    }
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
  return { sha256: hash.digest('hex'), bytes: length };
}

export class DrillDiskReader {
  private readonly az: AzureClients;
  private readonly credential: TokenCredential;
  private readonly tag: string;

  /** `tag`: a name for what the snapshots are for (the FailoverRequest), recorded as an Azure tag. */
  constructor(az: AzureClients, credential: TokenCredential, tag: string) {
    this.az = az;
    this.credential = credential;
    this.tag = tag;
  }

  /** sha256 of a recovery point's replica blob snapshot, read with the process's credential. */
  hashReplicaSnapshot(blobUrl: string, snapshot: string, length: number, signal?: AbortSignal): Promise<DiskHash> {
    const client = new PageBlobClient(blobUrl, this.credential, PIPELINE).withSnapshot(snapshot);
    return hashPageBlob(client, length, signal);
  }

  /**
   * sha256 of a managed disk's first `length` bytes, as of now: an incremental snapshot of the disk (in its
   * resource group and region), read through a SAS from beginGrantAccess; the snapshot is always removed.
   */
  async hashManagedDisk(diskId: string, length: number, signal?: AbortSignal): Promise<DiskHash> {
    const { resourceGroup, name } = parseArmId(diskId);
    const compute = this.az.compute;
    const disk = await compute.disks.get(resourceGroup, name, { abortSignal: signal });
    const snapshotName = `${name.slice(0, 60)}-drill-${crypto.randomBytes(3).toString('hex')}`;
    let granted = false;
    let result: DiskHash | undefined;
    let failure: unknown;
    try {
      await compute.snapshots.beginCreateOrUpdateAndWait(
        resourceGroup,
        snapshotName,
        {
          location: disk.location,
          incremental: true,
          tags: { 'siterecovery-drill': this.tag },
          creationData: { createOption: 'Copy', sourceResourceId: disk.id },
        },
        { ...POLL, abortSignal: signal },
      );
      granted = true;
      const access = await compute.snapshots.beginGrantAccessAndWait(resourceGroup, snapshotName, { access: 'Read', durationInSeconds: SAS_SECONDS }, { ...POLL, abortSignal: signal });
      if (!access.accessSAS) throw new Error(`no read SAS was granted for snapshot ${snapshotName}`);
      result = await hashPageBlob(new PageBlobClient(access.accessSAS, new AnonymousCredential(), PIPELINE), length, signal);
    } catch (error) {
      failure = error;
    }
    // Not under `signal`: whatever happened, the drill leaves nothing of its own behind.
    let leftover: unknown;
    try {
      if (granted) await compute.snapshots.beginRevokeAccessAndWait(resourceGroup, snapshotName, POLL);
      await compute.snapshots.beginDeleteAndWait(resourceGroup, snapshotName, POLL);
    } catch (error) {
      leftover = error;
    }
    if (failure !== undefined) throw failure;
    if (leftover !== undefined) throw new Error(`could not remove the drill snapshot ${snapshotName}: ${errorText(leftover)}`, { cause: leftover });
    return result!;
  }
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
