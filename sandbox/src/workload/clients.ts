// Page blob clients for sandbox disks, as software inside a VM (or a tool with a disk SAS) would hold them.
import type { TokenCredential } from '@azure/core-auth';
import { AnonymousCredential, PageBlobClient, type StorageSharedKeyCredential } from '@azure/storage-blob';
import { sandboxStorageCredential } from '../storage/token.ts';

export type DiskCredential = TokenCredential | StorageSharedKeyCredential | AnonymousCredential;

/**
 * A client for a page blob URL. Credential: the one given; else the SAS in the URL; else the sandbox
 * storage bearer token. The process must trust the sandbox CA (NODE_EXTRA_CA_CERTS or trustSandboxCa()).
 */
export function pageBlobClient(url: string, credential?: DiskCredential): PageBlobClient {
  if (credential) return new PageBlobClient(url, credential);
  const hasSas = new URL(url).searchParams.has('sig');
  return new PageBlobClient(url, hasSas ? new AnonymousCredential() : sandboxStorageCredential());
}

/** URL without its query string except `snapshot` (never log a SAS signature). */
export function redactUrl(url: string): string {
  const u = new URL(url);
  const snapshot = u.searchParams.get('snapshot');
  return `${u.origin}${u.pathname}${snapshot ? `?snapshot=${snapshot}` : ''}`;
}
