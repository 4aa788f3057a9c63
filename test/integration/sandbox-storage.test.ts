// Local storage (Azurite + storage front) through the official SDK clients: accounts and tokens, page-range
// diffs (tracked and by content comparison), Put Page From URL and Put Block From URL, write freeze, persistence.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  AnonymousCredential,
  BlobSASPermissions,
  BlobServiceClient,
  generateBlobSASQueryParameters,
  PageBlobClient,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxAccessToken, sandboxStorageCredential, startLocalStorage, type LocalStorage } from '../../sandbox/src/storage/index.ts';
import { ensureSandboxCa, trustSandboxCa, type SandboxCa } from '../../sandbox/src/tls.ts';

const MiB = 1024 * 1024;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let dir: string;
let ca: SandboxCa;
let storage: LocalStorage;
let diskKey: StorageSharedKeyCredential;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sandbox-storage-'));
  ca = await ensureSandboxCa(dir);
  trustSandboxCa(ca);
  storage = await startLocalStorage({ dir: path.join(dir, 'mem'), ca });
  diskKey = new StorageSharedKeyCredential(storage.diskAccount, storage.accountKey(storage.diskAccount));
});

afterAll(async () => {
  await storage?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

function diskClient(name: string, s: LocalStorage = storage): PageBlobClient {
  return new PageBlobClient(s.diskBlobUrl(`/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/${name}`), new StorageSharedKeyCredential(s.diskAccount, s.accountKey(s.diskAccount)));
}

/** Read SAS URL of a blob or snapshot (as the ARM emulator's grant-access would hand out). */
function sasUrl(client: PageBlobClient, snapshot?: string, cred: StorageSharedKeyCredential = diskKey): string {
  const c = snapshot ? client.withSnapshot(snapshot) : client;
  const sas = generateBlobSASQueryParameters(
    {
      containerName: client.containerName,
      blobName: client.name,
      ...(snapshot ? { snapshotTime: snapshot } : {}),
      permissions: BlobSASPermissions.parse('r'),
      expiresOn: new Date(Date.now() + 3600_000),
    },
    cred,
  ).toString();
  return `${c.url}${c.url.includes('?') ? '&' : '?'}${sas}`;
}

interface DiffItem {
  start: number;
  end: number; // inclusive, as the SDK reports
  isClear: boolean;
}

async function listDiff(client: PageBlobClient, target: string | undefined, prev: string, pageSize?: number): Promise<DiffItem[]> {
  const c = target ? client.withSnapshot(target) : client;
  const out: DiffItem[] = [];
  if (pageSize) {
    for await (const page of c.listPageRangesDiff(0, 0, prev).byPage({ maxPageSize: pageSize })) {
      for (const r of page.pageRange ?? []) out.push({ start: r.start, end: r.end, isClear: false });
      for (const r of page.clearRange ?? []) out.push({ start: r.start, end: r.end, isClear: true });
    }
  } else {
    for await (const r of c.listPageRangesDiff(0, 0, prev)) out.push({ start: r.start, end: r.end, isClear: r.isClear });
  }
  return out.sort((a, b) => a.start - b.start);
}

/**
 * Applies a diff the way the datapath would: copy of the old state, then PageRange data pulled from the
 * new state with Put Page From URL, ClearRange cleared. Returns the rebuilt blob's content.
 */
async function rebuild(oldSasUrl: string, newSasUrl: string, diff: DiffItem[], scratch: PageBlobClient): Promise<Buffer> {
  await scratch.deleteIfExists({ deleteSnapshots: 'include' });
  const copy = await (await scratch.beginCopyFromURL(oldSasUrl)).pollUntilDone();
  expect(copy.copyStatus).toBe('success');
  const newProps = await new PageBlobClient(newSasUrl, new AnonymousCredential()).getProperties();
  const oldLen = (await scratch.getProperties()).contentLength!;
  if (oldLen !== newProps.contentLength) await scratch.resize(newProps.contentLength!);
  for (const d of diff) {
    const len = d.end - d.start + 1;
    expect(d.start % 512).toBe(0);
    expect(len % 512).toBe(0);
    if (d.isClear) {
      await scratch.clearPages(d.start, len);
    } else {
      for (let o = d.start; o < d.start + len; o += 4 * MiB) {
        const n = Math.min(4 * MiB, d.start + len - o);
        await scratch.uploadPagesFromURL(newSasUrl, o, o, n);
      }
    }
  }
  return scratch.downloadToBuffer();
}

describe('accounts and tokens', () => {
  it('creates accounts at runtime, reachable with bearer tokens and shared keys over HTTPS', async () => {
    const name = `acct${crypto.randomBytes(4).toString('hex')}`;
    const bearer = new BlobServiceClient(storage.blobEndpoint(name), sandboxStorageCredential());
    await expect(bearer.getContainerClient('before').create()).rejects.toMatchObject({ statusCode: 404 });
    await storage.createAccount(name);
    await storage.createAccount(name); // idempotent
    expect(storage.blobEndpoint(name)).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/acct[0-9a-f]+\/$/);
    await bearer.getContainerClient('viatoken').create();
    const shared = new BlobServiceClient(storage.blobEndpoint(name), new StorageSharedKeyCredential(name, storage.accountKey(name)));
    const names: string[] = [];
    for await (const c of shared.listContainers()) names.push(c.name);
    expect(names).toEqual(['viatoken']);
    // A wrong key is refused.
    const wrong = new BlobServiceClient(storage.blobEndpoint(name), new StorageSharedKeyCredential(name, crypto.randomBytes(64).toString('base64')));
    const refused = await wrong.getContainerClient('nope').create().then(() => undefined, (e: { statusCode?: number }) => e.statusCode);
    expect([400, 403]).toContain(refused);
    // The token is a JWT with a storage audience and an AAD issuer.
    const payload = JSON.parse(Buffer.from(sandboxAccessToken().split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(payload.aud).toBe('https://storage.azure.com');
    expect(String(payload.iss)).toMatch(/^https:\/\/sts\.windows\.net\//);
    await expect(storage.createAccount('Not_Valid')).rejects.toThrow(/invalid storage account name/);

    await storage.deleteAccount(name);
    expect(storage.hasAccount(name)).toBe(false);
    await expect(bearer.getContainerClient('another').create()).rejects.toMatchObject({ statusCode: 404 });
    await storage.createAccount(name); // data is gone with the account
    const again: string[] = [];
    for await (const c of new BlobServiceClient(storage.blobEndpoint(name), sandboxStorageCredential()).listContainers()) again.push(c.name);
    expect(again).toEqual([]);
  });

  it('maps disk resource ids to page blobs deterministically, case-insensitively', () => {
    const a = storage.diskBlobUrl('/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/disks/OS');
    const b = storage.diskBlobUrl('/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/disks/os');
    expect(a).toBe(b);
    expect(a.startsWith(`${storage.diskEndpoint}${storage.diskAccount}/disks/`)).toBe(true);
    expect(storage.diskBlobUrl('/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/snapshots/os')).not.toBe(a);
  });
});

describe('page range diff', () => {
  it('answers getPageRangesDiff, listPageRangesDiff and the managed-disk variant like Azure', async () => {
    const pb = diskClient('basic');
    await pb.create(4 * MiB);
    await pb.uploadPages(Buffer.alloc(8192, 1), 0, 8192);
    const s1 = (await pb.createSnapshot()).snapshot!;
    await pb.uploadPages(Buffer.alloc(4096, 2), 65536, 4096);
    await pb.clearPages(0, 1024);
    const s2 = (await pb.createSnapshot()).snapshot!;

    const d = await pb.withSnapshot(s2).getPageRangesDiff(0, 0, s1);
    expect(d.blobContentLength).toBe(4 * MiB);
    expect(d._response.bodyAsText).toBe(
      '<?xml version="1.0" encoding="utf-8"?><PageList><ClearRange><Start>0</Start><End>1023</End></ClearRange>' +
        '<PageRange><Start>65536</Start><End>69631</End></PageRange></PageList>',
    );
    expect(await listDiff(pb, s2, s1)).toEqual([
      { start: 0, end: 1023, isClear: true },
      { start: 65536, end: 69631, isClear: false },
    ]);
    // Paged with continuation markers.
    expect(await listDiff(pb, s2, s1, 1)).toEqual(await listDiff(pb, s2, s1));
    // A range restricts the answer.
    const ranged = await pb.withSnapshot(s2).getPageRangesDiff(65536, 512, s1);
    expect(ranged._response.bodyAsText).toContain('<PageRange><Start>65536</Start><End>66047</End></PageRange>');
    expect(ranged._response.bodyAsText).not.toContain('ClearRange');
    // The live blob against a snapshot.
    await pb.uploadPages(Buffer.alloc(512, 3), 4 * MiB - 512, 512);
    expect(await listDiff(pb, undefined, s2)).toEqual([{ start: 4 * MiB - 512, end: 4 * MiB - 1, isClear: false }]);
    // Managed-disk variant: SAS URLs for both, as from grant-access.
    const md = await new PageBlobClient(sasUrl(pb, s2), new AnonymousCredential()).getPageRangesDiffForManagedDisks(0, 0, sasUrl(pb, s1));
    expect(md._response.bodyAsText).toBe(d._response.bodyAsText);
  });

  it('handles disks that grew between the two states', async () => {
    const pb = diskClient('grown');
    await pb.create(MiB);
    await pb.uploadPages(Buffer.alloc(512, 1), 0, 512);
    const s1 = (await pb.createSnapshot()).snapshot!;
    await pb.resize(4 * MiB);
    await pb.uploadPages(Buffer.alloc(512, 2), 2 * MiB, 512);
    const s2 = (await pb.createSnapshot()).snapshot!;
    expect(await listDiff(pb, s2, s1)).toEqual([{ start: 2 * MiB, end: 2 * MiB + 511, isClear: false }]);
    // A window entirely beyond the previous length.
    const windowed = await pb.withSnapshot(s2).getPageRangesDiff(2 * MiB, MiB, s1);
    expect(windowed._response.bodyAsText).toContain(`<PageRange><Start>${2 * MiB}</Start><End>${2 * MiB + 511}</End></PageRange>`);
    expect(windowed.blobContentLength).toBe(4 * MiB);
  });

  it('refuses what Azure refuses', async () => {
    const pb = diskClient('errors');
    await pb.create(MiB);
    const s1 = (await pb.createSnapshot()).snapshot!;
    const s2 = (await pb.createSnapshot()).snapshot!;
    // No credentials at all.
    await expect(new PageBlobClient(pb.withSnapshot(s2).url, new AnonymousCredential()).getPageRangesDiff(0, 0, s1)).rejects.toMatchObject({ statusCode: 403 });
    // Previous snapshot URL without its SAS.
    await expect(new PageBlobClient(sasUrl(pb, s2), new AnonymousCredential()).getPageRangesDiffForManagedDisks(0, 0, pb.withSnapshot(s1).url)).rejects.toMatchObject({
      statusCode: 403,
    });
    // Unknown previous snapshot, previous newer than target.
    await expect(pb.withSnapshot(s2).getPageRangesDiff(0, 0, '2001-01-01T00:00:00.0000000Z')).rejects.toMatchObject({
      statusCode: 409,
      code: 'PreviousSnapshotNotFound',
    });
    await expect(pb.withSnapshot(s1).getPageRangesDiff(0, 0, s2)).rejects.toMatchObject({ statusCode: 400, code: 'PreviousSnapshotCannotBeNewer' });
    // Missing blob.
    await expect(diskClient('missing').getPageRangesDiff(0, 0, s1)).rejects.toMatchObject({ statusCode: 404 });
  });

  // Brute force: random histories of writes, overwrites, clears and snapshots; for many pairs of states,
  // rebuilding the newer one from the older one plus the diff must give the newer one byte for byte.
  for (const seed of [1, 2, 3]) {
    it(`diffs rebuild the newer state exactly on random histories (seed ${seed})`, async () => {
      const r = rng(seed);
      const size = 2 * MiB;
      const pb = diskClient(`random-${seed}`);
      await pb.create(size);
      const snaps: string[] = [];
      for (let step = 0; step < 60; step++) {
        const op = r();
        const pages = size / 512;
        const start = Math.floor(r() * pages) * 512;
        const len = Math.min(size - start, (1 + Math.floor(r() * 64)) * 512);
        if (op < 0.6) await pb.uploadPages(crypto.randomBytes(len), start, len);
        else if (op < 0.7) await pb.uploadPages(Buffer.alloc(len), start, len); // zeros written: allocated
        else if (op < 0.85) await pb.clearPages(start, len);
        else snaps.push((await pb.createSnapshot()).snapshot!);
      }
      snaps.push((await pb.createSnapshot()).snapshot!);
      const scratch = diskClient(`random-${seed}-scratch`);
      const pairs: Array<[number, number]> = [];
      for (let i = 0; i + 1 < snaps.length; i++) pairs.push([i, i + 1]);
      pairs.push([0, snaps.length - 1]);
      for (const [i, j] of pairs) {
        const diff = await listDiff(pb, snaps[j], snaps[i]!);
        const rebuilt = await rebuild(sasUrl(pb, snaps[i]), sasUrl(pb, snaps[j]), diff, scratch);
        const expected = await pb.withSnapshot(snaps[j]!).downloadToBuffer();
        expect(rebuilt.equals(expected), `snapshots ${i} -> ${j}`).toBe(true);
      }
      // Copy lineage: a disk made from a snapshot, written, snapshotted; diffed against the source's
      // earlier snapshot with the managed-disk call.
      const child = diskClient(`random-${seed}-child`);
      await (await child.beginCopyFromURL(sasUrl(pb, snaps[Math.floor(snaps.length / 2)]))).pollUntilDone();
      await child.uploadPages(crypto.randomBytes(4096), 8192, 4096);
      await child.clearPages(MiB, 4096);
      const c1 = (await child.createSnapshot()).snapshot!;
      const md = await new PageBlobClient(sasUrl(child, c1), new AnonymousCredential()).getPageRangesDiffForManagedDisks(0, 0, sasUrl(pb, snaps[0]));
      const mdDiff: DiffItem[] = [
        // The SDK reports { offset: Start, count: End - Start } (End inclusive).
        ...(md.pageRange ?? []).map((x) => ({ start: x.offset, end: x.offset + x.count!, isClear: false })),
        ...(md.clearRange ?? []).map((x) => ({ start: x.offset, end: x.offset + x.count!, isClear: true })),
      ];
      const rebuilt = await rebuild(sasUrl(pb, snaps[0]), sasUrl(child, c1), mdDiff, scratch);
      const want = await child.withSnapshot(c1).downloadToBuffer();
      expect(rebuilt.equals(want)).toBe(true);
    });
  }

  it('falls back to comparing contents for history the front did not observe', async () => {
    // Write history straight to Azurite, bypassing the front: nothing is tracked.
    const url = new URL(diskClient('untracked').url);
    const direct = new PageBlobClient(`${storage.azuriteEndpoint}${url.pathname.slice(1)}`, diskKey);
    const viaFront = diskClient('untracked');
    await direct.create(MiB);
    await direct.uploadPages(crypto.randomBytes(MiB), 0, MiB);
    const s1 = (await direct.createSnapshot()).snapshot!;
    await direct.uploadPages(crypto.randomBytes(4096), 16384, 4096);
    await direct.clearPages(65536, 8192);
    const same = await direct.withSnapshot(s1).downloadToBuffer(131072, 512);
    await direct.uploadPages(same, 131072, 512); // identical bytes: not a content change
    const s2 = (await direct.createSnapshot()).snapshot!;
    const diff = await listDiff(viaFront, s2, s1);
    expect(diff).toEqual([
      { start: 16384, end: 20479, isClear: false },
      { start: 65536, end: 73727, isClear: true },
    ]);
    const rebuilt = await rebuild(sasUrl(viaFront, s1), sasUrl(viaFront, s2), diff, diskClient('untracked-scratch'));
    expect(rebuilt.equals(await viaFront.withSnapshot(s2).downloadToBuffer())).toBe(true);
  });

  it('attributes concurrent writes to the right interval between snapshots', async () => {
    const pb = diskClient('concurrent');
    const size = 4 * MiB;
    await pb.create(size);
    let stop = false;
    const writer = async (seed: number): Promise<void> => {
      const r = rng(seed);
      while (!stop) {
        const start = Math.floor(r() * (size / 4096)) * 4096;
        if (r() < 0.8) await pb.uploadPages(crypto.randomBytes(4096), start, 4096);
        else await pb.clearPages(start, 4096);
      }
    };
    const writers = [1, 2, 3, 4, 5, 6].map((s) => writer(s));
    const snaps: string[] = [];
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setImmediate(r));
      snaps.push((await pb.createSnapshot()).snapshot!);
    }
    stop = true;
    await Promise.all(writers);
    const scratch = diskClient('concurrent-scratch');
    for (let i = 0; i + 1 < snaps.length; i++) {
      const diff = await listDiff(pb, snaps[i + 1], snaps[i]!);
      const rebuilt = await rebuild(sasUrl(pb, snaps[i]), sasUrl(pb, snaps[i + 1]), diff, scratch);
      expect(rebuilt.equals(await pb.withSnapshot(snaps[i + 1]!).downloadToBuffer()), `interval ${i}`).toBe(true);
    }
  });
});

describe('Azurite behaviour the sandbox relies on', () => {
  it('keeps a copy independent of its source (Azurite copy fix)', async () => {
    const src = diskClient('copyfix-src');
    await src.create(MiB);
    await src.uploadPages(Buffer.alloc(4096, 1), 0, 4096);
    const snap = (await src.createSnapshot()).snapshot!;
    const copy = diskClient('copyfix-copy');
    await (await copy.beginCopyFromURL(sasUrl(src, snap))).pollUntilDone();
    await copy.uploadPages(Buffer.alloc(4096, 2), 0, 4096);
    await copy.uploadPages(Buffer.alloc(4096, 3), 8192, 4096);
    await src.uploadPages(Buffer.alloc(512, 4), 65536, 512);
    expect((await src.withSnapshot(snap).downloadToBuffer(0, 12288)).equals(Buffer.concat([Buffer.alloc(4096, 1), Buffer.alloc(8192)]))).toBe(true);
    expect((await src.withSnapshot(snap).getPageRanges()).pageRange).toEqual([{ offset: 0, count: 4095 }]);
    expect((await copy.getPageRanges()).pageRange).toEqual([
      { offset: 0, count: 4095 },
      { offset: 8192, count: 4095 },
    ]);
  });
});

describe('Put Page From URL', () => {
  it('copies a range from a SAS source into another account, authorised by a bearer token', async () => {
    const src = diskClient('pfu-src');
    await src.create(MiB);
    const data = crypto.randomBytes(65536);
    await src.uploadPages(data, 0, 65536);
    await storage.createAccount('pfucache');
    const cont = new BlobServiceClient(storage.blobEndpoint('pfucache'), sandboxStorageCredential()).getContainerClient('seg');
    await cont.createIfNotExists();
    const dst = cont.getPageBlobClient('d');
    await dst.create(MiB);
    await dst.uploadPagesFromURL(sasUrl(src), 4096, 512 * 1024, 8192);
    expect((await dst.downloadToBuffer(512 * 1024, 8192)).equals(data.subarray(4096, 4096 + 8192))).toBe(true);
    const ranges = await dst.getPageRanges();
    expect(ranges.pageRange).toEqual([{ offset: 512 * 1024, count: 8191 }]);

    // Source without authorisation, misaligned range, unauthorised destination.
    await expect(dst.uploadPagesFromURL(src.url, 0, 0, 512)).rejects.toMatchObject({ statusCode: 403, code: 'CannotVerifyCopySource' });
    await expect(dst.uploadPagesFromURL(sasUrl(src), 0, 0, 100)).rejects.toMatchObject({ statusCode: 416 });
    const anonymous = await new PageBlobClient(dst.url, new AnonymousCredential()).uploadPagesFromURL(sasUrl(src), 0, 0, 512).then(() => undefined, (e: { statusCode?: number; code?: string }) => `${e.statusCode} ${e.code}`);
    expect(anonymous).toBe('403 AuthorizationFailure');
  });

  it('checks the source checksum the request gives and answers with the one it computed', async () => {
    const src = diskClient('pfu-sum');
    await src.create(MiB);
    await src.uploadPages(crypto.randomBytes(8192), 0, 8192);
    const cont = new BlobServiceClient(storage.blobEndpoint('pfucache'), sandboxStorageCredential()).getContainerClient('seg');
    const dst = cont.getPageBlobClient('sum');
    await dst.create(MiB);
    // A block staged from the source: the service answers with the block's CRC-64 (no MD5 was given).
    const segment = cont.getBlockBlobClient('sum-segment');
    const staged = await segment.stageBlockFromURL('YmxvY2sw', sasUrl(src), 0, 8192);
    expect(staged.xMsContentCrc64?.length).toBe(8);
    expect(staged.contentMD5).toBeUndefined();
    await segment.commitBlockList(['YmxvY2sw']);
    expect((await segment.downloadToBuffer()).equals(await src.downloadToBuffer(0, 8192))).toBe(true);

    const token = { scheme: 'Bearer' as const, value: sandboxAccessToken() };
    const written = await dst.uploadPagesFromURL(segment.url, 0, 0, 8192, { sourceAuthorization: token, sourceContentCrc64: staged.xMsContentCrc64 });
    expect(Buffer.from(written.xMsContentCrc64!).equals(Buffer.from(staged.xMsContentCrc64!))).toBe(true);
    const md5 = crypto.createHash('md5').update(await src.downloadToBuffer(0, 4096)).digest();
    expect(Buffer.from((await dst.uploadPagesFromURL(segment.url, 0, 0, 4096, { sourceAuthorization: token, sourceContentMD5: md5 })).contentMD5!).equals(md5)).toBe(true);

    // Wrong checksums are refused and nothing is written.
    const before = await dst.downloadToBuffer(65536, 4096);
    const wrong = Buffer.from(staged.xMsContentCrc64!).map((b) => b ^ 1);
    await expect(dst.uploadPagesFromURL(segment.url, 0, 65536, 4096, { sourceAuthorization: token, sourceContentCrc64: wrong })).rejects.toMatchObject({ statusCode: 400, code: 'Crc64Mismatch' });
    await expect(dst.uploadPagesFromURL(segment.url, 0, 65536, 4096, { sourceAuthorization: token, sourceContentMD5: Buffer.alloc(16) })).rejects.toMatchObject({ statusCode: 400, code: 'Md5Mismatch' });
    expect((await dst.downloadToBuffer(65536, 4096)).equals(before)).toBe(true);
  });

  it('reads unwritten source pages as zeros, refuses ranges outside the source and names a missing source', async () => {
    const src = diskClient('pfu-sparse');
    await src.create(MiB);
    const data = crypto.randomBytes(4096);
    await src.uploadPages(data, 8192, 4096);
    const cont = new BlobServiceClient(storage.blobEndpoint('pfucache'), sandboxStorageCredential()).getContainerClient('seg');
    const dst = cont.getPageBlobClient('sparse');
    await dst.create(MiB);
    await dst.uploadPages(Buffer.alloc(16384, 0xee), 0, 16384);
    await dst.uploadPagesFromURL(sasUrl(src), 0, 0, 16384);
    expect((await dst.downloadToBuffer(0, 16384)).equals(Buffer.concat([Buffer.alloc(8192), data, Buffer.alloc(4096)]))).toBe(true);

    await expect(dst.uploadPagesFromURL(sasUrl(src), MiB - 4096, 0, 8192)).rejects.toMatchObject({ statusCode: 400, code: 'InvalidSourceRange' });
    const gone = diskClient('pfu-never-created');
    const missing = await dst.uploadPagesFromURL(sasUrl(gone), 0, 0, 512).then(
      () => undefined,
      (e: { statusCode?: number; code?: string; response?: { headers: { get(n: string): string | undefined } } }) => `${e.statusCode} ${e.code} ${e.response?.headers.get('x-ms-copy-source-status-code')}`,
    );
    expect(missing).toBe('404 CannotVerifyCopySource 404');
    await expect(cont.getBlockBlobClient('b').stageBlockFromURL('YmxvY2sw', sasUrl(gone), 0, 512)).rejects.toMatchObject({ statusCode: 404, code: 'CannotVerifyCopySource' });
  });
});

describe('freezeWrites', () => {
  it('holds writes while fn runs, lets the snapshots in fn through, then releases them', async () => {
    const a = diskClient('freeze-a');
    const b = diskClient('freeze-b');
    await Promise.all([a.create(MiB), b.create(MiB)]);
    let writeDone = false;
    let write: Promise<unknown> | undefined;
    const snaps = await storage.freezeWrites([a.url, b.url], async () => {
      write = a.uploadPages(Buffer.alloc(512, 7), 0, 512).then(() => (writeDone = true));
      const s = await Promise.all([a.createSnapshot(), b.createSnapshot()]);
      // The write has reached the front (a request round trip later) but is still held.
      await b.getProperties();
      expect(writeDone).toBe(false);
      return s.map((x) => x.snapshot!);
    });
    await write;
    expect(writeDone).toBe(true);
    expect((await a.withSnapshot(snaps[0]!).downloadToBuffer(0, 512)).every((x) => x === 0)).toBe(true);
    expect((await a.downloadToBuffer(0, 512)).every((x) => x === 7)).toBe(true);
  });
});

describe('persistence', () => {
  it('keeps data, accounts and change tracking across a clean restart; falls back after a crash', async () => {
    const pdir = path.join(dir, 'persist');
    let s = await startLocalStorage({ dir: pdir, persist: true, ca });
    const port = new URL(s.diskEndpoint).port;
    await s.createAccount('keptacct');
    const key = s.accountKey('keptacct');
    const pb = diskClient('persisted', s);
    await pb.create(MiB);
    await pb.uploadPages(crypto.randomBytes(MiB), 0, MiB);
    const s1 = (await pb.createSnapshot()).snapshot!;
    // Rewrite a page with identical bytes: tracking reports it (as Azure does), comparison would not.
    const same = await pb.downloadToBuffer(0, 512);
    await pb.uploadPages(same, 0, 512);
    await s.stop();

    s = await startLocalStorage({ dir: pdir, persist: true, ca });
    expect(new URL(s.diskEndpoint).port).toBe(port);
    expect(s.accountKey('keptacct')).toBe(key);
    const pb2 = diskClient('persisted', s);
    const s2 = (await pb2.createSnapshot()).snapshot!;
    expect(await listDiff(pb2, s2, s1)).toEqual([{ start: 0, end: 511, isClear: false }]);
    // Simulated crash: no tracking state written by a clean stop (the file is consumed at every start).
    await s.stop();
    await fs.rm(path.join(pdir, 'disk-tracking.json'));

    s = await startLocalStorage({ dir: pdir, persist: true, ca });
    try {
      const pb3 = diskClient('persisted', s);
      expect(await listDiff(pb3, s2, s1)).toEqual([]); // content comparison: nothing really changed
      await pb3.uploadPages(crypto.randomBytes(512), 1024, 512);
      const s3 = (await pb3.createSnapshot()).snapshot!;
      expect(await listDiff(pb3, s3, s2)).toEqual([{ start: 1024, end: 1535, isClear: false }]);
    } finally {
      await s.stop();
    }
  });
});
