/**
 * The verification engine of a drill: does a failed-over managed disk equal what it was made from (the
 * recovery point's replica snapshot for a Test failover, the source disk for a Planned one) over the
 * source's size? Three methods:
 *
 *   Checksums  storage computes CRC-64s of each 4 MiB of both sides and they are compared
 *              (checksum-compare.ts); no disk byte crosses the network to this process. A mismatch is
 *              narrowed, by checksums too, to the first differing 512-byte page.
 *   Full       both sides are read through this process and hashed (sha256; page-blob-hash.ts).
 *   None       nothing is verified.
 *
 * Everything goes through the public data plane, so the same code checks a drill on Azure and anywhere
 * else: a managed disk through an incremental snapshot exported with a read SAS (disk-export.ts), a replica
 * snapshot with the process's own credential. Checksums stage uncommitted blocks in two scratch blobs beside
 * the replica blob (same account: `verify-scratch/…`), removed afterwards; this needs Storage Blob Data
 * Contributor on the target storage account, Full only Reader.
 */
import crypto from 'node:crypto';
import type { TokenCredential } from '@azure/core-auth';
import { AnonymousCredential, BlockBlobClient, PageBlobClient } from '@azure/storage-blob';
import type { AzureClients } from '../clients.ts';
import { hashPageBlob } from '../page-blob-hash.ts';
import { removeScratch, type CopySourceAuth } from '../storage-checksums.ts';
import { compareByChecksums, type CompareSide } from './checksum-compare.ts';
import { withDiskExport } from './disk-export.ts';

export type VerifyMethod = 'Checksums' | 'Full' | 'None';
export const VERIFY_METHODS: readonly VerifyMethod[] = ['Checksums', 'Full', 'None'];

/** What a failed-over disk must equal. */
export type VerifyExpected = { kind: 'RecoveryPointSnapshot'; blobUrl: string; snapshot: string } | { kind: 'SourceDisk'; diskId: string };

export interface DiskVerification {
  method: VerifyMethod;
  pass: boolean;
  /** Bytes shown equal: the disk's size when it passed, else 0. */
  bytesVerified: number;
  /** Bytes of either disk that crossed the network to this process (Checksums: 0). */
  bytesRead: number;
  /** Checksums: allocated bytes whose checksums storage computed on both sides; and its requests. */
  bytesCompared?: number;
  requests?: number;
  /** Full: the sha256 of each side. */
  sha256?: string;
  expectedSha256?: string;
  /** The first byte where the disks differ (Checksums: the first differing 512-byte page). */
  firstDifferingOffset?: number;
  /** Checksums: 4 MiB chunks that differ. */
  differingChunks?: number;
  seconds: number;
  /** Why it did not pass. */
  error?: string;
}

export interface VerifyDiskRequest {
  method: VerifyMethod;
  /** The failed-over managed disk. */
  diskId: string;
  expected: VerifyExpected;
  /** Bytes to compare: the source's size (an imported disk is rounded up to whole GiB). */
  sizeBytes: number;
  /**
   * Checksums: a blob whose container receives the scratch blobs (default: the replica blob). Storage reads
   * both sides into it, so one in the failed-over disk's region keeps the reads in that region.
   */
  scratchBesideBlobUrl?: string;
  signal?: AbortSignal;
}

const STORAGE_SCOPE = 'https://storage.azure.com/.default';
const PIPELINE = { retryOptions: { maxTries: 5, tryTimeoutInMs: 120_000 } };
const CONCURRENCY = 8;

export class DiskVerifier {
  private readonly az: AzureClients;
  private readonly credential: TokenCredential;
  private readonly tag: string;

  /** `tag`: what the verification is for (the FailoverRequest, namespace/name), recorded on its snapshots. */
  constructor(az: AzureClients, credential: TokenCredential, tag: string) {
    this.az = az;
    this.credential = credential;
    this.tag = tag;
  }

  async verify(r: VerifyDiskRequest): Promise<DiskVerification> {
    const t0 = performance.now();
    const seconds = () => Math.round((performance.now() - t0) / 100) / 10;
    if (r.method === 'None') return { method: 'None', pass: true, bytesVerified: 0, bytesRead: 0, seconds: 0 };
    const result = r.method === 'Full' ? await this.full(r) : await this.checksums(r);
    return { ...result, seconds: seconds() };
  }

  private async full(r: VerifyDiskRequest): Promise<Omit<DiskVerification, 'seconds'>> {
    const actual = withDiskExport(this.az.forResource(r.diskId), r.diskId, this.tag, (d) => hashPageBlob(sasBlob(d.url), { length: r.sizeBytes, signal: r.signal }), r.signal);
    const expected = this.withExpected(r, (side) => hashPageBlob(side.blob, { length: r.sizeBytes, signal: r.signal }));
    const [a, e] = await Promise.allSettled([actual, expected]);
    if (a.status === 'rejected') throw a.reason;
    if (e.status === 'rejected') throw e.reason;
    const pass = a.value.sha256 === e.value.sha256;
    return { method: 'Full', pass, bytesVerified: pass ? r.sizeBytes : 0, bytesRead: a.value.bytesRead + e.value.bytesRead, sha256: a.value.sha256, expectedSha256: e.value.sha256, ...(pass ? {} : { error: 'content differs (sha256)' }) };
  }

  private async checksums(r: VerifyDiskRequest): Promise<Omit<DiskVerification, 'seconds'>> {
    const scratch = this.scratchPair(r);
    try {
      const found = await withDiskExport(this.az.forResource(r.diskId), r.diskId, this.tag, (d) => this.withExpected(r, (expected) => compareByChecksums({ blob: sasBlob(d.url), url: d.url, scratch: scratch[0] }, { ...expected, scratch: scratch[1] }, r.sizeBytes, { concurrency: CONCURRENCY, signal: r.signal })), r.signal);
      const pass = found.firstDifference === undefined;
      return {
        method: 'Checksums',
        pass,
        bytesVerified: pass ? r.sizeBytes : 0,
        bytesRead: 0,
        bytesCompared: found.bytesCompared,
        requests: found.requests,
        ...(pass ? {} : { firstDifferingOffset: found.firstDifference, differingChunks: found.differingChunks, error: `content differs at offset ${found.firstDifference} (${found.differingChunks} differing 4 MiB chunk(s))` }),
      };
    } finally {
      await Promise.all(scratch.map((s) => removeScratch(s)));
    }
  }

  /** Runs `use` with the side the disk must equal: the replica snapshot (our identity) or the source disk (exported). */
  private async withExpected<T>(r: VerifyDiskRequest, use: (side: Omit<CompareSide, 'scratch'>) => Promise<T>): Promise<T> {
    const e = r.expected;
    if (e.kind === 'SourceDisk') return withDiskExport(this.az.forResource(e.diskId), e.diskId, this.tag, (d) => use({ blob: sasBlob(d.url), url: d.url }), r.signal);
    const blob = new PageBlobClient(e.blobUrl, this.credential, PIPELINE).withSnapshot(e.snapshot);
    return use({ blob, url: blob.url, auth: await this.copySourceAuth() });
  }

  /** Two scratch block blobs beside the replica blob (the target storage account). */
  private scratchPair(r: VerifyDiskRequest): [BlockBlobClient, BlockBlobClient] {
    const beside = r.scratchBesideBlobUrl ?? (r.expected.kind === 'RecoveryPointSnapshot' ? r.expected.blobUrl : undefined);
    if (!beside) throw new Error('checksum verification needs a storage container for its scratch blobs');
    const url = new URL(beside);
    const container = url.pathname.split('/').filter(Boolean).slice(0, -1);
    const base = `${url.origin}/${container.join('/')}/verify-scratch/${this.tag.replace(/[^A-Za-z0-9-]/g, '-')}-${crypto.randomBytes(4).toString('hex')}`;
    return [new BlockBlobClient(`${base}-a`, this.credential, PIPELINE), new BlockBlobClient(`${base}-b`, this.credential, PIPELINE)];
  }

  private async copySourceAuth(): Promise<CopySourceAuth> {
    const token = await this.credential.getToken(STORAGE_SCOPE);
    if (!token) throw new Error('no storage access token for the replica snapshot');
    return { scheme: 'Bearer', value: token.token };
  }
}

function sasBlob(url: string): PageBlobClient {
  return new PageBlobClient(url, new AnonymousCredential(), PIPELINE);
}
