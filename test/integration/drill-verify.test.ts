// Drill verification (issue #20, item 2) against the real operator and datapath (in this process), the real
// API server and local Azure: `site-recovery drill` (the real binary) verifies by checksums that storage
// computes — no disk byte read by the process — and by sha256 with --verify full; a failed-over disk with a
// corrupted page fails checksum verification naming the disk and the first differing offset, and the drill
// still cleans up; a failing probe fails the drill and it still cleans up; a disk that cannot be verified
// (its replica snapshot gone) fails with the reason while the others pass. After every drill nothing of it
// is left in ARM (this file's own resource groups only: the emulator is shared) nor in the replica container.
// The comparison itself is also checked on plain page blobs: equal, data on one side only, the lowest of
// several differences, a difference past the first 1 GiB listing window.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BlobSASPermissions, ContainerClient, StorageSharedKeyCredential, type BlockBlobClient, type PageBlobClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FailoverRequest, RecoveryPoint } from '../../src/api/types.ts';
import { removeScratch } from '../../src/azure/storage-checksums.ts';
import { compareByChecksums, type CompareSide } from '../../src/azure/verify/checksum-compare.ts';
import type { DrillReport } from '../../src/cli/drill-report.ts';
import { runDrill } from '../../src/cli/drill-run.ts';
import { diskBlob, listRecoveryPoints, writeRandom } from '../support/datapath-sandbox.ts';
import { startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import { REPO_ROOT } from '../support/helm.ts';
import { testKubeConfig } from '../support/kube.ts';

const MiB = 1024 * 1024;
const DISK_BYTES = 24 * MiB;
const MAIN = path.join(REPO_ROOT, 'src', 'cli', 'main.ts');
const rg = 'drillsum-src';
const targetRg = `${rg}-asr`;

let fx: FailoverFixture;
let kubeconfigFile: string;
let replicaContainer: ContainerClient;

/** The drill's resources in ARM: VMs, disks, NICs and snapshots of this file's resource groups. */
async function armResources(): Promise<string[]> {
  const c = fx.sb.c;
  const ids: string[] = [];
  for (const group of [rg, targetRg]) {
    for await (const r of c.compute.virtualMachines.list(group)) ids.push(r.id!);
    for await (const r of c.compute.disks.listByResourceGroup(group)) ids.push(r.id!);
    for await (const r of c.compute.snapshots.listByResourceGroup(group)) ids.push(r.id!);
    for await (const r of c.network.networkInterfaces.list(group)) ids.push(r.id!);
  }
  return ids.sort();
}

/** Scratch blobs of checksum verification, committed or not. */
async function scratchBlobs(): Promise<string[]> {
  const names: string[] = [];
  for await (const b of replicaContainer.listBlobsFlat({ prefix: 'verify-scratch/', includeUncommitedBlobs: true })) names.push(b.name);
  return names;
}

/** `site-recovery drill app --json ...` through the real binary. */
function cliDrill(...args: string[]): Promise<{ code: number | null; report: DrillReport; output: string }> {
  const env = { ...process.env, ...fx.sb.env, KUBECONFIG: kubeconfigFile, SITE_RECOVERY_NAMESPACE: fx.ns, LOG_LEVEL: 'error' };
  const child = spawn(process.execPath, [MAIN, 'drill', fx.vmName, '--json', '--timeout', '3m', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      try {
        resolve({ code, report: JSON.parse(stdout) as DrillReport, output: `${stdout}\n${stderr}` });
      } catch (error) {
        reject(new Error(`no JSON report (exit ${code}): ${stdout}\n${stderr}`, { cause: error }));
      }
    });
  });
}

/** A drill in this process, through the CLI's engine, with a step between failover and verification. */
function drillHere(afterFailover?: (fo: FailoverRequest) => Promise<void>): Promise<DrillReport> {
  return runDrill({ kubeConfig: fx.kc, azure: fx.sb.azure, namespace: fx.ns, vmName: fx.vmName, type: 'Test', timeoutMs: 180_000, ...(afterFailover ? { afterFailover } : {}) });
}

let before: string[];

beforeAll(async () => {
  fx = await startFailoverFixture({ namespacePrefix: 'drillsum', rg, disks: 3, diskBytes: DISK_BYTES });
  // Scattered data on every disk: some 4 MiB chunks full, some partly written, some never written.
  for (const [i, id] of fx.sourceDiskIds.entries()) {
    await writeRandom(diskBlob(fx.sb, id), 3 * MiB, i * MiB);
    await writeRandom(diskBlob(fx.sb, id), 512 * 1024, 13 * MiB + i * 4096);
    await writeRandom(diskBlob(fx.sb, id), 64 * 1024, DISK_BYTES - 64 * 1024);
  }
  await fx.runInProcess('dp-drillsum');
  await fx.protect(1);
  const kc = testKubeConfig();
  kubeconfigFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'drillsum-kubeconfig-')), 'config');
  fs.writeFileSync(kubeconfigFile, kc.exportConfig());
  const point = (await listRecoveryPoints(fx.kc, fx.ns, fx.vmName))[0] as RecoveryPoint;
  const blobUrl = point.spec.disks[0]!.blobUrl;
  replicaContainer = new ContainerClient(blobUrl.replace(/\/[^/]+$/, ''), accountCredential(blobUrl));
  before = await armResources();
}, 300_000);

afterAll(async () => {
  await fx?.close();
  if (kubeconfigFile) fs.rmSync(path.dirname(kubeconfigFile), { recursive: true, force: true });
});

function accountCredential(blobUrl: string): StorageSharedKeyCredential {
  const account = new URL(blobUrl).pathname.split('/')[1] as string;
  return new StorageSharedKeyCredential(account, fx.sb.storage.accountKey(account));
}

async function expectNothingLeft(report: DrillReport): Promise<void> {
  expect(report.cleanup, JSON.stringify(report)).toMatchObject({ state: 'Done', resourcesRemoved: 5 });
  expect(await armResources()).toEqual(before);
  expect(await scratchBlobs()).toEqual([]);
}

describe('site-recovery drill verifies by storage checksums', () => {
  it('by default: every disk verified by checksums storage computed, no disk byte read by the process, cleaned up, exit 0', async () => {
    const { code, report, output } = await cliDrill();
    expect(code, output).toBe(0);
    expect(report).toMatchObject({ type: 'Test', verify: 'Checksums', pass: true, phase: 'Succeeded', bytesRead: 0 });
    expect(report.disks.map((d) => d.name)).toEqual(['os', 'lun0', 'lun1']);
    for (const d of report.disks) {
      expect(d, d.name).toMatchObject({ pass: true, method: 'Checksums', bytesRead: 0, bytesVerified: DISK_BYTES, expected: { kind: 'RecoveryPointSnapshot' } });
      // The allocated chunks of either side: the 3 MiB, the 512 KiB piece and the last 64 KiB, within their 4 MiB chunks.
      expect(d.bytesCompared, d.name).toBeGreaterThanOrEqual(3 * MiB + 512 * 1024 + 64 * 1024);
      expect(d.bytesCompared, d.name).toBeLessThanOrEqual(DISK_BYTES);
      expect(d.seconds).toBeGreaterThanOrEqual(0);
      expect(d.firstDifferingOffset).toBeUndefined();
    }
    expect(report.bytesVerified).toBe(3 * DISK_BYTES);
    await expectNothingLeft(report);
  }, 300_000);

  it('a corrupted page of a failed-over disk fails verification naming the disk and the first differing offset; the drill still cleans up', async () => {
    const corruptAt = 9 * MiB + 3 * 512;
    const report = await drillHere(async (fo) => {
      // Bit rot on the failed-over data disk lun1: one 512-byte page of garbage, and another further on.
      const target = fo.status!.targetVirtualMachineId!.split('/');
      const vm = await fx.sb.c.compute.virtualMachines.get(target[4]!, target[8]!);
      const lun1 = vm.storageProfile?.dataDisks?.find((d) => d.lun === 1)?.managedDisk?.id as string;
      await diskBlob(fx.sb, lun1).uploadPages(crypto.randomBytes(512), corruptAt, 512);
      await diskBlob(fx.sb, lun1).uploadPages(crypto.randomBytes(1024), 17 * MiB, 1024);
    });
    expect(report.pass).toBe(false);
    expect(report.phase).toBe('Succeeded');
    const byName = Object.fromEntries(report.disks.map((d) => [d.name, d]));
    expect(byName.os).toMatchObject({ pass: true, method: 'Checksums' });
    expect(byName.lun0).toMatchObject({ pass: true, method: 'Checksums' });
    expect(byName.lun1).toMatchObject({ pass: false, method: 'Checksums', bytesVerified: 0, bytesRead: 0, firstDifferingOffset: corruptAt });
    expect(byName.lun1!.error).toBe(`content differs at offset ${corruptAt} (2 differing 4 MiB chunk(s))`);
    await expectNothingLeft(report);
  }, 300_000);

  it('a failing probe between failover and verification fails the drill, which still cleans up', async () => {
    const report = await drillHere(() => Promise.reject(new Error('probe: the application did not answer')));
    expect(report).toMatchObject({ pass: false, phase: 'Succeeded', error: 'probe: the application did not answer', disks: [] });
    await expectNothingLeft(report);
  }, 300_000);

  it('--verify full: sha256 of both sides read through the process, equal; the bytes read are reported', async () => {
    const { code, report, output } = await cliDrill('--verify', 'full');
    expect(code, output).toBe(0);
    expect(report).toMatchObject({ verify: 'Full', pass: true });
    for (const d of report.disks) {
      expect(d, d.name).toMatchObject({ pass: true, method: 'Full', bytesVerified: DISK_BYTES });
      expect(d.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(d.sha256).toBe(d.expected.sha256);
      expect(d.bytesRead, d.name).toBeGreaterThanOrEqual(2 * (3 * MiB + 512 * 1024 + 64 * 1024));
    }
    expect(report.bytesRead).toBe(report.disks.reduce((n, d) => n + d.bytesRead, 0));
    await expectNothingLeft(report);
  }, 300_000);

  it('--verify none: fails over and cleans up, verifies nothing', async () => {
    const { code, report, output } = await cliDrill('--verify', 'none');
    expect(code, output).toBe(0);
    expect(report).toMatchObject({ verify: 'None', pass: true, bytesVerified: 0, bytesRead: 0 });
    expect(report.disks.map((d) => [d.name, d.method, d.pass])).toEqual([['os', 'None', true], ['lun0', 'None', true], ['lun1', 'None', true]]);
    await expectNothingLeft(report);
  }, 300_000);

  it('a disk that cannot be verified (its replica snapshot deleted under the drill) fails with the reason; the others pass, nothing is left behind', async () => {
    const report = await drillHere(async (fo) => {
      const point = await fx.clients.points.get({ namespace: fx.ns, name: fo.status!.recoveryPointName! });
      await fx.pointSnapshot(point!, 'lun0').delete();
    });
    expect(report.pass).toBe(false);
    const byName = Object.fromEntries(report.disks.map((d) => [d.name, d]));
    expect(byName.os).toMatchObject({ pass: true });
    expect(byName.lun1).toMatchObject({ pass: true });
    expect(byName.lun0).toMatchObject({ pass: false, bytesVerified: 0 });
    expect(byName.lun0!.error).toMatch(/BlobNotFound|does not exist|not found/i);
    // The verification snapshot of the failed-over disk and the scratch blobs went too.
    await expectNothingLeft(report);
  }, 300_000);

  it('a usage error for an unknown method (exit 2)', async () => {
    const env = { ...process.env, ...fx.sb.env, KUBECONFIG: kubeconfigFile, SITE_RECOVERY_NAMESPACE: fx.ns };
    const child = spawn(process.execPath, [MAIN, 'drill', fx.vmName, '--verify', 'md5'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/--verify.*md5.*checksums, full, none/s);
  }, 60_000);
});

describe('compareByChecksums on page blobs', () => {
  const GiB = 1024 * MiB;
  let container: ContainerClient;
  const blobs: PageBlobClient[] = [];

  beforeAll(async () => {
    const point = (await listRecoveryPoints(fx.kc, fx.ns, fx.vmName))[0] as RecoveryPoint;
    const url = new URL(point.spec.disks[0]!.blobUrl);
    const account = url.pathname.split('/')[1];
    container = new ContainerClient(`${url.origin}/${account}/drillsum-compare`, accountCredential(point.spec.disks[0]!.blobUrl));
    await container.createIfNotExists();
  });

  afterAll(async () => {
    await container?.deleteIfExists();
  });

  /** A page blob of `size` with `writes` (offset → bytes). */
  async function pageBlob(name: string, size: number, writes: Array<[number, Buffer]>): Promise<PageBlobClient> {
    const blob = container.getPageBlobClient(name);
    await blob.create(size);
    for (const [at, bytes] of writes) await blob.uploadPages(bytes, at, bytes.length);
    blobs.push(blob);
    return blob;
  }

  async function side(blob: PageBlobClient, scratch: string): Promise<CompareSide> {
    const sas = await blob.generateSasUrl({ permissions: BlobSASPermissions.parse('r'), expiresOn: new Date(Date.now() + 3600_000) });
    return { blob, url: sas, scratch: container.getBlockBlobClient(scratch) };
  }

  async function compare(a: PageBlobClient, b: PageBlobClient, length: number) {
    const [x, y] = [await side(a, 'scratch-a'), await side(b, 'scratch-b')];
    try {
      return await compareByChecksums(x, y, length, { concurrency: 4 });
    } finally {
      await Promise.all([removeScratch(x.scratch as BlockBlobClient), removeScratch(y.scratch as BlockBlobClient)]);
    }
  }

  const data = crypto.randomBytes(6 * MiB);

  it('equal blobs: equal, only the allocated chunks compared, nothing left in the scratch blobs', async () => {
    const a = await pageBlob('eq-a', 64 * MiB, [[MiB, data]]);
    const b = await pageBlob('eq-b', 64 * MiB, [[MiB, data]]);
    const found = await compare(a, b, 64 * MiB);
    expect(found).toMatchObject({ bytesCompared: 6 * MiB, differingChunks: 0 });
    expect(found.firstDifference).toBeUndefined();
    const left: string[] = [];
    for await (const x of container.listBlobsFlat({ prefix: 'scratch-', includeUncommitedBlobs: true })) left.push(x.name);
    expect(left).toEqual([]);
  });

  it('data on one side where the other has none (zeros): differs at its first page', async () => {
    const a = await pageBlob('one-a', 64 * MiB, [[MiB, data]]);
    const b = await pageBlob('one-b', 64 * MiB, [[MiB, data], [40 * MiB + 2048, crypto.randomBytes(512)]]);
    expect(await compare(a, b, 64 * MiB)).toMatchObject({ differingChunks: 1, firstDifference: 40 * MiB + 2048 });
  });

  it('several differences: the lowest is named, to the 512-byte page', async () => {
    const other = Buffer.from(data);
    other.fill(7, 5 * MiB + 4608, 5 * MiB + 4608 + 100);
    other.fill(9, 2 * MiB + 1536, 2 * MiB + 1537);
    const a = await pageBlob('many-a', 64 * MiB, [[MiB, data]]);
    const b = await pageBlob('many-b', 64 * MiB, [[MiB, other]]);
    expect(await compare(a, b, 64 * MiB)).toMatchObject({ differingChunks: 2, firstDifference: 3 * MiB + 1536 });
  });

  it('a difference past the first 1 GiB window is found; one past the compared length is not', async () => {
    const a = await pageBlob('far-a', 2 * GiB, [[MiB, data]]);
    const b = await pageBlob('far-b', 2 * GiB, [[MiB, data], [GiB + 8 * MiB + 512, crypto.randomBytes(512)]]);
    expect(await compare(a, b, 2 * GiB)).toMatchObject({ firstDifference: GiB + 8 * MiB + 512 });
    expect((await compare(a, b, GiB)).firstDifference).toBeUndefined();
  });
});
