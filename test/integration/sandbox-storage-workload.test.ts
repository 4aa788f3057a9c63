// Workload generator, fillDisk and hashDisk against the local storage (Azurite behind the storage front).
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BlobSASPermissions, generateBlobSASQueryParameters, PageBlobClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStorage, type LocalStorage } from '../../sandbox/src/storage/index.ts';
import { ensureSandboxCa, trustSandboxCa } from '../../sandbox/src/tls.ts';
import { fillDisk, hashDisk, runWorkload } from '../../sandbox/src/workload/index.ts';

const MiB = 1024 * 1024;
let dir: string;
let storage: LocalStorage;
let key: StorageSharedKeyCredential;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sandbox-workload-'));
  const ca = await ensureSandboxCa(dir);
  trustSandboxCa(ca);
  storage = await startLocalStorage({ dir, ca });
  key = new StorageSharedKeyCredential(storage.diskAccount, storage.accountKey(storage.diskAccount));
});

afterAll(async () => {
  await storage?.stop();
  await fs.rm(dir, { recursive: true, force: true });
});

const diskId = (name: string): string => `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/${name}`;

async function newDisk(name: string, size: number): Promise<PageBlobClient> {
  const c = new PageBlobClient(storage.diskBlobUrl(diskId(name)), key);
  await c.create(size);
  return c;
}

async function referenceHash(c: PageBlobClient): Promise<string> {
  return crypto.createHash('sha256').update(await c.downloadToBuffer()).digest('hex');
}

/** Allocated ranges as [start, end) with adjacent ones merged (Azurite lists one range per write). */
async function allocated(c: PageBlobClient): Promise<Array<[number, number]>> {
  const out: Array<[number, number]> = [];
  for await (const r of c.listPageRanges()) {
    const last = out[out.length - 1];
    if (last && last[1] === r.start) last[1] = r.end + 1;
    else out.push([r.start, r.end + 1]);
  }
  return out;
}

function readSas(c: PageBlobClient, snapshot?: string): string {
  const sas = generateBlobSASQueryParameters(
    {
      containerName: c.containerName,
      blobName: c.name,
      ...(snapshot ? { snapshotTime: snapshot } : {}),
      permissions: BlobSASPermissions.parse('r'),
      expiresOn: new Date(Date.now() + 3600_000),
    },
    key,
  ).toString();
  const u = snapshot ? c.withSnapshot(snapshot).url : c.url;
  return `${u}${u.includes('?') ? '&' : '?'}${sas}`;
}

describe('fillDisk and hashDisk', () => {
  it('hashes the whole content with holes as zeros, for blobs and snapshots', async () => {
    const c = await newDisk('os', 24 * MiB);
    const empty = await hashDisk(c.url, { credential: key });
    expect(empty).toBe(crypto.createHash('sha256').update(Buffer.alloc(24 * MiB)).digest('hex'));

    const written = await fillDisk(c.url, { credential: key, fraction: 0.5, seed: 3 });
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(24 * MiB);
    await c.uploadPages(Buffer.alloc(1024, 0xab), 24 * MiB - 1024, 1024); // odd tail range
    const h1 = await hashDisk(c.url, { credential: key });
    expect(h1).toBe(await referenceHash(c));

    const snap = (await c.createSnapshot()).snapshot!;
    await c.uploadPages(Buffer.alloc(512, 1), 0, 512);
    expect(await hashDisk(readSas(c, snap))).toBe(h1); // SAS URL of the snapshot: unchanged content
    const h2 = await hashDisk(c.url, { credential: key, concurrency: 1 });
    expect(h2).not.toBe(h1);
    expect(h2).toBe(await referenceHash(c));
  });

  it('fills a whole disk by default (no holes left)', async () => {
    const c = await newDisk('full', 9 * MiB);
    expect(await fillDisk(c.url, { credential: key })).toBe(9 * MiB);
    expect(await allocated(c)).toEqual([[0, 9 * MiB]]);
  });
});

describe('runWorkload', () => {
  it('writes at about the requested rate through the front, across disks, with the sandbox token', async () => {
    const a = await newDisk('w-a', 16 * MiB);
    const b = await newDisk('w-b', 16 * MiB);
    const before = [await hashDisk(a.url, { credential: key }), await hashDisk(b.url, { credential: key })];
    const rate = 4 * MiB;
    const res = await runWorkload({ diskIds: [diskId('w-a'), diskId('w-b')], storage, rateBytesPerSec: rate, durationMs: 1000, writeSize: 64 * 1024 });
    // Scheduled writes stop at the deadline: at most rate x duration, and most of it when the host keeps up.
    expect(res.bytesWritten).toBeLessThanOrEqual(rate);
    expect(res.bytesWritten).toBeGreaterThanOrEqual(rate / 2);
    expect(res.writes * 64 * 1024).toBe(res.bytesWritten);
    expect(res.perDisk.map((d) => d.bytesWritten > 0)).toEqual([true, true]);
    expect(res.perDisk[0]!.url).not.toContain('sig=');
    const after = [await hashDisk(a.url, { credential: key }), await hashDisk(b.url, { credential: key })];
    expect(after[0]).not.toBe(before[0]);
    expect(after[1]).not.toBe(before[1]);
  });

  it('supports sequential, hotset and trim patterns and SAS URLs', async () => {
    const c = await newDisk('patterns', 8 * MiB);
    const sas = `${c.url}?${generateBlobSASQueryParameters(
      { containerName: c.containerName, blobName: c.name, permissions: BlobSASPermissions.parse('rw'), expiresOn: new Date(Date.now() + 3600_000) },
      key,
    )}`;
    const seq = await runWorkload({ diskBlobUrls: [sas], rateBytesPerSec: 8 * MiB, durationMs: 250, pattern: 'sequential', writeSize: 256 * 1024 });
    // Sequential: contiguous from the beginning.
    expect(await allocated(c)).toEqual([[0, Math.min(8 * MiB, seq.bytesWritten)]]);

    const hot = await runWorkload({ diskBlobUrls: [sas], rateBytesPerSec: 8 * MiB, durationMs: 250, pattern: 'hotset', writeSize: 4096, seed: 5 });
    expect(hot.writes).toBeGreaterThan(0);

    await fillDisk(c.url, { credential: key });
    const trim = await runWorkload({ diskBlobUrls: [sas], rateBytesPerSec: 8 * MiB, durationMs: 300, pattern: 'trim', writeSize: 64 * 1024, seed: 9 });
    expect(trim.clears).toBeGreaterThan(0);
    expect(trim.bytesCleared).toBe(trim.clears * 64 * 1024);
    expect((await allocated(c)).length).toBeGreaterThan(1); // holes punched
  });

  it('stops early on abort and reports what was written', async () => {
    const c = await newDisk('abort', 8 * MiB);
    const ac = new AbortController();
    const run = runWorkload({ diskBlobUrls: [c.url], credential: key, rateBytesPerSec: 2 * MiB, durationMs: 60_000, writeSize: 64 * 1024, signal: ac.signal, onProgress: () => ac.abort() });
    const res = await run;
    expect(res.elapsedMs).toBeLessThan(10_000);
    expect(res.bytesWritten).toBeGreaterThan(0);
  });
});
