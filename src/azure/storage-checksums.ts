/**
 * Checksums that storage computes, so two blobs can be compared without their bytes reaching this process.
 * Put Block From URL stages a range of a source blob as an (uncommitted) block of a scratch block blob and
 * answers with the block's CRC-64 (or MD5): the service reads the source, the caller receives 8 bytes.
 * Re-protect (src/datapath/seed.ts, the seeded comparison) and the drill's verification
 * (src/azure/verify/) both compare disks this way; this file is the one place that knows how.
 *
 * A scratch blob never holds more than the blocks in flight: block ids are reused, and removeScratch
 * discards them (an empty commit) and deletes the blob.
 */
import type { BlockBlobClient } from '@azure/storage-blob';
import type { ByteRange } from '../util/byte-ranges.ts';

/** `Authorization: Bearer` for a copy source read with the process's identity (not a SAS). */
export interface CopySourceAuth {
  scheme: 'Bearer';
  value: string;
}

/** One side of a comparison: where storage reads the data, and the scratch blob that receives it. */
export interface ChecksumSide {
  /** The copy source: a SAS URL, or a blob (or snapshot) URL read with `auth`. */
  url: string;
  auth?: CopySourceAuth | undefined;
  /** A block blob in an account near the source (same region), for the staged blocks. */
  scratch: BlockBlobClient;
}

/** A checksum storage computed: CRC-64 ("x") when the service gave one, else MD5 ("m"). */
export type StagedChecksum = { x: string } | { m: string };

/**
 * The checksum storage computed for a block staged from a URL, as a manifest records it: CRC-64 when the
 * service gave one ("x"), else MD5 ("m"); undefined when it gave neither.
 */
export function stagedChecksum(staged: { xMsContentCrc64?: Uint8Array; contentMD5?: Uint8Array }): StagedChecksum | undefined {
  if (staged.xMsContentCrc64?.length) return { x: Buffer.from(staged.xMsContentCrc64).toString('base64') };
  if (staged.contentMD5?.length) return { m: Buffer.from(staged.contentMD5).toString('base64') };
  return undefined;
}

/** The checksum storage computes for `range` of `side`, staged as block `blockId` (base64) of its scratch blob. */
export async function storageChecksum(side: ChecksumSide, range: ByteRange, blockId: string, signal?: AbortSignal): Promise<StagedChecksum | undefined> {
  const staged = await side.scratch.stageBlockFromURL(blockId, side.url, range.start, range.end - range.start, { ...(side.auth ? { sourceAuthorization: side.auth } : {}), abortSignal: signal });
  return stagedChecksum(staged);
}

/**
 * Whether storage computes the same checksum for `range` on both sides (both staged at once). A side whose
 * service gives no checksum never matches: the caller then looks closer.
 */
export async function sameChecksums(a: ChecksumSide, b: ChecksumSide, range: ByteRange, blockId: string, signal?: AbortSignal): Promise<boolean> {
  const [x, y] = await Promise.all([storageChecksum(a, range, blockId, signal), storageChecksum(b, range, blockId, signal)]);
  return x !== undefined && JSON.stringify(x) === JSON.stringify(y);
}

/** Drops what a comparison staged: an empty commit discards a scratch blob's uncommitted blocks, then it goes. */
export async function removeScratch(scratch: BlockBlobClient): Promise<void> {
  await scratch.commitBlockList([]).catch(() => undefined);
  await scratch.deleteIfExists().catch(() => undefined);
}

/**
 * Whether storage computes `expected` for `range` of `side` (staged as block `blockId`): compared in the
 * kind the record has (CRC-64 or MD5). False when the service gave no checksum of that kind.
 */
export async function matchesChecksum(side: ChecksumSide, range: ByteRange, blockId: string, expected: StagedChecksum, signal?: AbortSignal): Promise<boolean> {
  const staged = await side.scratch.stageBlockFromURL(blockId, side.url, range.start, range.end - range.start, { ...(side.auth ? { sourceAuthorization: side.auth } : {}), abortSignal: signal });
  const got = 'x' in expected ? staged.xMsContentCrc64 : staged.contentMD5;
  const want = 'x' in expected ? expected.x : expected.m;
  return Boolean(got?.length) && Buffer.from(got as Uint8Array).toString('base64') === want;
}
