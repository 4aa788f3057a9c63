// A regional outage in the sandbox (issue #14): while westeurope is down, ARM requests on its resources
// (and their children and operation polls) fail with 503/500 ARM error bodies, resets and hangs in a fixed
// rotation; northeurope and resource groups keep working; lists leave westeurope's resources out; its
// storage accounts and disk SAS exports do not answer and its VMs' disks refuse the hypervisor; after
// `restore` everything is back with the same data. Through the real SDK clients, outages driven over the
// control endpoint the CLI uses. The CLI itself (`sandbox outage`/`restore`, a workload stopping) last.
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { AnonymousCredential, BlobServiceClient, PageBlobClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSandbox } from '../../sandbox/src/client.ts';
import { endOutage, listOutages, startOutage } from '../../sandbox/src/outage.ts';
import { sandboxAccessToken } from '../../sandbox/src/storage/index.ts';
import { createSandboxVm } from '../../sandbox/src/vm.ts';
import { hashDisk } from '../../sandbox/src/workload/index.ts';
import { giveUpAfter, noRetryClients, outcome, type OutageClients } from '../support/outage.ts';
import { fast, startHarness, type Harness } from './sandbox-arm-support.ts';

const A = 'westeurope';
const B = 'northeurope';
let h: Harness;
let c: OutageClients;
const conn = (): { endpoint: string; token: string } => ({ endpoint: h.arm.endpoint, token: sandboxAccessToken() });
const noRetry = { retryOptions: { maxTries: 1 } };

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** The hypervisor's view of a disk (shared key on the hidden managed-disk account). */
const hypervisor = (diskId: string): PageBlobClient =>
  new PageBlobClient(h.storage.diskBlobUrl(diskId), new StorageSharedKeyCredential(h.storage.diskAccount, h.storage.accountKey(h.storage.diskAccount)), noRetry);

/** A storage account with container `box` holding blob `b`; its blob service client (shared key). */
async function account(rg: string, name: string, location: string): Promise<BlobServiceClient> {
  const acct = await c.storage.storageAccounts.create(rg, name, { location, sku: { name: 'Standard_LRS' }, kind: 'StorageV2' }, fast);
  const keys = await c.storage.storageAccounts.listKeys(rg, name);
  const svc = new BlobServiceClient(acct.primaryEndpoints!.blob!, new StorageSharedKeyCredential(name, keys.keys![0]!.value!), noRetry);
  await svc.getContainerClient('box').createIfNotExists();
  await svc.getContainerClient('box').getBlockBlobClient('b').upload('hello', 5);
  return svc;
}

let vmA: { id: string; osDisk: string };
let diskSasA: string;
let saA: BlobServiceClient;
let saB: BlobServiceClient;
let hashBefore: string;

beforeAll(async () => {
  h = await startHarness();
  c = noRetryClients(h.arm, sandboxAccessToken());
  const vm = await createSandboxVm(c, { name: 'vm-a', resourceGroup: 'rg-a', location: A, dataDisks: 0, dataDiskSizeGiB: 1, osDiskSizeGiB: 1 });
  vmA = { id: vm.id!, osDisk: vm.storageProfile!.osDisk!.managedDisk!.id! };
  await hypervisor(vmA.osDisk).uploadPages(Buffer.alloc(4096, 7), 8192, 4096);
  await c.compute.restorePointCollections.createOrUpdate('rg-a', 'rpc-a', { location: A, source: { id: vmA.id } });
  await c.compute.disks.createOrUpdate('rg-a', 'data-a', { location: A, diskSizeGB: 1, creationData: { createOption: 'Empty' } }, fast);
  diskSasA = (await c.compute.disks.grantAccess('rg-a', 'data-a', { access: 'Read', durationInSeconds: 3600 }, fast)).accessSAS!;
  await c.resources.resourceGroups.createOrUpdate('rg-b', { location: B });
  await c.compute.disks.createOrUpdate('rg-b', 'disk-b', { location: B, diskSizeGB: 1, creationData: { createOption: 'Empty' } }, fast);
  saA = await account('rg-a', 'outagesa', A);
  saB = await account('rg-b', 'outagesb', B);
  hashBefore = await hashDisk(hypervisor(vmA.osDisk).url, { credential: new StorageSharedKeyCredential(h.storage.diskAccount, h.storage.accountKey(h.storage.diskAccount)) });
});

afterAll(async () => {
  await h?.close();
});

describe('a regional outage', () => {
  it('fails ARM requests on the region’s resources in a fixed rotation: 503, 500, reset, hang', async () => {
    const outage = await startOutage(conn(), 'West Europe');
    expect(outage).toMatchObject({ region: A, failures: ['unavailable', 'internal', 'reset', 'hang'] });
    const got = [];
    for (let i = 0; i < 5; i++) got.push(await outcome(c.compute.virtualMachines.get('rg-a', 'vm-a', giveUpAfter())));
    expect(got).toEqual(['unavailable', 'internal', 'reset', 'hang', 'unavailable']);
    // The error body is ARM's common one.
    const r = await fetch(`${h.arm.endpoint}${vmA.id}?api-version=2024-07-01`, { headers: { Authorization: 'Bearer t' } });
    expect(r.status).toBe(500); // the rotation's sixth request
    expect(await r.json()).toEqual({ error: { code: 'InternalServerError', message: expect.stringContaining(A) } });
    expect(await listOutages(conn())).toMatchObject([{ region: A, armRequests: 6 }]);
    expect(await endOutage(conn(), A)).toBe(true);
    expect(await endOutage(conn(), A)).toBe(false);
  });

  it('fails every kind of request located in the region: PUT, GET, children, operation polls; others and resource groups work', async () => {
    h.arm.setLatency({ operations: { 'disks.put': 60_000 } });
    const poller = await c.compute.disks.beginCreateOrUpdate('rg-a', 'slow-a', { location: A, diskSizeGB: 1, creationData: { createOption: 'Empty' } }, fast);
    h.arm.setLatency({ operations: { 'disks.put': 0 } });
    await startOutage(conn(), A, { failures: ['unavailable'] });
    try {
      const ok = 'ok';
      expect(await outcome(c.compute.disks.get('rg-a', 'data-a'))).toBe('unavailable');
      expect(await outcome(c.compute.disks.createOrUpdate('rg-a', 'new-a', { location: A, diskSizeGB: 1, creationData: { createOption: 'Empty' } }, fast))).toBe('unavailable');
      expect(await outcome(c.compute.disks.createOrUpdate('rg-b', 'new-in-a', { location: A, diskSizeGB: 1, creationData: { createOption: 'Empty' } }, fast))).toBe('unavailable');
      expect(await outcome(c.compute.restorePointCollections.get('rg-a', 'rpc-a'))).toBe('unavailable');
      expect(await outcome(c.compute.restorePoints.get('rg-a', 'rpc-a', 'rp-1'))).toBe('unavailable');
      expect(await outcome(c.network.subnets.get('rg-a', 'rg-a-vnet', 'default'))).toBe('unavailable');
      expect(await outcome(c.storage.blobContainers.get('rg-a', 'outagesa', 'box'))).toBe('unavailable');
      expect(await outcome(poller.poll())).toBe('unavailable');
      // Elsewhere, and global resources, work.
      expect(await outcome(c.compute.disks.get('rg-b', 'disk-b'))).toBe(ok);
      expect(await outcome(c.compute.disks.createOrUpdate('rg-b', 'new-b', { location: B, diskSizeGB: 1, creationData: { createOption: 'Empty' } }, fast))).toBe(ok);
      expect((await c.resources.resourceGroups.get('rg-a')).location).toBe(A);
      expect((await collect(c.resources.resourceGroups.list())).map((g) => g.name)).toEqual(expect.arrayContaining(['rg-a', 'rg-b']));
    } finally {
      await endOutage(conn(), A);
    }
  });

  it('leaves the region’s resources out of subscription- and resource-group-wide lists', async () => {
    const names = async (): Promise<Record<string, string[]>> => ({
      disks: (await collect(c.compute.disks.list())).map((d) => d.name!).sort(),
      rgDisks: (await collect(c.compute.disks.listByResourceGroup('rg-a'))).map((d) => d.name!).sort(),
      generic: (await collect(c.resources.resources.list())).map((r) => r.name!).sort(),
      accounts: (await collect(c.storage.storageAccounts.list())).map((a) => a.name!).sort(),
    });
    const before = await names();
    expect(before.disks).toEqual(expect.arrayContaining(['data-a', 'disk-b']));
    await startOutage(conn(), A);
    try {
      const during = await names();
      expect(during.disks).toEqual(['disk-b', 'new-b']);
      expect(during.rgDisks).toEqual([]);
      expect(during.accounts).toEqual(['outagesb']);
      expect(during.generic).toEqual(['disk-b', 'new-b', 'outagesb']);
    } finally {
      await endOutage(conn(), A);
    }
    expect(await names()).toEqual(before);
  });

  it('takes the region’s storage down: accounts and disk SAS exports reset or hang, its VMs’ disks refuse the hypervisor; other accounts serve', async () => {
    await startOutage(conn(), A);
    try {
      const blobA = saA.getContainerClient('box').getBlockBlobClient('b');
      const storageOutcomes = [];
      for (let i = 0; i < 3; i++) storageOutcomes.push(await outcome(blobA.downloadToBuffer(0, undefined, giveUpAfter())));
      expect(storageOutcomes).toEqual(['reset', 'hang', 'reset']);
      expect(['reset', 'hang']).toContain(await outcome(new PageBlobClient(diskSasA, new AnonymousCredential(), noRetry).getProperties(giveUpAfter())));
      await expect(hypervisor(vmA.osDisk).uploadPages(Buffer.alloc(512, 1), 0, 512)).rejects.toMatchObject({ statusCode: 409, code: 'SandboxRegionDown' });
      expect((await saB.getContainerClient('box').getBlockBlobClient('b').downloadToBuffer()).toString()).toBe('hello');
    } finally {
      await endOutage(conn(), A);
    }
  });

  it('restore brings everything back with its data unchanged', async () => {
    expect((await c.compute.virtualMachines.get('rg-a', 'vm-a')).id).toBe(vmA.id);
    expect((await saA.getContainerClient('box').getBlockBlobClient('b').downloadToBuffer()).toString()).toBe('hello');
    expect((await new PageBlobClient(diskSasA, new AnonymousCredential()).getProperties()).contentLength).toBe(1024 ** 3);
    expect(await hashDisk(hypervisor(vmA.osDisk).url, { credential: new StorageSharedKeyCredential(h.storage.diskAccount, h.storage.accountKey(h.storage.diskAccount)) })).toBe(hashBefore);
    expect(await listOutages(conn())).toEqual([]);
  });
});

describe('the CLI', () => {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const node = path.join(repo, 'node_modules/.bin/node');
  const main = path.join(repo, 'src/cli/main.ts');
  let dir: string;
  let up: ChildProcess | undefined;

  /** Runs `site-recovery sandbox …`: exit code and output lines. */
  const cli = (...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> =>
    new Promise((resolve) => {
      execFile(node, [main, 'sandbox', ...args], { cwd: dir, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
        const lines = (t: string): string[] => t.split('\n').filter((l) => l.trim() && !l.startsWith('{'));
        resolve({ code: error ? Number(error.code ?? 1) : 0, out: lines(stdout), err: lines(stderr) });
      });
    });

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sandbox-outage-cli-'));
    up = spawn(node, [main, 'sandbox', 'up', '--dir', dir, '--no-kube'], { stdio: ['ignore', 'pipe', 'ignore'], cwd: dir });
    await new Promise<void>((resolve, reject) => {
      readline.createInterface({ input: up!.stdout! }).on('line', (l) => l.startsWith('sandbox ready') && resolve());
      up!.once('exit', (code) => reject(new Error(`sandbox up exited (${code})`)));
    });
  });
  afterAll(async () => {
    if (up && up.exitCode === null) {
      const exited = new Promise((r) => up!.once('exit', r));
      up.kill('SIGTERM');
      await exited;
    }
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('outage stops a workload on a VM there with one line; outage and restore print one line each; usage errors exit 2', async () => {
    const created = await cli('vm', 'create', 'web', '--resource-group', 'rg-cli', '--location', A, '--disks', '1', '--disk-size', '1GiB', '--os-disk-size', '1GiB', '--dir', dir);
    expect(created.code).toBe(0);
    const vmId = created.out[created.out.length - 1]!;
    const conn = connectSandbox(dir);
    const vmGets = async (): Promise<number> => {
      const r = await fetch(`${conn.endpoint}/_sandbox/stats`, { headers: { Authorization: `Bearer ${conn.token}` } });
      return ((await r.json()) as { operations: Record<string, number> }).operations['GET Microsoft.Compute/virtualMachines'] ?? 0;
    };
    const before = await vmGets();
    const workload = cli('workload', vmId, '--rate', '1MiB/s', '--duration', '120s', '--dir', dir);
    // The workload has read its VM (an event in another process: polled) and then writes to its disks.
    while ((await vmGets()) === before) await new Promise((r) => setTimeout(r, 50));

    expect(await cli('outage', A, '--dir', dir)).toEqual({
      code: 0,
      out: [`region ${A} is down (sandbox outage): ARM requests on its resources fail, its storage and VMs do not answer`],
      err: [],
    });
    expect(await workload).toEqual({ code: 1, out: [], err: [`workload stopped: region ${A} is down (sandbox outage)`] });
    expect(await cli('restore', A, '--dir', dir)).toEqual({ code: 0, out: [`region ${A} is back`], err: [] });
    expect((await cli('disk-hash', vmId, '--dir', dir)).out).toHaveLength(2);

    const missing = await cli('outage', '--dir', dir);
    expect(missing.code).toBe(2);
    expect(missing.err).toEqual([expect.stringContaining("missing required argument 'region'")]);
    const nowhere = await cli('restore', A, '--dir', path.join(dir, 'nothing-here'));
    expect(nowhere.code).toBe(2);
    expect(nowhere.err).toEqual([expect.stringMatching(/^no running sandbox found/)]);
  });
});
