// Disks changing under a protected VM, end to end: the real operator and datapath (in this process) against
// the real API server and local Azure. The VM starts with an OS disk, lun0 and lun1, lun1 excluded by the
// spec. Then: a data disk attached mid-replication (`sandbox disk add`) with data written to it, lun0 grown
// while the VM runs and written past its old end, a test failover from a point before the new disk (without
// it) and one from the newest point (with it, every disk byte for byte), the new disk detached again,
// another attached at the freed LUN (a replica blob of its own), and a Planned failover. Throughout, no RecoveryPoint names a replica snapshot that does not exist, and the excluded disk is never
// replicated nor created in the target.
import { ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FailoverRequest, RecoveryPoint, ReplicatedVM } from '../../src/api/types.ts';
import { hashPageBlob } from '../../src/azure/page-blob-hash.ts';
import { addDataDisk, growDisk } from '../../sandbox/src/disk-add.ts';
import { hashDisk } from '../../sandbox/src/workload/index.ts';
import { sandboxStorageCredential } from '../../sandbox/src/storage/token.ts';
import { diskBlob, hashBlob, listRecoveryPoints, writeRandom } from '../support/datapath-sandbox.ts';
import { finished, startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import { enforceShippedRoles, nothingRefused } from '../support/shipped-roles.ts';
import { waitForObject } from '../support/wait.ts';

const MiB = 1024 * 1024;
const DISK_BYTES = 16 * MiB;
const GROWN_GIB = 2; // an uploaded 16 MiB disk already counts as 1 GB in ARM
const rg = 'disks-src';
const vmName = 'app';

let fx: FailoverFixture;
const vmRef = () => ({ namespace: fx.ns, name: vmName });
const points = () => listRecoveryPoints(fx.kc, fx.ns, vmName);
const replicated = (o: ReplicatedVM | undefined) => (o?.status?.disks ?? []).map((d) => d.name);

/** Every disk of every point names a replica snapshot that exists. */
async function expectNoMissingReplica(): Promise<void> {
  for (const point of await points()) {
    for (const d of point.spec.disks) {
      expect(d.snapshot, `${point.metadata.name} ${d.name}`).not.toBe('');
      await expect(fx.pointSnapshot(point, d.name).getProperties(), `${point.metadata.name} ${d.name}`).resolves.toBeDefined();
    }
  }
}

/** Waits for a sealed point whose disks satisfy `test`. */
async function pointWhere(test: (p: RecoveryPoint) => boolean, what: string): Promise<RecoveryPoint> {
  const vm = await waitForObject(fx.kc, fx.clients.vms, vmRef(), (o) => o?.status?.lastRecoveryPoint !== undefined, what);
  for (let last = vm?.status?.replication?.cycle ?? 0; ; ) {
    const found = (await points()).find(test);
    if (found) return found;
    const next = await waitForObject(fx.kc, fx.clients.vms, vmRef(), (o) => (o?.status?.replication?.cycle ?? 0) > last, what, 120_000);
    last = next?.status?.replication?.cycle ?? last;
  }
}

/** A test failover from `point`; returns the request once it succeeded. */
async function testFailover(name: string, recoveryPoint: string): Promise<FailoverRequest> {
  await fx.failovers.create(fx.ns, { metadata: { name }, spec: { replicatedVMName: vmName, type: 'Test', recoveryPoint } });
  const fo = await waitForObject(fx.kc, fx.failovers, { namespace: fx.ns, name }, finished, `test failover ${name}`, 180_000);
  expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
  return fo!;
}

/** The target VM's disks by name (os, lun<N>). */
async function targetDisks(fo: FailoverRequest): Promise<Map<string, string>> {
  const id = fo.status!.targetVirtualMachineId!.split('/');
  const vm = await fx.sb.c.compute.virtualMachines.get(id[4]!, id.at(-1)!);
  const sp = vm.storageProfile!;
  return new Map([['os', sp.osDisk!.managedDisk!.id!], ...(sp.dataDisks ?? []).map((d) => [`lun${d.lun}`, d.managedDisk!.id!] as [string, string])]);
}

const hashOf = (diskId: string, length: number) => hashDisk(fx.sb.storage.diskBlobUrl(diskId), { length, credential: diskCredential() });
const diskCredential = () => new StorageSharedKeyCredential(fx.sb.storage.diskAccount, fx.sb.storage.accountKey(fx.sb.storage.diskAccount));

beforeAll(async () => {
  fx = await startFailoverFixture({ principals: true, namespacePrefix: 'disks', rg, vmName, disks: 3, diskBytes: DISK_BYTES });
  enforceShippedRoles(fx.sb);
  for (const [i, id] of fx.sourceDiskIds.entries()) await writeRandom(diskBlob(fx.sb, id), 2 * MiB, MiB * (1 + i));
  // A short drift check: the operator notices disks attached, detached and grown within seconds.
  await fx.runInProcess('dp-disks', { resyncMs: 2000 });
  // As protect() does, with lun1 excluded.
  await fx.clients.policies.create(fx.ns, { metadata: { name: 'fast' }, spec: { recoveryPointInterval: '1m', retention: '1h' } });
  await fx.clients.mappings.create(fx.ns, { metadata: { name: 'net' }, spec: { sourceVirtualNetworkId: `/subscriptions/${fx.sb.arm.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${rg}-vnet`, targetLocation: 'northeurope', targetResourceGroup: `${rg}-asr` } });
  await fx.clients.vms.create(fx.ns, { metadata: { name: vmName }, spec: { sourceVirtualMachineId: fx.sourceVmId, targetLocation: 'northeurope', policyRef: { name: 'fast' }, networkMappingRef: { name: 'net' }, excludedDiskLuns: [1] } });
  await waitForObject(fx.kc, fx.clients.vms, vmRef(), (o) => o?.status?.phase === 'Protected' && (o.status.replication?.cycle ?? 0) >= 2, 'protected', 180_000);
}, 240_000);

afterAll(async () => {
  await fx?.close();
});

describe('disks changing under a protected VM', () => {
  let before: RecoveryPoint;
  let added: { id: string; lun: number };
  let replacement: { id: string; lun: number };

  it('never replicates an excluded disk', async () => {
    expect(replicated(await fx.clients.vms.get(vmRef()))).toEqual(['os', 'lun0']);
    for (const p of await points()) expect(p.spec.disks.map((d) => d.name)).toEqual(['os', 'lun0']);
    const url = new URL((await points())[0]!.spec.disks[0]!.blobUrl);
    const replica = new ContainerClient(`${url.origin}${url.pathname.split('/').slice(0, 3).join('/')}`, sandboxStorageCredential());
    const blobs: string[] = [];
    for await (const b of replica.listBlobsFlat()) blobs.push(b.name);
    expect(blobs.filter((n) => n.endsWith('.vhd')).sort()).toEqual(['lun0.vhd', 'os.vhd']);
  });

  it('replicates a data disk attached mid-replication, from the next points on, never naming a missing replica', async () => {
    before = (await points()).at(-1)!;
    added = await addDataDisk(fx.sb.c, fx.sourceVmId, DISK_BYTES);
    expect(added.lun).toBe(2);
    await writeRandom(diskBlob(fx.sb, added.id), 3 * MiB, 5 * MiB);
    await waitForObject(fx.kc, fx.clients.vms, vmRef(), (o) => replicated(o).includes('lun2'), 'the operator registers the new disk', 120_000);
    const first = await pointWhere((p) => p.spec.disks.some((d) => d.name === 'lun2'), 'a point with the new disk');
    expect(first.spec.disks.map((d) => d.name)).toEqual(['os', 'lun0', 'lun2']);
    expect(await hashBlob(fx.pointSnapshot(first, 'lun2'))).toBe(await hashOf(added.id, DISK_BYTES));
    await expectNoMissingReplica();
  });

  it('grows the replica of a disk grown while the VM runs, and replicates its new tail', async () => {
    const lun0 = fx.sourceDiskIds[1]!;
    await growDisk(fx.sb.c, lun0, GROWN_GIB);
    await writeRandom(diskBlob(fx.sb, lun0), 2 * MiB, DISK_BYTES + 4 * MiB);
    const grown = await pointWhere((p) => p.spec.disks.find((d) => d.name === 'lun0')?.sizeBytes === GROWN_GIB * 1024 * MiB, 'a point with lun0 grown');
    // The new tail (and all before it) as the source has it; beyond is zeros on both sides.
    expect((await hashPageBlob(fx.pointSnapshot(grown, 'lun0'), { length: 32 * MiB })).sha256).toBe(await hashOf(lun0, 32 * MiB));
  });

  it('fails over from a point after the new disk with every disk byte for byte, the excluded one absent', async () => {
    for (const id of [fx.sourceDiskIds[0]!, fx.sourceDiskIds[1]!, added.id]) await writeRandom(diskBlob(fx.sb, id), MiB, 9 * MiB);
    const fo = await testFailover('after', 'Latest');
    const disks = await targetDisks(fo);
    expect([...disks.keys()].sort()).toEqual(['lun0', 'lun2', 'os']);
    expect(await hashOf(disks.get('os')!, DISK_BYTES)).toBe(await hashOf(fx.sourceDiskIds[0]!, DISK_BYTES));
    expect(await hashOf(disks.get('lun0')!, 32 * MiB)).toBe(await hashOf(fx.sourceDiskIds[1]!, 32 * MiB));
    expect(await hashOf(disks.get('lun2')!, DISK_BYTES)).toBe(await hashOf(added.id, DISK_BYTES));
  });

  it('fails over from a point before the new disk without it', async () => {
    const fo = await testFailover('before', before.metadata.name!);
    const disks = await targetDisks(fo);
    expect([...disks.keys()].sort()).toEqual(['lun0', 'os']);
    for (const name of ['os', 'lun0']) expect(await hashOf(disks.get(name)!, DISK_BYTES), name).toBe(await hashBlob(fx.pointSnapshot(before, name)));
  });

  it('stops replicating a detached disk, keeping its replica and the points naming it', async () => {
    const vm = await fx.sb.c.compute.virtualMachines.get(rg, vmName);
    await fx.sb.c.compute.virtualMachines.beginUpdateAndWait(rg, vmName, { storageProfile: { dataDisks: vm.storageProfile!.dataDisks!.filter((d) => d.lun !== added.lun) } }, { updateIntervalInMs: 50 });
    const unregistered = await waitForObject(fx.kc, fx.clients.vms, vmRef(), (o) => !replicated(o).includes('lun2'), 'the operator unregisters the detached disk', 120_000);
    expect(unregistered?.status?.detachedDisks).toEqual([{ name: 'lun2', sourceDiskId: added.id, targetBlobName: 'lun2.vhd', detachedTime: expect.any(String) }]);
    const naming = (await points()).filter((p) => p.spec.disks.some((d) => d.name === 'lun2'));
    const last = (await points()).at(-1)!.spec.cycle!;
    const after = await pointWhere((p) => p.spec.cycle! > last + 1, 'a point after the detach');
    expect(after.spec.disks.map((d) => d.name)).toEqual(['os', 'lun0']);
    for (const p of naming) expect((await fx.clients.points.get({ namespace: fx.ns, name: p.metadata.name! }))?.spec.disks.some((d) => d.name === 'lun2')).toBe(true);
    await expect(fx.pointSnapshot(naming[0]!, 'lun2').withSnapshot('').getProperties()).resolves.toBeDefined();
    await expectNoMissingReplica();
  });

  it('replicates a disk attached at the freed LUN into a replica blob of its own, keeping the old one', async () => {
    replacement = await addDataDisk(fx.sb.c, fx.sourceVmId, DISK_BYTES);
    expect(replacement.lun).toBe(added.lun);
    await writeRandom(diskBlob(fx.sb, replacement.id), 2 * MiB, 2 * MiB);
    const vm = await waitForObject(fx.kc, fx.clients.vms, vmRef(), (o) => replicated(o).includes('lun2'), 'the operator registers the replacement', 120_000);
    const blob = vm?.status?.disks?.find((d) => d.name === 'lun2')?.targetBlobName;
    expect(blob).toMatch(/^lun2-[0-9a-f]{8}\.vhd$/);
    expect(vm?.status?.detachedDisks?.map((d) => [d.name, d.sourceDiskId, d.targetBlobName])).toEqual([['lun2', added.id, 'lun2.vhd']]);
    const point = await pointWhere((p) => p.spec.disks.some((d) => d.name === 'lun2' && d.blobUrl.endsWith(`/${blob}`)), 'a point with the replacement');
    expect(await hashBlob(fx.pointSnapshot(point, 'lun2'))).toBe(await hashOf(replacement.id, DISK_BYTES));
    const old = (await points()).find((p) => p.spec.disks.some((d) => d.name === 'lun2' && d.blobUrl.endsWith('/lun2.vhd')))!;
    expect(await hashBlob(fx.pointSnapshot(old, 'lun2'))).not.toBe(await hashOf(replacement.id, DISK_BYTES));
    await expectNoMissingReplica();
  });

  it('stops replicating a disk excluded later, and replicates it again into its own replica once included', async () => {
    await fx.clients.vms.mergePatch(vmRef(), { spec: { excludedDiskLuns: [1, 2] } });
    const excluded = await waitForObject(fx.kc, fx.clients.vms, vmRef(), (o) => !replicated(o).includes('lun2'), 'lun2 excluded', 120_000);
    const blob = excluded?.status?.detachedDisks?.find((d) => d.sourceDiskId === replacement.id)?.targetBlobName;
    expect(excluded?.status?.detachedDisks?.map((d) => d.targetBlobName).sort()).toEqual(['lun2.vhd', blob].sort());
    const last = (await points()).at(-1)!.spec.cycle!;
    expect((await pointWhere((p) => p.spec.cycle! > last, 'a point without lun2')).spec.disks.map((d) => d.name)).toEqual(['os', 'lun0']);

    await writeRandom(diskBlob(fx.sb, replacement.id), MiB, 6 * MiB);
    await fx.clients.vms.mergePatch(vmRef(), { spec: { excludedDiskLuns: [1] } });
    const included = await waitForObject(fx.kc, fx.clients.vms, vmRef(), (o) => replicated(o).includes('lun2'), 'lun2 included again', 120_000);
    expect(included?.status?.disks?.find((d) => d.name === 'lun2')?.targetBlobName).toBe(blob);
    expect(included?.status?.detachedDisks?.map((d) => d.targetBlobName)).toEqual(['lun2.vhd']);
    const again = await pointWhere((p) => p.spec.cycle! > last + 1 && p.spec.disks.some((d) => d.name === 'lun2'), 'a point with lun2 again');
    expect(await hashBlob(fx.pointSnapshot(again, 'lun2'))).toBe(await hashOf(replacement.id, DISK_BYTES));
    await expectNoMissingReplica();
  });

  it('fails over Planned with the disks as they are now: grown, replaced, excluded one absent, byte for byte', async () => {
    for (const id of [fx.sourceDiskIds[1]!, replacement.id]) await writeRandom(diskBlob(fx.sb, id), MiB, 12 * MiB);
    await fx.failovers.create(fx.ns, { metadata: { name: 'move' }, spec: { replicatedVMName: vmName, type: 'Planned' } });
    const fo = await waitForObject(fx.kc, fx.failovers, { namespace: fx.ns, name: 'move' }, finished, 'planned failover', 180_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    const disks = await targetDisks(fo!);
    expect([...disks.keys()].sort()).toEqual(['lun0', 'lun2', 'os']);
    expect(await hashOf(disks.get('os')!, DISK_BYTES)).toBe(await hashOf(fx.sourceDiskIds[0]!, DISK_BYTES));
    expect(await hashOf(disks.get('lun0')!, 32 * MiB)).toBe(await hashOf(fx.sourceDiskIds[1]!, 32 * MiB));
    expect(await hashOf(disks.get('lun2')!, DISK_BYTES)).toBe(await hashOf(replacement.id, DISK_BYTES));
    const lun0 = disks.get('lun0')!.split('/');
    expect((await fx.sb.c.compute.disks.get(lun0[4]!, lun0.at(-1)!)).diskSizeGB).toBe(GROWN_GIB);
  });
});

describe('sandbox disk add and resize, refused as Azure refuses them', () => {
  it('refuses to grow the OS disk of a running VM, and to shrink a disk', async () => {
    await expect(growDisk(fx.sb.c, fx.sourceDiskIds[0]!, 8)).rejects.toMatchObject({ statusCode: 409, code: 'OperationNotAllowed', message: expect.stringMatching(/OS disk cannot be expanded without downtime/) });
    await expect(growDisk(fx.sb.c, fx.sourceDiskIds[1]!, 1)).rejects.toMatchObject({ statusCode: 400, message: expect.stringMatching(/disks can only grow/) });
  });

  it('refuses a disk size that is not a multiple of 512 bytes, and an id that is not a VM', async () => {
    await expect(addDataDisk(fx.sb.c, fx.sourceVmId, 1000)).rejects.toThrow(/positive multiple of 512 bytes/);
    await expect(addDataDisk(fx.sb.c, fx.sourceNicId, 16 * MiB)).rejects.toThrow(/not a virtual machine id/);
    await expect(growDisk(fx.sb.c, fx.sourceVmId, 2)).rejects.toThrow(/not a managed disk id/);
  });
});

nothingRefused(() => fx.sb);
