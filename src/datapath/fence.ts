/**
 * The fence: one writer per target blob. The owner of a VM holds a blob lease (same lease id) on the VM's
 * journal in the cache container and on every replica page blob, and every write it makes carries that
 * lease id, so storage itself refuses the writes of a replica that lost ownership (Put Page, Set Metadata,
 * Snapshot, journal uploads all fail with 412 once another replica broke or took the lease). The lease is
 * renewed in the background; a fixed duration (not infinite) is the safety net if a holder vanishes
 * without anyone breaking its lease.
 *
 * Takeover: the holder writes its identity into the blob's metadata when it acquires. A new owner that
 * finds the lease held breaks it (break period 0) only when that identity is not a live member (it died,
 * or is an earlier incarnation of ourselves); a live holder is asked to leave by the membership change
 * and releases, so the new owner just retries.
 */
import { randomUUID } from 'node:crypto';
import type { BlobClient } from '@azure/storage-blob';
import { storageError } from './storage.ts';

export const LEASE_DURATION_SECONDS = 60;
const OWNER_METADATA = 'srowner';

/** A write refused because this replica no longer holds the lease: stop working on the VM. */
export class FenceLostError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FenceLostError';
  }
}

const LEASE_LOST_CODES = new Set([
  'LeaseIdMismatchWithBlobOperation',
  'LeaseIdMismatchWithLeaseOperation',
  'LeaseLost',
  'LeaseNotPresentWithBlobOperation',
  'LeaseNotPresentWithLeaseOperation',
  'LeaseIdMissing',
  'LeaseAlreadyPresent',
  'LeaseIsBrokenAndCannotBeRenewed',
  'LeaseIsBreakingAndCannotBeAcquired',
]);

export function isFenceError(error: unknown): boolean {
  if (error instanceof FenceLostError) return true;
  const { status, code } = storageError(error);
  return (status === 412 || status === 409) && code !== undefined && LEASE_LOST_CODES.has(code);
}

/** Runs a write; a lease refusal becomes FenceLostError. */
export async function fenced<T>(what: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isFenceError(error)) throw new FenceLostError(`${what}: the blob lease is held by another replica`, { cause: error });
    throw error;
  }
}

export type AcquireResult = 'acquired' | { busy: string };

export class BlobFence {
  readonly leaseId: string;
  private readonly identity: string;

  constructor(identity: string, leaseId: string = randomUUID()) {
    this.identity = identity;
    this.leaseId = leaseId;
  }

  /**
   * Acquires the lease on `blob` (which must exist). When another lease is active: breaks it if
   * `mayBreak(holder)` says the holder is gone, else reports busy. Records our identity in the metadata.
   */
  async acquire(blob: BlobClient, mayBreak: (holder: string | undefined) => boolean): Promise<AcquireResult> {
    const lease = blob.getBlobLeaseClient(this.leaseId);
    for (let attempt = 0; ; attempt++) {
      try {
        await lease.acquireLease(LEASE_DURATION_SECONDS);
        break;
      } catch (error) {
        const { code } = storageError(error);
        if ((code !== 'LeaseAlreadyPresent' && code !== 'LeaseIsBreakingAndCannotBeAcquired') || attempt >= 3) throw error;
      }
      const properties = await blob.getProperties();
      const holder = properties.metadata?.[OWNER_METADATA];
      if (properties.leaseState === 'leased' && !mayBreak(holder)) return { busy: holder ?? 'unknown' };
      // The holder is gone: break its lease at once (a holder releasing meanwhile is fine too).
      await blob
        .getBlobLeaseClient()
        .breakLease(0)
        .catch((error: unknown) => {
          if (!storageError(error).code?.startsWith('LeaseNotPresent')) throw error;
        });
    }
    const properties = await blob.getProperties({ conditions: { leaseId: this.leaseId } });
    await fenced('recording the lease holder', () =>
      blob.setMetadata({ ...(properties.metadata ?? {}), [OWNER_METADATA]: this.identity }, { conditions: { leaseId: this.leaseId } }),
    );
    return 'acquired';
  }

  async renew(blob: BlobClient): Promise<void> {
    await fenced('renewing the blob lease', () => blob.getBlobLeaseClient(this.leaseId).renewLease());
  }

  /** Releases the lease; a lease already gone is fine. */
  async release(blob: BlobClient): Promise<void> {
    try {
      await blob.getBlobLeaseClient(this.leaseId).releaseLease();
    } catch (error) {
      const { status } = storageError(error);
      if (status !== 404 && !isFenceError(error)) throw error;
    }
  }
}
