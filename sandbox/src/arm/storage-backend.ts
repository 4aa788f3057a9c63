// What the ARM emulator needs from the sandbox's local storage (sandbox/src/storage). Declared here as a
// structural type so the emulator depends only on this contract; the real LocalStorage satisfies it.
import type { RegionOutages } from '../outages.ts';
import type { ArmRbac } from './rbac.ts';

export interface ArmStorageBackend {
  /** Blob endpoint of an account: HTTPS, path-style, ends with `/`. */
  blobEndpoint(account: string): string;
  /** Creates a storage account (idempotent). */
  createAccount(name: string): Promise<unknown>;
  /** Removes an account and its data (idempotent). */
  deleteAccount(name: string): Promise<unknown>;
  /** Accepts or refuses requests signed with the account's key (allowSharedKeyAccess). */
  setSharedKeyAccess?(account: string, allowed: boolean): void;
  /** Shared key of an account. */
  accountKey(account: string): string | Promise<string>;
  /** Account that holds managed disk and snapshot page blobs. */
  readonly diskAccount: string;
  /** Deterministic page-blob URL (through the managed-disk front) of a disk, snapshot or disk restore point. */
  diskBlobUrl(diskOrSnapshotResourceId: string): string;
  /** Holds writes to the given blobs while fn runs (multi-disk crash consistency). */
  freezeWrites<T>(blobUrls: string[], fn: () => Promise<T>): Promise<T>;
  /** Makes the storage refuse accounts and disks of the regions down in `outages` (sandbox outage). */
  useOutages?(outages: RegionOutages): void;
  /** Makes the storage check Entra ID requests against the role assignments (DataActions), given each account's ARM id. */
  useRbac?(rbac: { rbac: ArmRbac; accountId(account: string): string | undefined }): void;
}
