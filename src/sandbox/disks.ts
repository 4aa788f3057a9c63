// Managed-disk data helpers of the sandbox CLI (the hypervisor's view of disk page blobs).
// TODO(lead): switch to the storage engineer's fillDisk / hashDisk / runWorkload (src/sandbox/workload/)
// once they land; these minimal versions keep `vm create` and `disk-hash` working until then.
import crypto from 'node:crypto';
import type { PageBlobClient } from '@azure/storage-blob';

const CHUNK = 4 * 1024 * 1024;
const ZEROS = Buffer.alloc(CHUNK);

/** Writes `bytes` of deterministic non-zero content at the start of a disk (what an image would leave). */
export async function fillDiskStart(blob: PageBlobClient, bytes: number, seed: string): Promise<void> {
  const size = (await blob.getProperties()).contentLength ?? 0;
  const total = Math.min(bytes - (bytes % 512), size);
  for (let off = 0; off < total; off += CHUNK) {
    const n = Math.min(CHUNK, total - off);
    const buf = Buffer.alloc(n);
    for (let i = 0; i < n; i += 32) crypto.createHash('sha256').update(`${seed}:${off + i}`).digest().copy(buf, i);
    await blob.uploadPages(buf, off, n);
  }
}

/** sha256 of the whole content of a page blob (unallocated pages read as zeros). */
export async function sha256OfPageBlob(blob: PageBlobClient): Promise<string> {
  const size = (await blob.getProperties()).contentLength ?? 0;
  const ranges: { start: number; end: number }[] = [];
  for await (const page of blob.listPageRanges().byPage()) {
    for (const r of page.pageRange ?? []) ranges.push({ start: r.start, end: r.end + 1 });
  }
  ranges.sort((a, b) => a.start - b.start);
  const hash = crypto.createHash('sha256');
  let pos = 0;
  const zeros = (n: number): void => {
    for (let left = n; left > 0; left -= CHUNK) hash.update(left >= CHUNK ? ZEROS : ZEROS.subarray(0, left));
  };
  for (const r of ranges) {
    zeros(r.start - pos);
    for (let off = r.start; off < r.end; off += CHUNK) hash.update(await blob.downloadToBuffer(off, Math.min(CHUNK, r.end - off)));
    pos = r.end;
  }
  zeros(size - pos);
  return hash.digest('hex');
}
