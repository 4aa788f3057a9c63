// Managed-disk data plane operations the ARM emulator performs on behalf of Microsoft.Compute: create the
// page blob behind a disk, copy content (import from a blob URL, copy from a disk or snapshot), take
// point-in-time copies for snapshots and restore points, SAS URLs for beginGetAccess, delete.
// Everything goes through @azure/storage-blob against the storage backend's URLs.
import {
  AnonymousCredential,
  BlobSASPermissions,
  BlobServiceClient,
  PageBlobClient,
  SASProtocol,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
} from '@azure/storage-blob';
import { sandboxStorageCredential } from '../storage/token.ts';
import type { ArmStorageBackend } from './storage-backend.ts';

/** Largest Put Page body the service accepts. */
const MAX_PAGE_WRITE = 4 * 1024 * 1024;

export interface BlobLocation {
  endpoint: string;
  account: string;
  container: string;
  blob: string;
}

/** Splits a path-style blob URL (`https://host:port/account/container/blob/path`). */
export function parseBlobUrl(url: string): BlobLocation {
  const u = new URL(url);
  const parts = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length < 3) throw new Error(`not a path-style blob URL: ${u.origin}${u.pathname}`);
  const [account, container, ...blob] = parts as [string, string, ...string[]];
  return { endpoint: `${u.origin}/${account}/`, account, container, blob: blob.join('/') };
}

export class DiskData {
  private readonly storage: ArmStorageBackend;
  private readonly credentials = new Map<string, StorageSharedKeyCredential>();
  private readonly containers = new Set<string>();

  constructor(storage: ArmStorageBackend) {
    this.storage = storage;
  }

  url(resourceId: string): string {
    return this.storage.diskBlobUrl(resourceId);
  }

  private async credential(account: string): Promise<StorageSharedKeyCredential> {
    let c = this.credentials.get(account);
    if (!c) {
      c = new StorageSharedKeyCredential(account, await this.storage.accountKey(account));
      this.credentials.set(account, c);
    }
    return c;
  }

  private async client(url: string): Promise<PageBlobClient> {
    const loc = parseBlobUrl(url);
    return new PageBlobClient(url.split('?')[0]!, await this.credential(loc.account));
  }

  /**
   * A readable URL for a user-given source: kept as is when it carries a SAS; else, for an account of this
   * sandbox, a short-lived read user delegation SAS (ARM reads sources with the platform's rights, which an
   * account refusing its key, allowSharedKeyAccess false, still honours: signed with an Entra ID key).
   */
  private async readableUrl(url: string): Promise<string> {
    const u = new URL(url);
    if (u.searchParams.has('sig')) return url;
    const loc = parseBlobUrl(url);
    try {
      await this.storage.accountKey(loc.account);
    } catch {
      return url; // not an account of this sandbox: try anonymous access
    }
    // For the blob (sr=b) even when the URL names a snapshot: Azurite refuses a user delegation SAS for a
    // snapshot (sr=bs), and honours the blob's on its snapshots; this is the platform's own read, not a client's.
    const startsOn = new Date(Date.now() - 5 * 60_000);
    const expiresOn = new Date(Date.now() + 60 * 60_000);
    const key = await new BlobServiceClient(loc.endpoint, sandboxStorageCredential()).getUserDelegationKey(startsOn, expiresOn);
    const sas = generateBlobSASQueryParameters(
      {
        containerName: loc.container,
        blobName: loc.blob,
        permissions: BlobSASPermissions.parse('r'),
        startsOn,
        expiresOn,
        protocol: SASProtocol.Https,
      },
      key,
      loc.account,
    );
    return `${url}${u.search ? '&' : '?'}${sas.toString()}`;
  }

  private async ensureContainer(url: string): Promise<void> {
    const loc = parseBlobUrl(url);
    const key = `${loc.endpoint}${loc.container}`;
    if (this.containers.has(key)) return;
    const service = new BlobServiceClient(loc.endpoint, await this.credential(loc.account));
    await service.getContainerClient(loc.container).createIfNotExists();
    this.containers.add(key);
  }

  /** Creates (or re-creates, empty) the page blob of a disk/snapshot. */
  async create(resourceId: string, sizeBytes: number): Promise<void> {
    const url = this.url(resourceId);
    await this.ensureContainer(url);
    await (await this.client(url)).create(sizeBytes);
  }

  async exists(resourceId: string): Promise<boolean> {
    return (await this.client(this.url(resourceId))).exists();
  }

  async resize(resourceId: string, sizeBytes: number): Promise<void> {
    await (await this.client(this.url(resourceId))).resize(sizeBytes);
  }

  async delete(resourceId: string): Promise<void> {
    await (await this.client(this.url(resourceId))).deleteIfExists({ deleteSnapshots: 'include' });
  }

  /** Size in bytes of any blob URL (user-given source URLs too). */
  async sourceSize(url: string): Promise<number> {
    const props = await new PageBlobClient(await this.readableUrl(url), new AnonymousCredential()).getProperties();
    return props.contentLength ?? 0;
  }

  /**
   * Makes the blob of `dstId` a copy of `srcUrl` (any readable blob or snapshot URL), grown to `sizeBytes`.
   * Uses Copy Blob, which the storage front records as copy lineage (so page-range diffs between copies of
   * one disk stay incremental); falls back to copying allocated pages when Copy Blob is refused.
   */
  async createFromUrl(dstId: string, sizeBytes: number, srcUrl: string): Promise<void> {
    const readable = await this.readableUrl(srcUrl);
    const dstUrl = this.url(dstId);
    await this.ensureContainer(dstUrl);
    const dst = await this.client(dstUrl);
    let copied: boolean;
    try {
      const poller = await dst.beginCopyFromURL(readable, { intervalInMs: 50 });
      const result = await poller.pollUntilDone();
      copied = result.copyStatus === 'success';
    } catch {
      copied = false;
    }
    if (!copied) {
      await dst.create(sizeBytes);
      await copyPages(new PageBlobClient(readable, new AnonymousCredential()), dst);
      return;
    }
    const size = (await dst.getProperties()).contentLength ?? 0;
    if (size < sizeBytes) await dst.resize(sizeBytes);
  }

  /** Creates `dstId` as a copy of the disk/snapshot/disk restore point `srcId` (sizeBytes >= source size). */
  async createFromResource(dstId: string, sizeBytes: number, srcId: string): Promise<void> {
    await this.createFromUrl(dstId, sizeBytes, await this.sasUrl(srcId, 'Read', 3600));
  }

  /**
   * Point-in-time copies of several disks at one instant: writes to all sources are held (storage
   * freezeWrites) while each source is copied to its destination.
   */
  async snapshotTogether(pairs: { srcId: string; dstId: string; sizeBytes: number }[]): Promise<Date> {
    const urls = pairs.map((p) => this.url(p.srcId));
    return this.storage.freezeWrites(urls, async () => {
      const at = new Date();
      await Promise.all(pairs.map((p) => this.createFromResource(p.dstId, p.sizeBytes, p.srcId)));
      return at;
    });
  }

  /**
   * Holds writes to the disks until the returned function is called (an emulated guest's frozen file
   * systems, run-command.ts): writes in flight finish first, new ones wait; snapshots still pass.
   */
  async holdWrites(diskIds: string[]): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let frozen!: () => void;
    const isFrozen = new Promise<void>((resolve) => (frozen = resolve));
    const done = this.storage.freezeWrites(diskIds.map((id) => this.url(id)), async () => {
      frozen();
      await held;
    });
    await Promise.race([isFrozen, done]);
    return release;
  }

  /** SAS URL (read, or read+write) for the blob of a disk/snapshot, valid for `seconds`. */
  async sasUrl(resourceId: string, access: 'Read' | 'Write', seconds: number): Promise<string> {
    const url = this.url(resourceId);
    const loc = parseBlobUrl(url);
    const sas = generateBlobSASQueryParameters(
      {
        containerName: loc.container,
        blobName: loc.blob,
        permissions: BlobSASPermissions.parse(access === 'Write' ? 'rw' : 'r'),
        startsOn: new Date(Date.now() - 5 * 60_000),
        expiresOn: new Date(Date.now() + seconds * 1000),
        protocol: SASProtocol.Https,
      },
      await this.credential(loc.account),
    );
    return `${url}?${sas.toString()}`;
  }
}

/** Copies every allocated page range of `src` into `dst` (same offsets), in chunks of at most 4 MiB. */
export async function copyPages(src: PageBlobClient, dst: PageBlobClient): Promise<void> {
  for await (const page of src.listPageRanges().byPage()) {
    for (const range of page.pageRange ?? []) {
      for (let off = range.start; off <= range.end; off += MAX_PAGE_WRITE) {
        const count = Math.min(MAX_PAGE_WRITE, range.end + 1 - off);
        const buf = await src.downloadToBuffer(off, count);
        await dst.uploadPages(buf, off, count);
      }
    }
  }
}
