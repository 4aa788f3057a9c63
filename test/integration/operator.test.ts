// The operator in-process against the real API server and local Azure: enable replication, idempotency,
// convergence after edits, Azure faults, waiting on inputs, stalls, and disabling replication.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { KubeConfig } from '@kubernetes/client-node';
import { reconcileTotal } from '../../src/runtime/metrics.ts';
import type { Manager } from '../../src/runtime/manager.ts';
import { buildOperator } from '../../src/operator/run-operator.ts';
import { chartServiceAccountKubeConfig } from '../support/helm-rbac.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';
import { startLocalAzure, type LocalAzure } from '../support/local-azure.ts';
import { conditionIs, crClients, protectNewVm, randomName, type Clients } from '../support/operator-fixtures.ts';
import { waitForObject } from '../support/wait.ts';

let azure: LocalAzure;
let kc: KubeConfig;
let ns: string;
let clients: Clients;
let manager: Manager;
let running: Promise<void>;
const stop = new AbortController();

const writes = () => azure.arm.stats.requests().filter((r) => r.method !== 'GET').length;
async function reconcileCount(): Promise<number> {
  const metric = await reconcileTotal.get();
  return metric.values.filter((v) => v.labels.kind === 'ReplicatedVM').reduce((sum, v) => sum + v.value, 0);
}

beforeAll(async () => {
  azure = await startLocalAzure();
  kc = testKubeConfig();
  ns = await createTestNamespace(kc, 'operator');
  clients = crClients(kc);
  // The operator runs with exactly the permissions the Helm chart grants its service account.
  const operatorKc = await chartServiceAccountKubeConfig(kc, 'operator', ns);
  manager = buildOperator({ kubeConfig: operatorKc, azure: azure.azureConfig(), namespace: ns, workers: 4 });
  running = manager.run(stop.signal);
});

afterAll(async () => {
  stop.abort();
  await running;
  await azure?.stop();
});

describe('enable replication', () => {
  let vm: Awaited<ReturnType<typeof protectNewVm>>;

  it('creates every target resource for a VM with two data disks and registers its disks', async () => {
    vm = await protectNewVm(azure, clients, ns);
    const rvm = await waitForObject(kc, clients.vms, { namespace: ns, name: vm.name }, conditionIs('ReplicationEnabled', 'True'), 'replication enabled');
    const status = rvm!.status!;
    expect(status.phase).toBe('InitialSync');
    expect(status.observedGeneration).toBe(rvm!.metadata.generation);
    expect(status.disks?.map((d) => d.name)).toEqual(['os', 'lun0', 'lun1']);
    expect(status.disks?.every((d) => d.sizeBytes > 0 && d.sourceDiskId.includes('/disks/'))).toBe(true);
    expect(status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'InitialSyncInProgress' });
    expect(status.conditions?.find((c) => c.type === 'Reconciling')?.status).toBe('True');

    // Every resource exists in Azure, in the right region, tagged as the operator's, and is recorded.
    const roles = Object.fromEntries((status.targetResources ?? []).map((r) => [r.role, r]));
    expect(Object.keys(roles).sort()).toEqual(['CacheContainer', 'CacheStorageAccount', 'ReplicaContainer', 'RestorePointCollection', 'TargetResourceGroup', 'TargetStorageAccount']);
    expect(Object.values(roles).every((r) => r.created && !r.pending)).toBe(true);
    const group = await azure.clients.resources.resourceGroups.get(`${vm.rg}-asr`);
    expect(group.location).toBe('northeurope');
    expect(group.tags?.['siterecovery-managed-by']).toBe('site-recovery-operator');
    const accountName = (id: string) => id.split('/').pop() as string;
    const { StorageManagementClient } = await import('@azure/arm-storage');
    const storage = new StorageManagementClient(azure.azureConfig().credential, azure.arm.subscriptionId, { endpoint: azure.arm.endpoint });
    const cache = await storage.storageAccounts.getProperties(`${vm.rg}-asr`, accountName(status.cacheStorageAccountId!));
    const target = await storage.storageAccounts.getProperties(`${vm.rg}-asr`, accountName(status.targetStorageAccountId!));
    expect(cache.location).toBe('westeurope');
    expect(target.location).toBe('northeurope');

    // The network mapping mirrored the source network.
    const mapping = await clients.mappings.get({ namespace: ns, name: `${vm.name}-net` });
    expect(mapping?.status?.targetVirtualNetworkId).toMatch(new RegExp(`/virtualNetworks/${vm.rg}-vnet-asr$`));
    expect(mapping?.status?.testVirtualNetworkId).toMatch(/-asr-test$/);
    expect(mapping?.status?.subnetMappings?.[0]).toMatchObject({ source: 'default', target: 'default' });
    expect(mapping?.status?.reverse?.targetVirtualNetworkId).toBe(vm.vnetId);
    const targetVnet = await azure.clients.network.virtualNetworks.get(`${vm.rg}-asr`, `${vm.rg}-vnet-asr`);
    expect(targetVnet.location).toBe('northeurope');
    expect(targetVnet.subnets?.map((s) => s.name)).toEqual(['default']);
  });

  it('changes nothing in Azure when reconciled again', async () => {
    const before = writes();
    const count = await reconcileCount();
    await clients.vms.mergePatch({ namespace: ns, name: vm.name }, { metadata: { annotations: { 'test/poke': String(Date.now()) } } });
    await vi.waitFor(async () => expect(await reconcileCount()).toBeGreaterThan(count), { timeout: 30_000, interval: 100 });
    await azure.arm.idle();
    expect(writes()).toBe(before);
  });

  it('converges when the spec changes (a disk excluded)', async () => {
    const patched = await clients.vms.mergePatch({ namespace: ns, name: vm.name }, { spec: { excludedDiskLuns: [1] } });
    const rvm = await waitForObject(kc, clients.vms, { namespace: ns, name: vm.name }, (o) => o?.status?.observedGeneration === patched.metadata.generation && o?.status?.disks?.length === 2, 'disk lun1 excluded');
    expect(rvm?.status?.disks?.map((d) => d.name)).toEqual(['os', 'lun0']);
  });

  it('disables replication on delete and removes what it created; the mapping then removes its networks', async () => {
    const before = await clients.vms.get({ namespace: ns, name: vm.name });
    const created = (before?.status?.targetResources ?? []).filter((r) => r.created);
    expect(created).toHaveLength(6);
    await clients.vms.delete({ namespace: ns, name: vm.name });
    await waitForObject(kc, clients.vms, { namespace: ns, name: vm.name }, (o) => o === undefined, 'ReplicatedVM gone');
    const left: string[] = [];
    for await (const r of azure.clients.resources.resources.listByResourceGroup(`${vm.rg}-asr`)) left.push(`${r.type}/${r.name}`);
    // Only the mapping's networks remain: the resource group is not empty, so it stays.
    expect(left.sort()).toEqual([`Microsoft.Network/virtualNetworks/${vm.rg}-vnet-asr`, `Microsoft.Network/virtualNetworks/${vm.rg}-vnet-asr-test`]);
    await clients.mappings.delete({ namespace: ns, name: `${vm.name}-net` });
    await waitForObject(kc, clients.mappings, { namespace: ns, name: `${vm.name}-net` }, (o) => o === undefined, 'NetworkMapping gone');
    await expect(azure.clients.resources.resourceGroups.get(`${vm.rg}-asr`)).rejects.toMatchObject({ statusCode: 404 });
    // The source VM is untouched.
    const source = await azure.clients.compute.virtualMachines.get(vm.rg, vm.name);
    expect(source.provisioningState).toBe('Succeeded');
  });
});

describe('waiting and stalling', () => {
  it('waits for a missing policy as a condition, then proceeds when it appears', async () => {
    const rg = randomName('app');
    const name = randomName('vm');
    const vm = await azure.createVm({ name, resourceGroup: rg, dataDisks: 1 });
    const vnetId = `/subscriptions/${azure.arm.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${rg}-vnet`;
    await clients.mappings.create(ns, { metadata: { name: `${name}-net` }, spec: { sourceVirtualNetworkId: vnetId, targetLocation: 'northeurope', targetResourceGroup: `${rg}-asr` } });
    await clients.vms.create(ns, { metadata: { name }, spec: { sourceVirtualMachineId: vm.id as string, targetLocation: 'northeurope', policyRef: { name: `${name}-later` }, networkMappingRef: { name: `${name}-net` } } });
    const waiting = await waitForObject(kc, clients.vms, { namespace: ns, name }, (o) => o?.status?.conditions?.some((c) => c.reason === 'WaitingForPolicy') ?? false, 'WaitingForPolicy');
    expect(waiting?.status?.conditions?.find((c) => c.type === 'Stalled')).toBeUndefined();
    await clients.policies.create(ns, { metadata: { name: `${name}-later` }, spec: { recoveryPointInterval: '1m' } });
    await waitForObject(kc, clients.vms, { namespace: ns, name }, conditionIs('ReplicationEnabled', 'True'), 'replication enabled after the policy appeared');
  });

  it('stalls with a reason when the source VM does not exist', async () => {
    const name = randomName('ghost');
    const rg = randomName('app');
    await azure.createVm({ name: `${name}-other`, resourceGroup: rg, dataDisks: 0 });
    const vnetId = `/subscriptions/${azure.arm.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${rg}-vnet`;
    await clients.policies.create(ns, { metadata: { name: `${name}-p` }, spec: {} });
    await clients.mappings.create(ns, { metadata: { name: `${name}-net` }, spec: { sourceVirtualNetworkId: vnetId, targetLocation: 'northeurope', targetResourceGroup: `${rg}-asr` } });
    await clients.vms.create(ns, {
      metadata: { name },
      spec: { sourceVirtualMachineId: `/subscriptions/${azure.arm.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/nope`, targetLocation: 'northeurope', policyRef: { name: `${name}-p` }, networkMappingRef: { name: `${name}-net` } },
    });
    const stalled = await waitForObject(kc, clients.vms, { namespace: ns, name }, conditionIs('Stalled', 'True'), 'Stalled');
    expect(stalled?.status?.phase).toBe('Error');
    expect(stalled?.status?.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({ reason: 'SourceVMNotFound' });
    expect(stalled?.status?.conditions?.find((c) => c.type === 'Ready')?.message).toContain('/virtualMachines/nope does not exist');
  });

  it('keeps a policy in use from being deleted', async () => {
    const vm = await protectNewVm(azure, clients, ns, { dataDisks: 0 });
    await waitForObject(kc, clients.vms, { namespace: ns, name: vm.name }, conditionIs('ReplicationEnabled', 'True'), 'replication enabled');
    await clients.policies.delete({ namespace: ns, name: `${vm.name}-policy` });
    const held = await waitForObject(kc, clients.policies, { namespace: ns, name: `${vm.name}-policy` }, (o) => o?.status?.conditions?.some((c) => c.reason === 'InUse') ?? false, 'policy InUse');
    expect(held?.metadata.deletionTimestamp).toBeTruthy();
    await clients.vms.delete({ namespace: ns, name: vm.name });
    await waitForObject(kc, clients.policies, { namespace: ns, name: `${vm.name}-policy` }, (o) => o === undefined, 'policy deleted once unused');
  });
});

describe('Azure faults', () => {
  it('survives a storm of 429s and 500s', async () => {
    let faults: Array<{ hits: number }> = [];
    const vm = await protectNewVm(azure, clients, ns, {
      dataDisks: 1,
      beforeProtect: () => {
        faults = [
          azure.arm.faults.inject({ kind: 'throttle', method: 'PUT', count: 8, retryAfterSeconds: 1 }),
          azure.arm.faults.inject({ kind: 'error', method: 'PUT', count: 6 }),
          azure.arm.faults.inject({ kind: 'error', method: 'GET', path: 'storageAccounts', count: 4, status: 503, code: 'ServiceUnavailable' }),
        ];
      },
    });
    const rvm = await waitForObject(kc, clients.vms, { namespace: ns, name: vm.name }, conditionIs('ReplicationEnabled', 'True'), 'replication enabled despite faults', 120_000);
    expect(rvm?.status?.targetResources?.filter((r) => r.created)).toHaveLength(6);
    expect(faults.map((f) => f.hits)).toEqual([8, 6, 4]);
  });
});
