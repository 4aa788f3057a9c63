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
import { hashPageBlob, type PageBlobHash } from '../azure/page-blob-hash.ts';

const POLL = { updateIntervalInMs: 250 } as const;
const SAS_SECONDS = 3600;
const PIPELINE = { retryOptions: { maxTries: 5, tryTimeoutInMs: 120_000 } };

export type DiskHash = PageBlobHash;

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
    return hashPageBlob(client, { length, signal });
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
      result = await hashPageBlob(new PageBlobClient(access.accessSAS, new AnonymousCredential(), PIPELINE), { length, signal });
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
