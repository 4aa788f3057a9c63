// ARM protocol mechanics of the emulator, through the official SDK clients: long-running operation
// headers and pollers, error bodies, fault injection (429 + Retry-After, 500, dropped connections, hangs)
// against the SDK's retry policies, per-operation call statistics, persistence across a restart, and a
// second subscription served beside the first (its own resource groups, lists and operation URLs).
import type { PipelineResponse } from '@azure/core-rest-pipeline';
import { PageBlobClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fast, makeClients, network, startHarness } from './sandbox-arm-support.ts';
import type { Harness } from './sandbox-arm-support.ts';

let h: Harness;
const OTHER = '00000000-0000-4000-8000-0000000000b2';
beforeAll(async () => {
  h = await startHarness({ persist: true, moreSubscriptionIds: [OTHER] });
});
afterAll(async () => {
  await h?.close();
});

const loc = 'westeurope';

describe('long-running operations', () => {
  it('answers PUT with 201 + Azure-AsyncOperation while running, DELETE and POST with 202 + Location', async () => {
    const { compute, resources } = h.c;
    await resources.resourceGroups.createOrUpdate('rg-lro', { location: loc });
    h.arm.setLatency({ default: 120 });
    try {
      let put: PipelineResponse | undefined;
      const poller = compute.disks.createOrUpdate(
        'rg-lro',
        'd1',
        { location: loc, creationData: { createOption: 'Empty' }, diskSizeGB: 1 },
        { ...fast, onResponse: (r) => (put = r) },
      );
      await poller.submitted();
      expect(put?.status).toBe(201);
      expect(JSON.parse(put?.bodyAsText ?? '{}').properties.provisioningState).toBe('Creating');
      expect(put?.headers.get('azure-asyncoperation')).toMatch(/\/providers\/Microsoft\.Compute\/locations\/westeurope\/operations\/[-0-9a-f]+\?api-version=/);
      expect(put?.headers.get('retry-after')).toBe('0');
      expect((await compute.disks.get('rg-lro', 'd1')).provisioningState).toBe('Creating');
      const before = h.arm.stats.count('GET operationStatus');
      expect((await poller).provisioningState).toBe('Succeeded');
      expect(h.arm.stats.count('GET operationStatus')).toBeGreaterThan(before);

      let del: PipelineResponse | undefined;
      await compute.disks.delete('rg-lro', 'd1', { ...fast, onResponse: (r) => (del = r) });
      expect(del?.status).toBe(202);
      expect(del?.headers.get('location')).toMatch(/monitor=true/);
      await expect(compute.disks.get('rg-lro', 'd1')).rejects.toMatchObject({ statusCode: 404 });
    } finally {
      h.arm.setLatency({ default: 0 });
    }
  });

  it('reports 409 while another operation runs on the resource, 400 up front, and a failed LRO through the poller', async () => {
    const { compute } = h.c;
    const d = await compute.disks.createOrUpdate('rg-lro', 'd2', { location: loc, creationData: { createOption: 'Empty' }, diskSizeGB: 1 }, fast);
    h.arm.setLatency({ operations: { 'disks.beginGetAccess': 150 } });
    try {
      const grant = compute.disks.grantAccess('rg-lro', 'd2', { access: 'Read', durationInSeconds: 60 }, fast);
      await grant.submitted();
      await expect(compute.disks.delete('rg-lro', 'd2', fast)).rejects.toMatchObject({ statusCode: 409, code: 'Conflict' });
      expect((await grant).accessSAS).toMatch(/sig=/);
    } finally {
      h.arm.setLatency({ operations: { 'disks.beginGetAccess': 0 } });
    }
    // Import from a blob that does not exist: refused up front (400).
    await expect(
      compute.disks.createOrUpdate('rg-lro', 'bad', { location: loc, creationData: { createOption: 'Import', sourceUri: `${h.storage.blobEndpoint('nosuch')}c/b.vhd`, storageAccountId: '/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/nosuch' } }, fast),
    ).rejects.toMatchObject({ statusCode: 400, code: 'InvalidParameter', message: expect.stringContaining('is not accessible') });
    expect(d.name).toBe('d2');

    // A source that vanishes while the import runs: the operation fails, the poller rejects, the disk is Failed.
    const src = await compute.disks.createOrUpdate('rg-lro', 'src', { location: loc, creationData: { createOption: 'Empty' }, diskSizeGB: 1 }, fast);
    h.arm.setLatency({ operations: { 'disks.put': 150 } });
    try {
      const imp = compute.disks.createOrUpdate(
        'rg-lro',
        'imp',
        { location: loc, creationData: { createOption: 'Copy', sourceResourceId: src.id! } },
        fast,
      );
      await imp.submitted();
      const blob = new PageBlobClient(h.storage.diskBlobUrl(src.id!), new StorageSharedKeyCredential(h.storage.diskAccount, h.storage.accountKey(h.storage.diskAccount)));
      await blob.delete();
      await expect(imp).rejects.toThrow(/long-running operation has failed/);
    } finally {
      h.arm.setLatency({ operations: { 'disks.put': 0 } });
    }
    expect((await compute.disks.get('rg-lro', 'imp')).provisioningState).toBe('Failed');
  });
});

describe('fault injection', () => {
  it('429 with Retry-After is honoured by the SDK throttling policy', async () => {
    const { resources } = h.c;
    await resources.resourceGroups.createOrUpdate('rg-faults', { location: loc });
    h.arm.stats.reset();
    const f = h.arm.faults.inject({ kind: 'throttle', operation: 'GET Microsoft.Resources/resourceGroups', count: 1, retryAfterSeconds: 1 });
    const t0 = Date.now();
    expect((await resources.resourceGroups.get('rg-faults')).name).toBe('rg-faults');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    expect(h.arm.stats.count('GET Microsoft.Resources/resourceGroups')).toBe(2);
    expect(h.arm.stats.requests({ operation: 'GET Microsoft.Resources/resourceGroups' }).map((r) => r.status)).toEqual([429, 200]);
    expect(h.arm.faults.list().find((x) => x.id === f.id)).toBeUndefined();
  });

  it('500s and dropped connections are retried; conflicts and exhausted retries surface', async () => {
    const { resources, network: net } = h.c;
    h.arm.stats.reset();
    h.arm.faults.inject({ kind: 'error', method: 'GET', path: '/resourcegroups/rg-faults', count: 2 });
    expect((await resources.resourceGroups.get('rg-faults')).name).toBe('rg-faults');
    expect(h.arm.stats.count('GET Microsoft.Resources/resourceGroups')).toBe(3);

    h.arm.faults.inject({ kind: 'drop', method: 'GET', path: '/resourcegroups/rg-faults', count: 1 });
    expect((await resources.resourceGroups.get('rg-faults')).name).toBe('rg-faults');

    h.arm.faults.inject({ kind: 'conflict', operation: 'PUT Microsoft.Network/virtualNetworks', count: 1 });
    await expect(
      net.virtualNetworks.createOrUpdate('rg-faults', 'v', { location: loc, addressSpace: { addressPrefixes: ['10.0.0.0/16'] } }, fast),
    ).rejects.toMatchObject({ statusCode: 409, code: 'Conflict' });
    expect((await net.virtualNetworks.createOrUpdate('rg-faults', 'v', { location: loc, addressSpace: { addressPrefixes: ['10.0.0.0/16'] } }, fast)).name).toBe('v');

    h.arm.faults.inject({ kind: 'error', path: '/resourcegroups/rg-faults', count: 10 });
    await expect(resources.resourceGroups.get('rg-faults')).rejects.toMatchObject({ statusCode: 500, code: 'InternalServerError' });
    h.arm.faults.clear();
  });

  it('faults while polling an LRO are retried by the pipeline; a hang delays the answer', async () => {
    const { network: net } = h.c;
    h.arm.setLatency({ operations: { 'networkSecurityGroups.put': 50 } });
    try {
      h.arm.faults.inject({ kind: 'error', operation: 'GET operationStatus', count: 1 });
      h.arm.faults.inject({ kind: 'drop', operation: 'GET operationStatus', count: 1 });
      const nsg = await net.networkSecurityGroups.createOrUpdate('rg-faults', 'nsg', { location: loc }, fast);
      expect(nsg.provisioningState).toBe('Succeeded');
    } finally {
      h.arm.setLatency({ operations: { 'networkSecurityGroups.put': 0 } });
    }
    h.arm.faults.inject({ kind: 'hang', operation: 'GET Microsoft.Network/networkSecurityGroups', delayMs: 300 });
    const t0 = Date.now();
    await net.networkSecurityGroups.get('rg-faults', 'nsg');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
  });
});

describe('out-of-process control (/_sandbox)', () => {
  it('injects faults, reads stats and sets latency over HTTPS (bearer token required)', async () => {
    const ctl = (method: string, what: string, body?: unknown) =>
      fetch(`${h.arm.endpoint}/_sandbox/${what}`, {
        method,
        headers: { Authorization: 'Bearer t', 'Content-Type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    expect((await fetch(`${h.arm.endpoint}/_sandbox/stats`)).status).toBe(401);
    expect((await ctl('POST', 'faults', { kind: 'error', status: 503, code: 'ServerBusy', operation: 'GET Microsoft.Resources/resourceGroups', count: 1 })).status).toBe(201);
    expect(((await (await ctl('GET', 'faults')).json()) as { value: unknown[] }).value).toHaveLength(1);
    await h.c.resources.resourceGroups.createOrUpdate('rg-ctl', { location: loc });
    expect((await h.c.resources.resourceGroups.get('rg-ctl')).name).toBe('rg-ctl');
    const stats = (await (await ctl('GET', 'stats')).json()) as { operations: Record<string, number> };
    expect(stats.operations['GET Microsoft.Resources/resourceGroups']).toBeGreaterThanOrEqual(2);
    expect((await ctl('PUT', 'latency', { operations: { 'disks.put': 5 } })).status).toBe(200);
    expect((await ctl('DELETE', 'faults')).status).toBe(204);
    expect((await ctl('PUT', 'latency', { operations: { 'disks.put': 0 } })).status).toBe(200);
  });
});

describe('a second subscription', () => {
  it('has resource groups, resources and lists of its own; operation URLs name it; an unknown one is SubscriptionNotFound; deleting a group of the same name elsewhere leaves it', async () => {
    const other = makeClients({ endpoint: h.arm.endpoint, subscriptionId: OTHER });
    // The same resource group name in both subscriptions: two groups (ARM's names are unique per subscription).
    await h.c.resources.resourceGroups.createOrUpdate('rg-two', { location: loc });
    const net = await network(other, 'rg-two', 'northeurope');
    expect(net.subnetId).toBe(`/subscriptions/${OTHER}/resourceGroups/rg-two/providers/Microsoft.Network/virtualNetworks/rg-two-vnet/subnets/default`);
    expect((await h.c.resources.resourceGroups.get('rg-two')).location).toBe(loc);
    expect((await other.resources.resourceGroups.get('rg-two')).id).toBe(`/subscriptions/${OTHER}/resourceGroups/rg-two`);
    await expect(h.c.network.virtualNetworks.get('rg-two', 'rg-two-vnet')).rejects.toMatchObject({ statusCode: 404 });

    const names = async <T extends { name?: string }>(items: AsyncIterable<T>) => {
      const out: (string | undefined)[] = [];
      for await (const i of items) out.push(i.name);
      return out;
    };
    expect(await names(other.resources.resourceGroups.list())).toEqual(['rg-two']);
    expect((await names(h.c.resources.resourceGroups.list())).filter((n) => n === 'rg-two')).toHaveLength(1);
    expect(await names(other.network.virtualNetworks.listAll())).toEqual(['rg-two-vnet']);
    expect(await names(h.c.network.virtualNetworks.listAll())).not.toContain('rg-two-vnet');
    expect(await names(h.c.network.virtualNetworks.list('rg-two'))).toEqual([]);
    expect(await names(other.resources.resources.listByResourceGroup('rg-two'))).toEqual(['rg-two-vnet']);

    let put: PipelineResponse | undefined;
    h.arm.setLatency({ operations: { 'disks.put': 50 } }); // a running operation: answered with its status URL
    const disk = await other.compute.disks.createOrUpdate('rg-two', 'd', { location: 'northeurope', creationData: { createOption: 'Empty' }, diskSizeGB: 1 }, { ...fast, onResponse: (r) => (put ??= r) }).finally(() => h.arm.setLatency({ operations: { 'disks.put': 0 } }));
    expect(disk.id).toBe(`/subscriptions/${OTHER}/resourceGroups/rg-two/providers/Microsoft.Compute/disks/d`);
    expect(put?.headers.get('azure-asyncoperation')).toContain(`/subscriptions/${OTHER}/providers/Microsoft.Compute/locations/northeurope/operations/`);

    const unknown = makeClients({ endpoint: h.arm.endpoint, subscriptionId: '00000000-0000-4000-8000-0000000000ff' });
    await expect(unknown.resources.resourceGroups.get('rg-two')).rejects.toMatchObject({ statusCode: 404, code: 'SubscriptionNotFound' });

    // Deleting the first subscription's rg-two deletes its resources only, not those of the other's rg-two.
    await h.c.compute.disks.createOrUpdate('rg-two', 'mine', { location: loc, creationData: { createOption: 'Empty' }, diskSizeGB: 1 }, fast);
    await h.c.resources.resourceGroups.beginDeleteAndWait('rg-two', fast);
    await expect(h.c.compute.disks.get('rg-two', 'mine')).rejects.toMatchObject({ statusCode: 404 });
    expect(await names(other.resources.resources.listByResourceGroup('rg-two'))).toEqual(['rg-two-vnet', 'd']);
  });
});

describe('persistence', () => {
  it('keeps every resource, IP allocation and in-flight operation across a restart', async () => {
    const { c } = h;
    const net = await network(c, 'rg-persist');
    const nicId = await net.nicId('nic-a');
    const vm = await c.compute.virtualMachines.createOrUpdate(
      'rg-persist',
      'vm',
      {
        location: loc,
        hardwareProfile: { vmSize: 'Standard_B2s' },
        storageProfile: { imageReference: { publisher: 'p', offer: 'o', sku: 's', version: 'latest' }, osDisk: { createOption: 'FromImage', diskSizeGB: 1 } },
        osProfile: { computerName: 'vm', adminUsername: 'azureuser' },
        networkProfile: { networkInterfaces: [{ id: nicId }] },
      },
      fast,
    );
    h.arm.setLatency({ operations: { 'disks.put': 400 } });
    const pending = c.compute.disks.createOrUpdate('rg-persist', 'late', { location: loc, creationData: { createOption: 'Empty' }, diskSizeGB: 1 }, fast);
    await pending.submitted();
    const sub = h.arm.subscriptionId;

    await h.restartArm({ port: h.arm.port, latency: 0, moreSubscriptionIds: [] });
    expect(h.arm.subscriptionId).toBe(sub);
    expect(h.arm.moreSubscriptionIds).toEqual([OTHER]);
    // The poller started before the restart finishes against the restarted emulator.
    expect((await pending).provisioningState).toBe('Succeeded');
    const c2 = h.c;
    const got = await c2.compute.virtualMachines.get('rg-persist', 'vm', { expand: 'instanceView' });
    expect(got.vmId).toBe(vm.vmId);
    expect(got.instanceView?.statuses?.map((s) => s.code)).toContain('PowerState/running');
    expect((await c2.compute.disks.get('rg-persist', vm.storageProfile!.osDisk!.name!)).managedBy).toBe(vm.id);
    const nic2 = await c2.network.networkInterfaces.createOrUpdate(
      'rg-persist',
      'nic-b',
      { location: loc, ipConfigurations: [{ name: 'ipconfig1', subnet: { id: net.subnetId } }] },
      fast,
    );
    expect(nic2.ipConfigurations?.[0]?.privateIPAddress).toBe('10.1.0.5');
  });
});
