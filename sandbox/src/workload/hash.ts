// sha256 of a sandbox disk (a page blob or snapshot URL), through the project's streaming page-blob hash.
import { hashPageBlob } from '../../../src/azure/page-blob-hash.ts';
import { pageBlobClient, type DiskCredential } from './clients.ts';

export interface HashDiskOptions {
  credential?: DiskCredential;
  /** Chunks read in parallel (default 4): memory is about concurrency x 4 MiB. */
  concurrency?: number;
  signal?: AbortSignal;
  /**
   * Hash only the first `length` bytes. Compares a disk with a smaller source: a managed disk imported
   * from a blob is the blob's size rounded up to whole GiB, zero beyond it.
   */
  length?: number;
}

/** Hex sha256 of the blob's content (its whole length, or the first opts.length bytes). */
export async function hashDisk(url: string, opts: HashDiskOptions = {}): Promise<string> {
  const { sha256 } = await hashPageBlob(pageBlobClient(url, opts.credential), { length: opts.length, concurrency: opts.concurrency, signal: opts.signal });
  return sha256;
}
