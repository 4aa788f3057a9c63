// ARM emulator through the official SDK clients: virtual machines, managed disks (empty, import, copy,
// upload; encryption with disk encryption sets), snapshots (incremental diffs), restore points (multi-disk crash consistency), disk restore
// points and storage accounts. Disk content is checked through the SAS URLs ARM hands out.
import crypto from 'node:crypto';
import { AnonymousCredential, BlobServiceClient, PageBlobClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { VirtualMachine } from '@azure/arm-compute';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, MiB, fast, network, startHarness } from './sandbox-arm-support.ts';
import type { Harness } from './sandbox-arm-support.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ pageSize: 2 });
});
afterAll(async () => {
  await h?.close();
});

const loc = 'westeurope';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** The VM's own I/O: the disk's page blob, written directly (as the hypervisor would). */
function diskBlob(diskId: string): PageBlobClient {
  const key = new StorageSharedKeyCredential(h.storage.diskAccount, h.storage.accountKey(h.storage.diskAccount));
  return new PageBlobClient(h.storage.diskBlobUrl(diskId), key);
}

const sasClient = (url: string): PageBlobClient => new PageBlobClient(url, new AnonymousCredential());

function page(fill: number, size = 512): Buffer {
  return Buffer.alloc(size, fill);
}

async function createVm(rg: string, name: string, opts: { dataDisks?: number; zone?: string; availabilitySetId?: string } = {}): Promise<VirtualMachine> {
  const { c } = h;
  const net = await network(c, rg);
  const nicId = await net.nicId(`${name}-nic`);
  return c.compute.virtualMachines.createOrUpdate(
    rg,
    name,
    {
      location: loc,
      ...(opts.zone ? { zones: [opts.zone] } : {}),
      hardwareProfile: { vmSize: 'Standard_D2s_v3' },
      storageProfile: {
        imageReference: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest' },
        osDisk: { createOption: 'FromImage', diskSizeGB: 1, managedDisk: { storageAccountType: 'Premium_LRS' } },
        dataDisks: Array.from({ length: opts.dataDisks ?? 0 }, (_, lun) => ({ lun, createOption: 'Empty' as const, diskSizeGB: 1 })),
      },
      osProfile: { computerName: name, adminUsername: 'azureuser', adminPassword: 'not-returned-1!' },
      networkProfile: { networkInterfaces: [{ id: nicId }] },
      ...(opts.availabilitySetId ? { availabilitySet: { id: opts.availabilitySetId } } : {}),
    },
    fast,
  );
}

const powerState = (vm: VirtualMachine): string | undefined =>
  vm.instanceView?.statuses?.find((s) => s.code?.startsWith('PowerState/'))?.code;

describe('virtual machines', () => {
  it('creates a VM with OS and data disks, attaches them, reports instance view and power state through LROs', async () => {
    const { compute } = h.c;
    h.arm.setLatency({ operations: { 'virtualMachines.put': 100, 'virtualMachines.powerOff': 80, 'virtualMachines.deallocate': 80 } });
    try {
      const poller = compute.virtualMachines.createOrUpdate('rg-vm', 'vm1', {} as never, fast); // invalid: 404 RG
      await expect(poller).rejects.toMatchObject({ statusCode: 404 });
      const vm = await createVm('rg-vm', 'vm1', { dataDisks: 2 });
      expect(vm.provisioningState).toBe('Succeeded');
      expect(vm.osProfile?.adminPassword).toBeUndefined();
      expect(vm.storageProfile?.dataDisks?.map((d) => d.lun)).toEqual([0, 1]);
      const osDisk = await compute.disks.get('rg-vm', vm.storageProfile!.osDisk!.name!);
      expect(osDisk).toMatchObject({ managedBy: vm.id, diskState: 'Attached', diskSizeGB: 1, diskSizeBytes: GiB, osType: 'Linux', sku: { name: 'Premium_LRS' } });
      expect(await diskBlob(osDisk.id!).exists()).toBe(true);
      const got = await compute.virtualMachines.get('rg-vm', 'VM1', { expand: 'instanceView' });
      expect(powerState(got)).toBe('PowerState/running');
      expect(got.instanceView?.disks).toHaveLength(3);

      const off = compute.virtualMachines.powerOff('rg-vm', 'vm1', fast);
      await off.submitted();
      expect((await compute.virtualMachines.instanceView('rg-vm', 'vm1')).statuses?.map((s) => s.code)).toContain('PowerState/stopping');
      await off;
      expect(powerState(await compute.virtualMachines.get('rg-vm', 'vm1', { expand: 'instanceView' }))).toBe('PowerState/stopped');
      await compute.virtualMachines.deallocate('rg-vm', 'vm1', fast);
      expect((await compute.virtualMachines.instanceView('rg-vm', 'vm1')).statuses?.map((s) => s.code)).toContain('PowerState/deallocated');
      expect((await compute.disks.get('rg-vm', osDisk.name!)).diskState).toBe('Reserved');
      await compute.virtualMachines.start('rg-vm', 'vm1', fast);
      expect((await compute.virtualMachines.instanceView('rg-vm', 'vm1')).statuses?.map((s) => s.code)).toContain('PowerState/running');
    } finally {
      h.arm.setLatency({ default: 0, operations: {} });
    }
  });

  it('lists VMs by resource group and subscription (paged) and refuses conflicting changes', async () => {
    const { compute, network: net } = h.c;
    await createVm('rg-vm2', 'a');
    await createVm('rg-vm2', 'b');
    await createVm('rg-vm2', 'c');
    expect((await collect(compute.virtualMachines.list('rg-vm2'))).map((v) => v.name)).toEqual(['a', 'b', 'c']);
    const all = await collect(compute.virtualMachines.listAll());
    expect(all.map((v) => v.name)).toEqual(expect.arrayContaining(['a', 'b', 'c', 'vm1']));
    const a = await compute.virtualMachines.get('rg-vm2', 'a');
    // NIC in use by a VM cannot be deleted; the OS disk cannot be deleted while attached.
    await expect(net.networkInterfaces.delete('rg-vm2', 'a-nic', fast)).rejects.toMatchObject({ statusCode: 400, code: 'NicInUse' });
    await expect(compute.disks.delete('rg-vm2', a.storageProfile!.osDisk!.name!, fast)).rejects.toMatchObject({
      statusCode: 409,
      code: 'OperationNotAllowed',
    });
    // Another VM cannot take a's NIC or its disk.
    const bNic = (await compute.virtualMachines.get('rg-vm2', 'b')).networkProfile!.networkInterfaces![0]!.id!;
    await expect(
      compute.virtualMachines.createOrUpdate(
        'rg-vm2',
        'thief',
        {
          location: loc,
          hardwareProfile: { vmSize: 'Standard_D2s_v3' },
          storageProfile: { osDisk: { createOption: 'Attach', managedDisk: { id: a.storageProfile!.osDisk!.managedDisk!.id! } } },
          networkProfile: { networkInterfaces: [{ id: bNic }] },
        },
        fast,
      ),
    ).rejects.toMatchObject({ statusCode: 409, code: 'OperationNotAllowed' });
    // An attached OS disk brings its OS: osProfile is refused, as Azure does.
    const free = await compute.disks.createOrUpdate('rg-vm2', 'free-os', { location: loc, osType: 'Linux', creationData: { createOption: 'Empty' }, diskSizeGB: 1 }, fast);
    const subnetId = (await net.virtualNetworks.get('rg-vm2', 'rg-vm2-vnet')).subnets![0]!.id!;
    const attachedNic = await net.networkInterfaces.createOrUpdate('rg-vm2', 'attached-nic', { location: loc, ipConfigurations: [{ name: 'c', subnet: { id: subnetId } }] }, fast);
    const attachVm = (osProfile?: { adminUsername: string }) =>
      compute.virtualMachines.createOrUpdate(
        'rg-vm2',
        'attached',
        {
          location: loc,
          hardwareProfile: { vmSize: 'Standard_D2s_v3' },
          storageProfile: { osDisk: { createOption: 'Attach', osType: 'Linux', managedDisk: { id: free.id! } } },
          ...(osProfile ? { osProfile } : {}),
          networkProfile: { networkInterfaces: [{ id: attachedNic.id! }] },
        },
        fast,
      );
    await expect(attachVm({ adminUsername: 'x' })).rejects.toMatchObject({ statusCode: 400, code: 'InvalidParameter', message: "Parameter 'osProfile' is not allowed." });
    expect((await attachVm()).storageProfile?.osDisk).toMatchObject({ createOption: 'Attach', managedDisk: { id: free.id } });

    // The OS disk of an existing VM cannot change.
    await expect(
      compute.virtualMachines.createOrUpdate(
        'rg-vm2',
        'a',
        { ...a, storageProfile: { ...a.storageProfile, osDisk: { ...a.storageProfile!.osDisk!, managedDisk: { id: `${a.id}x` } } } },
        fast,
      ),
    ).rejects.toMatchObject({ statusCode: 409, code: 'PropertyChangeNotAllowed' });
  });

  it('attaches and detaches data disks by PUT, deletes the VM detaching (or deleting) its disks', async () => {
    const { compute } = h.c;
    const vm = await createVm('rg-vm3', 'vm');
    const disk = await compute.disks.createOrUpdate('rg-vm3', 'extra', { location: loc, creationData: { createOption: 'Empty' }, diskSizeGB: 2 }, fast);
    expect(disk).toMatchObject({ diskState: 'Unattached', diskSizeGB: 2, provisioningState: 'Succeeded' });
    const withDisk = await compute.virtualMachines.createOrUpdate(
      'rg-vm3',
      'vm',
      { ...vm, storageProfile: { ...vm.storageProfile, dataDisks: [{ lun: 3, createOption: 'Attach', managedDisk: { id: disk.id! } }] } },
      fast,
    );
    expect(withDisk.storageProfile?.dataDisks?.[0]).toMatchObject({ lun: 3, name: 'extra', diskSizeGB: 2 });
    expect((await compute.disks.get('rg-vm3', 'extra')).managedBy).toBe(vm.id);
    const detached = await compute.virtualMachines.createOrUpdate('rg-vm3', 'vm', { ...withDisk, storageProfile: { ...withDisk.storageProfile, dataDisks: [] } }, fast);
    expect(detached.storageProfile?.dataDisks).toEqual([]);
    expect((await compute.disks.get('rg-vm3', 'extra')).diskState).toBe('Unattached');

    const osName = vm.storageProfile!.osDisk!.name!;
    await compute.virtualMachines.delete('rg-vm3', 'vm', fast);
    await expect(compute.virtualMachines.get('rg-vm3', 'vm')).rejects.toMatchObject({ statusCode: 404, code: 'ResourceNotFound' });
    expect((await compute.disks.get('rg-vm3', osName)).diskState).toBe('Unattached');
    await compute.disks.delete('rg-vm3', osName, fast);
    await expect(compute.disks.get('rg-vm3', osName)).rejects.toMatchObject({ statusCode: 404 });
    // delete of something absent: success (204)
    await compute.disks.delete('rg-vm3', osName, fast);
  });

  it('deletes disks and NICs marked deleteOption Delete together with the VM', async () => {
    const { compute, network: net } = h.c;
    const n = await network(h.c, 'rg-vm5');
    const nicId = await n.nicId('doomed-nic');
    const vm = await compute.virtualMachines.createOrUpdate(
      'rg-vm5',
      'doomed',
      {
        location: loc,
        hardwareProfile: { vmSize: 'Standard_B2s' },
        storageProfile: {
          imageReference: { publisher: 'p', offer: 'o', sku: 's', version: 'latest' },
          osDisk: { createOption: 'FromImage', diskSizeGB: 1, deleteOption: 'Delete' },
          dataDisks: [
            { lun: 0, createOption: 'Empty', diskSizeGB: 1, deleteOption: 'Delete' },
            { lun: 1, createOption: 'Empty', diskSizeGB: 1 },
          ],
        },
        osProfile: { computerName: 'doomed', adminUsername: 'azureuser' },
        networkProfile: { networkInterfaces: [{ id: nicId, deleteOption: 'Delete' }] },
      },
      fast,
    );
    const [os, d0, d1] = [vm.storageProfile!.osDisk!, ...vm.storageProfile!.dataDisks!].map((d) => d.managedDisk!.id!) as [string, string, string];
    await compute.virtualMachines.delete('rg-vm5', 'doomed', fast);
    for (const id of [os, d0]) {
      await expect(compute.disks.get('rg-vm5', id.split('/').pop()!)).rejects.toMatchObject({ statusCode: 404 });
      expect(await diskBlob(id).exists()).toBe(false);
    }
    expect((await compute.disks.get('rg-vm5', d1.split('/').pop()!)).diskState).toBe('Unattached');
    await expect(net.networkInterfaces.get('rg-vm5', 'doomed-nic')).rejects.toMatchObject({ statusCode: 404 });
  });

  it('places VMs in an Aligned availability set or a zone, not both', async () => {
    const { compute, resources } = h.c;
    await resources.resourceGroups.createOrUpdate('rg-vm4', { location: loc });
    const as = await compute.availabilitySets.createOrUpdate('rg-vm4', 'as', { location: loc, sku: { name: 'Aligned' }, platformFaultDomainCount: 2, platformUpdateDomainCount: 5 });
    const vm = await createVm('rg-vm4', 'in-as', { availabilitySetId: as.id! });
    expect(vm.availabilitySet?.id).toBe(as.id);
    expect((await compute.availabilitySets.get('rg-vm4', 'as')).virtualMachines?.map((v) => v.id)).toEqual([vm.id]);
    const z = await createVm('rg-vm4', 'zonal', { zone: '2' });
    expect(z.zones).toEqual(['2']);
    expect((await compute.disks.get('rg-vm4', z.storageProfile!.osDisk!.name!)).zones).toEqual(['2']);
    await expect(createVm('rg-vm4', 'both', { zone: '1', availabilitySetId: as.id! })).rejects.toMatchObject({ statusCode: 400, code: 'InvalidParameter' });
  });
});

describe('updates (PATCH) and resource group deletion', () => {
  it('patches disks and VMs as JSON merge patches, and removes disk data with the resource group', async () => {
    const { compute, resources } = h.c;
    const vm = await createVm('rg-patch', 'vm', { dataDisks: 1 });
    const disk = await compute.disks.createOrUpdate('rg-patch', 'loose', { location: loc, creationData: { createOption: 'Empty' }, diskSizeGB: 1 }, fast);
    const grown = await compute.disks.update('rg-patch', 'loose', { diskSizeGB: 2, tags: { tier: 'gold' } }, fast);
    expect(grown).toMatchObject({ diskSizeGB: 2, diskSizeBytes: 2 * GiB, tags: { tier: 'gold' } });
    expect((await diskBlob(disk.id!).getProperties()).contentLength).toBe(2 * GiB);
    await expect(compute.disks.update('rg-patch', 'loose', { diskSizeGB: 1 }, fast)).rejects.toMatchObject({ statusCode: 400 });
    const resized = await compute.virtualMachines.update('rg-patch', 'vm', { hardwareProfile: { vmSize: 'Standard_D4s_v3' }, tags: { a: 'b' } }, fast);
    expect(resized).toMatchObject({ hardwareProfile: { vmSize: 'Standard_D4s_v3' }, tags: { a: 'b' } });
    expect(resized.storageProfile?.dataDisks).toHaveLength(1);

    await compute.restorePointCollections.createOrUpdate('rg-patch', 'rpc', { location: loc, source: { id: vm.id! } });
    const rp = await compute.restorePoints.create('rg-patch', 'rpc', 'rp', {}, fast);
    const drpId = rp.sourceMetadata!.storageProfile!.osDisk!.diskRestorePoint!.id!;
    const blobs = [disk.id!, vm.storageProfile!.osDisk!.managedDisk!.id!, drpId].map(diskBlob);
    for (const b of blobs) expect(await b.exists()).toBe(true);
    await resources.resourceGroups.delete('rg-patch', fast);
    for (const b of blobs) expect(await b.exists()).toBe(false);
    await expect(compute.virtualMachines.get('rg-patch', 'vm')).rejects.toMatchObject({ statusCode: 404, code: 'ResourceGroupNotFound' });
  });
});

describe('managed disks', () => {
  it('imports from a blob of a storage account, copies a disk, grants read access (SAS) and revokes it', async () => {
    const { compute, storage: sa, resources } = h.c;
    await resources.resourceGroups.createOrUpdate('rg-disk', { location: loc });
    const acct = await sa.storageAccounts.create('rg-disk', 'importsrc', { location: loc, sku: { name: 'Standard_LRS' }, kind: 'StorageV2' }, fast);
    const keys = await sa.storageAccounts.listKeys('rg-disk', 'importsrc');
    const svc = new BlobServiceClient(acct.primaryEndpoints!.blob!, new StorageSharedKeyCredential('importsrc', keys.keys![0]!.value!));
    const container = svc.getContainerClient('vhds');
    await container.createIfNotExists();
    const src = container.getPageBlobClient('src.vhd');
    await src.create(4 * MiB);
    const data = crypto.randomBytes(64 * 1024);
    await src.uploadPages(data, MiB, data.length);

    const imported = await compute.disks.createOrUpdate(
      'rg-disk',
      'imported',
      { location: loc, creationData: { createOption: 'Import', sourceUri: src.url, storageAccountId: acct.id! } },
      fast,
    );
    expect(imported).toMatchObject({ diskSizeGB: 1, diskSizeBytes: GiB, provisioningState: 'Succeeded' });
    const access = await compute.disks.grantAccess('rg-disk', 'imported', { access: 'Read', durationInSeconds: 600 }, fast);
    expect(access.accessSAS).toMatch(/sig=/);
    expect((await compute.disks.get('rg-disk', 'imported')).diskState).toBe('ActiveSAS');
    await expect(compute.disks.delete('rg-disk', 'imported', fast)).rejects.toMatchObject({ statusCode: 409, code: 'OperationNotAllowed' });
    const reader = sasClient(access.accessSAS!);
    expect((await reader.getProperties()).contentLength).toBe(GiB);
    expect((await reader.downloadToBuffer(MiB, data.length)).equals(data)).toBe(true);
    await expect(reader.uploadPages(page(1), 0, 512)).rejects.toMatchObject({ statusCode: 403 });
    await compute.disks.revokeAccess('rg-disk', 'imported', fast);
    expect((await compute.disks.get('rg-disk', 'imported')).diskState).toBe('Unattached');

    const copy = await compute.disks.createOrUpdate(
      'rg-disk',
      'copy',
      { location: loc, diskSizeGB: 2, creationData: { createOption: 'Copy', sourceResourceId: imported.id! } },
      fast,
    );
    expect(copy).toMatchObject({ diskSizeGB: 2, creationData: { createOption: 'Copy', sourceResourceId: imported.id } });
    expect((await diskBlob(copy.id!).downloadToBuffer(MiB, data.length)).equals(data)).toBe(true);
    await expect(
      compute.disks.createOrUpdate('rg-disk', 'small', { location: loc, creationData: { createOption: 'Empty' } }, fast),
    ).rejects.toMatchObject({ statusCode: 400, code: 'InvalidParameter' });
    await expect(
      compute.disks.createOrUpdate(
        'rg-disk',
        'ghost',
        { location: loc, creationData: { createOption: 'Copy', sourceResourceId: `${imported.id}-none` } },
        fast,
      ),
    ).rejects.toMatchObject({ statusCode: 404 });
    expect((await collect(compute.disks.listByResourceGroup('rg-disk'))).map((d) => d.name)).toEqual(['imported', 'copy']);

    // Import from a blob snapshot (a recovery point of a replica blob), given without SAS plus storageAccountId.
    const snap = (await src.createSnapshot()).snapshot!;
    await src.uploadPages(page(9, 4096), MiB, 4096);
    const fromSnap = await compute.disks.createOrUpdate(
      'rg-disk',
      'from-snapshot',
      { location: loc, creationData: { createOption: 'Import', sourceUri: src.withSnapshot(snap).url, storageAccountId: acct.id! } },
      fast,
    );
    const fb = diskBlob(fromSnap.id!);
    expect((await fb.downloadToBuffer(MiB, data.length)).equals(data)).toBe(true);
  });

  it('uploads through a write SAS (createOption Upload), then the disk is usable', async () => {
    const { compute, resources } = h.c;
    await resources.resourceGroups.createOrUpdate('rg-up', { location: loc });
    const d = await compute.disks.createOrUpdate('rg-up', 'up', { location: loc, creationData: { createOption: 'Upload', uploadSizeBytes: 8 * MiB } }, fast);
    expect(d.diskState).toBe('ReadyToUpload');
    const w = await compute.disks.grantAccess('rg-up', 'up', { access: 'Write', durationInSeconds: 600 }, fast);
    expect((await compute.disks.get('rg-up', 'up')).diskState).toBe('ActiveUpload');
    const data = crypto.randomBytes(4096);
    await sasClient(w.accessSAS!).uploadPages(data, 4096, 4096);
    await compute.disks.revokeAccess('rg-up', 'up', fast);
    expect((await compute.disks.get('rg-up', 'up')).diskState).toBe('Unattached');
    await expect(compute.disks.grantAccess('rg-up', 'up', { access: 'Write', durationInSeconds: 60 }, fast)).rejects.toThrow(/Write access/);
    const r = await compute.disks.grantAccess('rg-up', 'up', { access: 'Read', durationInSeconds: 600 }, fast);
    expect((await sasClient(r.accessSAS!).downloadToBuffer(4096, 4096)).equals(data)).toBe(true);
  });

  it('refuses read access to a disk of a running VM', async () => {
    const vm = await createVm('rg-run', 'vm');
    await expect(
      h.c.compute.disks.grantAccess('rg-run', vm.storageProfile!.osDisk!.name!, { access: 'Read', durationInSeconds: 60 }, fast),
    ).rejects.toMatchObject({ statusCode: 409, code: 'OperationNotAllowed' });
  });
});

describe('disk encryption sets', () => {
  it('encrypts a disk with a set of its region (customer-managed key), refuses one elsewhere or missing, and changes a disk\'s set on update', async () => {
    const { resources, compute } = h.c;
    await resources.resourceGroups.createOrUpdate('rg-des', { location: loc });
    const key = { keyUrl: 'https://vault.example/keys/disks/0123456789abcdef' };
    await expect(compute.diskEncryptionSets.beginCreateOrUpdateAndWait('rg-des', 'nokey', { location: loc, identity: { type: 'SystemAssigned' } }, fast)).rejects.toMatchObject({ statusCode: 400, code: 'InvalidParameter' });
    const set = await compute.diskEncryptionSets.beginCreateOrUpdateAndWait('rg-des', 'des', { location: loc, identity: { type: 'SystemAssigned' }, activeKey: key }, fast);
    expect([set.encryptionType, set.activeKey?.keyUrl, set.identity?.type]).toEqual(['EncryptionAtRestWithCustomerKey', key.keyUrl, 'SystemAssigned']);
    expect(set.identity?.principalId).toBeTruthy();
    const far = await compute.diskEncryptionSets.beginCreateOrUpdateAndWait('rg-des', 'far', { location: 'northeurope', identity: { type: 'SystemAssigned' }, activeKey: key }, fast);
    const empty = (setId?: string) => ({ location: loc, sku: { name: 'Standard_LRS' as const }, diskSizeGB: 1, creationData: { createOption: 'Empty' as const }, ...(setId ? { encryption: { diskEncryptionSetId: setId } } : {}) });
    for (const bad of [far.id!, `${set.id}-missing`]) {
      await expect(compute.disks.beginCreateOrUpdateAndWait('rg-des', 'bad', empty(bad), fast)).rejects.toMatchObject({ statusCode: 400, code: 'InvalidParameter' });
    }
    const disk = await compute.disks.beginCreateOrUpdateAndWait('rg-des', 'cmk', empty(set.id), fast);
    expect(disk.encryption).toEqual({ type: 'EncryptionAtRestWithCustomerKey', diskEncryptionSetId: set.id });
    const plain = await compute.disks.beginCreateOrUpdateAndWait('rg-des', 'plain', empty(), fast);
    expect(plain.encryption).toEqual({ type: 'EncryptionAtRestWithPlatformKey' });
    const changed = await compute.disks.beginCreateOrUpdateAndWait('rg-des', 'plain', { ...empty(set.id), diskSizeGB: undefined }, fast);
    expect(changed.encryption?.diskEncryptionSetId).toBe(set.id);
  });
});

describe('snapshots', () => {
  it('takes incremental snapshots whose SAS URLs give page-range diffs', async () => {
    const { compute, resources } = h.c;
    await resources.resourceGroups.createOrUpdate('rg-snap', { location: loc });
    const disk = await compute.disks.createOrUpdate('rg-snap', 'd', { location: loc, creationData: { createOption: 'Empty' }, diskSizeGB: 1 }, fast);
    const blob = diskBlob(disk.id!);
    await blob.uploadPages(page(1, 4096), 0, 4096);
    const snap = (name: string) =>
      compute.snapshots.createOrUpdate('rg-snap', name, { location: loc, incremental: true, creationData: { createOption: 'Copy', sourceResourceId: disk.id! } }, fast);
    const s1 = await snap('s1');
    expect(s1).toMatchObject({ incremental: true, provisioningState: 'Succeeded', diskSizeBytes: GiB, incrementalSnapshotFamilyId: disk.uniqueId });
    await blob.uploadPages(page(2, 8192), MiB, 8192);
    await blob.uploadPages(page(3, 512), 512 * MiB, 512);
    const s2 = await snap('s2');
    const a1 = await compute.snapshots.grantAccess('rg-snap', 's1', { access: 'Read', durationInSeconds: 600 }, fast);
    const a2 = await compute.snapshots.grantAccess('rg-snap', 's2', { access: 'Read', durationInSeconds: 600 }, fast);
    const diff = await sasClient(a2.accessSAS!).getPageRangesDiffForManagedDisks(0, GiB, a1.accessSAS!);
    // (the SDK reports ranges as { offset, count: last byte - offset })
    expect(diff.pageRange).toEqual([
      { offset: MiB, count: 8192 - 1 },
      { offset: 512 * MiB, count: 511 },
    ]);
    // s1 content is frozen: the later writes are not in it.
    expect((await sasClient(a1.accessSAS!).downloadToBuffer(MiB, 512)).equals(Buffer.alloc(512))).toBe(true);
    expect((await sasClient(a2.accessSAS!).downloadToBuffer(MiB, 512)).equals(page(2))).toBe(true);
    await expect(compute.snapshots.createOrUpdate('rg-snap', 's1', { location: loc, incremental: false, creationData: { createOption: 'Copy', sourceResourceId: disk.id! } }, fast)).rejects.toMatchObject({
      statusCode: 409,
      code: 'PropertyChangeNotAllowed',
    });
    await compute.snapshots.revokeAccess('rg-snap', 's1', fast);
    await compute.snapshots.delete('rg-snap', 's1', fast);
    expect(s2.name).toBe('s2');
  });
});

describe('restore points', () => {
  it('captures all disks of a VM at one instant while a workload writes to both (crash consistency)', async () => {
    const { compute } = h.c;
    const vm = await createVm('rg-rp', 'vm', { dataDisks: 2 });
    await compute.virtualMachines.deallocate('rg-rp', 'vm', fast).catch(() => undefined);
    await compute.virtualMachines.start('rg-rp', 'vm', fast);
    const [d0, d1] = vm.storageProfile!.dataDisks!.map((d) => diskBlob(d.managedDisk!.id!)) as [PageBlobClient, PageBlobClient];
    const rpc = await compute.restorePointCollections.createOrUpdate('rg-rp', 'rpc', { location: loc, source: { id: vm.id! } });
    expect(rpc.source?.id).toBe(vm.id);

    // Workload: sequence n written to disk 0, then (after it completed) to disk 1.
    let stop = false;
    let n = 0;
    const seqPage = (k: number): Buffer => {
      const b = Buffer.alloc(512);
      b.writeUInt32LE(k, 0);
      return b;
    };
    const writer = (async () => {
      while (!stop) {
        n++;
        await d0.uploadPages(seqPage(n), 0, 512);
        await d1.uploadPages(seqPage(n), 0, 512);
      }
    })();
    try {
      const seen: [number, number][] = [];
      for (let i = 0; i < 4; i++) {
        while (n < (i + 1) * 10) await new Promise((r) => setImmediate(r));
        const rp = await compute.restorePoints.create('rg-rp', 'rpc', `rp${i}`, { consistencyMode: 'CrashConsistent' }, fast);
        expect(rp).toMatchObject({ provisioningState: 'Succeeded', consistencyMode: 'CrashConsistent' });
        const drps = await collect(compute.diskRestorePoint.listByRestorePoint('rg-rp', 'rpc', `rp${i}`));
        expect(drps).toHaveLength(3);
        const seq: number[] = [];
        for (const lun of [0, 1]) {
          const meta = rp.sourceMetadata!.storageProfile!.dataDisks!.find((d) => d.lun === lun)!;
          const drpName = meta.diskRestorePoint!.id!.split('/').pop()!;
          const a = await compute.diskRestorePoint.grantAccess('rg-rp', 'rpc', `rp${i}`, drpName, { access: 'Read', durationInSeconds: 600 }, fast);
          seq.push((await sasClient(a.accessSAS!).downloadToBuffer(0, 512)).readUInt32LE(0));
          await compute.diskRestorePoint.revokeAccess('rg-rp', 'rpc', `rp${i}`, drpName, fast);
        }
        seen.push([seq[0]!, seq[1]!]);
      }
      // Disk 1 is written only after disk 0: an instant image has d0 == d1 or d0 == d1 + 1.
      for (const [a, b] of seen) {
        expect(a - b === 0 || a - b === 1, `disk0 ${a} disk1 ${b}`).toBe(true);
        expect(a).toBeGreaterThan(0);
      }
    } finally {
      stop = true;
      await writer;
    }
    const expanded = await compute.restorePointCollections.get('rg-rp', 'rpc', { expand: 'restorePoints' });
    expect(expanded.restorePoints?.map((r) => r.name)).toEqual(['rp0', 'rp1', 'rp2', 'rp3']);
  });

  it('excludes disks, diffs disk restore points, creates a disk from a disk restore point', async () => {
    const { compute } = h.c;
    const vm = await createVm('rg-rp2', 'vm', { dataDisks: 2 });
    const data0 = vm.storageProfile!.dataDisks![0]!;
    const data1 = vm.storageProfile!.dataDisks![1]!;
    const blob = diskBlob(data0.managedDisk!.id!);
    await blob.uploadPages(page(7, 4096), 0, 4096);
    await compute.restorePointCollections.createOrUpdate('rg-rp2', 'rpc', { location: loc, source: { id: vm.id! } });
    const rp1 = await compute.restorePoints.create('rg-rp2', 'rpc', 'rp1', { excludeDisks: [{ id: data1.managedDisk!.id! }] }, fast);
    expect(rp1.excludeDisks?.map((d) => d.id)).toEqual([data1.managedDisk!.id]);
    expect(rp1.sourceMetadata?.storageProfile?.dataDisks?.find((d) => d.lun === 1)?.diskRestorePoint).toBeUndefined();
    expect(rp1.sourceMetadata?.storageProfile?.osDisk?.diskRestorePoint?.id).toBeDefined();
    expect(await collect(compute.diskRestorePoint.listByRestorePoint('rg-rp2', 'rpc', 'rp1'))).toHaveLength(2);
    await blob.uploadPages(page(8, 1024), 64 * MiB, 1024);
    const rp2 = await compute.restorePoints.create('rg-rp2', 'rpc', 'rp2', { excludeDisks: [{ id: data1.managedDisk!.id! }] }, fast);
    await expect(compute.restorePoints.create('rg-rp2', 'rpc', 'rp2', {}, fast)).rejects.toMatchObject({ statusCode: 409 });

    const name = (rp: typeof rp1): string => rp.sourceMetadata!.storageProfile!.dataDisks!.find((d) => d.lun === 0)!.diskRestorePoint!.id!.split('/').pop()!;
    const drp1 = await compute.diskRestorePoint.get('rg-rp2', 'rpc', 'rp1', name(rp1));
    expect(drp1).toMatchObject({ sourceResourceId: data0.managedDisk!.id, familyId: expect.any(String) });
    const s1 = await compute.diskRestorePoint.grantAccess('rg-rp2', 'rpc', 'rp1', name(rp1), { access: 'Read', durationInSeconds: 600 }, fast);
    const s2 = await compute.diskRestorePoint.grantAccess('rg-rp2', 'rpc', 'rp2', name(rp2), { access: 'Read', durationInSeconds: 600 }, fast);
    const diff = await sasClient(s2.accessSAS!).getPageRangesDiffForManagedDisks(0, GiB, s1.accessSAS!);
    expect(diff.pageRange).toEqual([{ offset: 64 * MiB, count: 1023 }]);
    const full = await sasClient(s1.accessSAS!).getPageRanges(0, GiB);
    expect(full.pageRange).toEqual([{ offset: 0, count: 4095 }]);

    const restored = await compute.disks.createOrUpdate(
      'rg-rp2',
      'restored',
      { location: loc, creationData: { createOption: 'Restore', sourceResourceId: drp1.id! } },
      fast,
    );
    expect(restored.diskSizeBytes).toBe(GiB);
    const rb = diskBlob(restored.id!);
    expect((await rb.downloadToBuffer(0, 4096)).equals(page(7, 4096))).toBe(true);
    expect((await rb.downloadToBuffer(64 * MiB, 1024)).equals(Buffer.alloc(1024))).toBe(true);

    await expect(compute.restorePoints.delete('rg-rp2', 'rpc', 'rp1', fast)).rejects.toMatchObject({ statusCode: 409 });
    await compute.diskRestorePoint.revokeAccess('rg-rp2', 'rpc', 'rp1', name(rp1), fast);
    await compute.restorePoints.delete('rg-rp2', 'rpc', 'rp1', fast);
    await expect(compute.restorePoints.get('rg-rp2', 'rpc', 'rp1')).rejects.toMatchObject({ statusCode: 404 });
    await compute.diskRestorePoint.revokeAccess('rg-rp2', 'rpc', 'rp2', name(rp2), fast);
    await compute.restorePointCollections.delete('rg-rp2', 'rpc', fast);
    await expect(compute.restorePointCollections.get('rg-rp2', 'rpc')).rejects.toMatchObject({ statusCode: 404 });
  });
});

describe('storage accounts', () => {
  it('creates through an LRO, exposes the blob endpoint and keys, checks names, deletes', async () => {
    const { storage: sa, resources } = h.c;
    await resources.resourceGroups.createOrUpdate('rg-sa', { location: loc });
    h.arm.setLatency({ operations: { 'storageAccounts.put': 80 } });
    try {
      const poller = sa.storageAccounts.create('rg-sa', 'cachesa1', { location: loc, sku: { name: 'Standard_LRS' }, kind: 'StorageV2' }, fast);
      await poller.submitted();
      expect(poller.isDone).toBe(false);
      const acct = await poller;
      expect(acct).toMatchObject({ name: 'cachesa1', provisioningState: 'Succeeded', primaryEndpoints: { blob: h.storage.blobEndpoint('cachesa1') } });
    } finally {
      h.arm.setLatency({ operations: { 'storageAccounts.put': 0 } });
    }
    expect(await sa.storageAccounts.checkNameAvailability({ name: 'cachesa1', type: 'Microsoft.Storage/storageAccounts' })).toMatchObject({
      nameAvailable: false,
      reason: 'AlreadyExists',
    });
    expect(await sa.storageAccounts.checkNameAvailability({ name: 'Bad_Name', type: 'Microsoft.Storage/storageAccounts' })).toMatchObject({
      nameAvailable: false,
      reason: 'AccountNameInvalid',
    });
    expect(await sa.storageAccounts.checkNameAvailability({ name: 'freename1', type: 'Microsoft.Storage/storageAccounts' })).toMatchObject({ nameAvailable: true });
    await resources.resourceGroups.createOrUpdate('rg-sa2', { location: loc });
    await expect(
      sa.storageAccounts.create('rg-sa2', 'cachesa1', { location: loc, sku: { name: 'Standard_LRS' }, kind: 'StorageV2' }, fast),
    ).rejects.toMatchObject({ statusCode: 409, code: 'StorageAccountAlreadyTaken' });
    const keys = await sa.storageAccounts.listKeys('rg-sa', 'cachesa1');
    const svc = new BlobServiceClient(h.storage.blobEndpoint('cachesa1'), new StorageSharedKeyCredential('cachesa1', keys.keys![0]!.value!));
    await svc.getContainerClient('cache').create();
    expect((await collect(sa.storageAccounts.listByResourceGroup('rg-sa'))).map((a) => a.name)).toEqual(['cachesa1']);
    // Blob containers through ARM (the data plane is their state)
    const created = await sa.blobContainers.create('rg-sa', 'cachesa1', 'segments', { publicAccess: 'None', metadata: { owner: 'datapath' } });
    expect(created).toMatchObject({ name: 'segments', publicAccess: 'None', metadata: { owner: 'datapath' } });
    expect((await sa.blobContainers.get('rg-sa', 'cachesa1', 'segments')).id).toBe(`${(await sa.storageAccounts.getProperties('rg-sa', 'cachesa1')).id}/blobServices/default/containers/segments`);
    expect(await svc.getContainerClient('segments').exists()).toBe(true);
    expect((await collect(sa.blobContainers.list('rg-sa', 'cachesa1'))).map((x) => x.name)).toEqual(['cache', 'segments']);
    await expect(sa.blobContainers.create('rg-sa', 'cachesa1', 'Bad_Name', {})).rejects.toMatchObject({ statusCode: 400 });
    await sa.blobContainers.delete('rg-sa', 'cachesa1', 'segments');
    await expect(sa.blobContainers.get('rg-sa', 'cachesa1', 'segments')).rejects.toMatchObject({ statusCode: 404, code: 'ResourceNotFound' });

    // Generic resource listing of the group
    const listed = await collect(resources.resources.listByResourceGroup('rg-sa', { filter: "resourceType eq 'Microsoft.Storage/storageAccounts'" }));
    expect(listed.map((r) => [r.name, r.type, r.location])).toEqual([['cachesa1', 'Microsoft.Storage/storageAccounts', loc]]);
    expect(await collect(resources.resources.listByResourceGroup('rg-sa2'))).toEqual([]);

    await sa.storageAccounts.delete('rg-sa', 'cachesa1');
    await expect(sa.storageAccounts.getProperties('rg-sa', 'cachesa1')).rejects.toMatchObject({ statusCode: 404 });
    expect(h.storage.hasAccount('cachesa1')).toBe(false);
  });
});
