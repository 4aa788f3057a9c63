// Compatibility shim: disk hashing lives in src/sandbox/workload (hashDisk). Kept for callers of the
// earlier helper (test/support/datapath-sandbox.ts); prefer hashDisk(url, { credential }).
import type { PageBlobClient } from '@azure/storage-blob';
import type { DiskCredential } from './workload/index.ts';
import { hashDisk } from './workload/index.ts';

/** sha256 of the whole content of a page blob (unallocated pages read as zeros). */
export function sha256OfPageBlob(blob: PageBlobClient): Promise<string> {
  return hashDisk(blob.url, { credential: blob.credential as DiskCredential });
}
