// Failover end to end: the real operator and the real datapath (in this process) against the real API
// server and local Azure. A test failover from a named point, its cleanup, refusals, and a planned
// failover whose target disks equal the source disks byte for byte.
import { PageBlobClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FailoverRequest, RecoveryPoint } from '../../src/api/types.ts';
import { powerState } from '../../src/azure/failover-resources.ts';
import { AzureClients } from '../../src/azure/clients.ts';
import { buildDatapath } from '../../src/datapath/datapath.ts';
import { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { buildOperator } from '../../src/operator/run-operator.ts';
import { hashDisk } from '../../src/sandbox/workload/index.ts';
import { createSmallVm, diskBlob, hashBlob, listRecoveryPoints, startDatapathSandbox, writeRandom, type DatapathSandbox } from '../support/datapath-sandbox.ts';
import { chartServiceAccountKubeConfig } from '../support/helm-rbac.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';
import { conditionIs, crClients, type Clients } from '../support/operator-fixtures.ts';
import { waitForObject } from '../support/wait.ts';

const DISK_BYTES = 16 * 1024 * 1024;

let sb: DatapathSandbox;
let kc: KubeConfig;
let ns: string;
let clients: Clients;
let failovers: CustomResourceClient<FailoverRequest>;
let az: AzureClients;
const stop = new AbortController();
const running: Array<Promise<void>> = [];
const vmName = 'app';
const rg = 'failover-src';
let sourceVmId: string;
let sourceDiskIds: string[];
let sourceIp: string | undefined;

/** The replica snapshot of a point's disk (in whatever target account the operator created). */
function pointSnapshot(point: RecoveryPoint, disk: string): PageBlobClient {
  const d = point.spec.disks.find((x) => x.name === disk)!;
  const account = new URL(d.blobUrl).pathname.split('/')[1] as string;
  return new PageBlobClient(d.blobUrl, new StorageSharedKeyCredential(account, sb.storage.accountKey(account))).withSnapshot(d.snapshot);
}
/** sha256 of a managed disk's first `length` bytes (imported disks are rounded up to whole GiB). */
const diskHash = (diskId: string, length = DISK_BYTES) =>
  hashDisk(sb.storage.diskBlobUrl(diskId), { length, credential: new StorageSharedKeyCredential(sb.storage.diskAccount, sb.storage.accountKey(sb.storage.diskAccount)) });
const foRef = (name: string) => ({ namespace: ns, name });
const finished = (o: FailoverRequest | undefined) => ['Succeeded', 'Failed', 'Committed'].includes(o?.status?.phase ?? '');

beforeAll(async () => {
  sb = await startDatapathSandbox();
  kc = testKubeConfig();
  ns = await createTestNamespace(kc, 'failover');
  clients = crClients(kc);
  failovers = new CustomResourceClient<FailoverRequest>(kc, 'FailoverRequest');
  az = new AzureClients(sb.azure);

  const source = await createSmallVm(sb, rg, vmName, 2, DISK_BYTES);
  sourceVmId = source.id as string;
  sourceDiskIds = [source.storageProfile!.osDisk!.managedDisk!.id!, ...source.storageProfile!.dataDisks!.map((d) => d.managedDisk!.id!)];
  for (const [i, id] of sourceDiskIds.entries()) await writeRandom(diskBlob(sb, id), 2 * 1024 * 1024, 1024 * 1024 * (1 + i));
  const nic = await sb.c.network.networkInterfaces.get(rg, `${vmName}-nic`);
  sourceIp = nic.ipConfigurations?.[0]?.privateIPAddress;

  // Both run with exactly the permissions the Helm chart grants their service accounts.
  const operatorKc = await chartServiceAccountKubeConfig(kc, 'operator', ns);
  const datapathKc = await chartServiceAccountKubeConfig(kc, 'datapath', ns);
  running.push(buildOperator({ kubeConfig: operatorKc, azure: sb.azure, namespace: ns, workers: 4 }).run(stop.signal));
  running.push(buildDatapath({ kubeConfig: datapathKc, azure: sb.azure, identity: 'dp-failover', namespace: ns, port: 0, leaseDurationMs: 3000, worker: { cycleIntervalMs: 1500, statusIntervalMs: 500, retryMs: 300 } }).run(stop.signal));

  await clients.policies.create(ns, { metadata: { name: 'fast' }, spec: { recoveryPointInterval: '1m', retention: '1h' } });
  await clients.mappings.create(ns, {
    metadata: { name: 'net' },
    spec: { sourceVirtualNetworkId: `/subscriptions/${sb.arm.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${rg}-vnet`, targetLocation: 'northeurope', targetResourceGroup: `${rg}-asr` },
  });
  await clients.vms.create(ns, { metadata: { name: vmName }, spec: { sourceVirtualMachineId: sourceVmId, targetLocation: 'northeurope', policyRef: { name: 'fast' }, networkMappingRef: { name: 'net' } } });
  await waitForObject(kc, clients.vms, { namespace: ns, name: vmName }, (o) => o?.status?.phase === 'Protected' && (o.status.replication?.cycle ?? 0) >= 2, 'protected with two sealed cycles', 180_000);
});

afterAll(async () => {
  stop.abort();
  await Promise.allSettled(running);
  await sb?.close();
});

describe('test failover', () => {
  let point: RecoveryPoint;
  let fo: FailoverRequest | undefined;

  it('brings the VM up in the test network from a named point, with disks equal to that point, while replication goes on', async () => {
    const points = await listRecoveryPoints(kc, ns, vmName);
    point = points[0] as RecoveryPoint;
    const cycleBefore = (await clients.vms.get({ namespace: ns, name: vmName }))?.status?.replication?.cycle ?? 0;
    await failovers.create(ns, { metadata: { name: 'drill' }, spec: { replicatedVMName: vmName, type: 'Test', recoveryPoint: point.metadata.name as string } });
    fo = await waitForObject(kc, failovers, foRef('drill'), finished, 'test failover done', 120_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    expect(fo?.status?.recoveryPointName).toBe(point.metadata.name);
    expect(fo?.status?.steps?.map((s) => `${s.name}:${s.state}`)).toEqual([
      'SelectRecoveryPoint:Succeeded', 'CreateDisks:Succeeded', 'CreateNetworkInterfaces:Succeeded', 'CreateVirtualMachine:Succeeded', 'StartVirtualMachine:Succeeded',
    ]);
    expect(fo?.status?.rtoSeconds).toBeGreaterThanOrEqual(0);
    expect(await powerState(az, fo?.status?.targetVirtualMachineId as string)).toBe('running');

    // Every disk equals the point's replica snapshot, byte for byte.
    const disks = (fo?.status?.targetResources ?? []).filter((r) => r.kind === 'Disk');
    expect(disks).toHaveLength(point.spec.disks.length);
    for (const d of point.spec.disks) {
      const created = disks.find((r) => r.id.endsWith(`-${d.name}-test-${r.id.split('-test-')[1]}`));
      expect(created, d.name).toBeDefined();
      expect(await diskHash(created!.id), d.name).toBe(await hashBlob(pointSnapshot(point, d.name)));
    }

    // In the test network, keeping the source address; the source and replication untouched.
    const mapping = await clients.mappings.get({ namespace: ns, name: 'net' });
    expect(fo?.status?.networkInterfaces?.[0]?.targetSubnetId).toBe(mapping?.status?.subnetMappings?.[0]?.testSubnetId);
    expect(fo?.status?.networkInterfaces?.[0]?.privateIpAddress).toBe(sourceIp);
    expect(await powerState(az, sourceVmId)).toBe('running');
    await waitForObject(kc, clients.vms, { namespace: ns, name: vmName }, (o) => o?.status?.phase === 'Protected' && (o.status.replication?.cycle ?? 0) > cycleBefore + 1, 'replication continuing');
  });

  it('refuses a named point of another VM, and a second real failover while one is under way', async () => {
    const foreign = { ...point.spec, replicatedVMName: 'someone-else' };
    await clients.points.create(ns, { metadata: { name: 'foreign-point', labels: { 'siterecovery.io/replicated-vm': 'someone-else' } }, spec: foreign });
    await failovers.create(ns, { metadata: { name: 'wrong-point' }, spec: { replicatedVMName: vmName, type: 'Test', recoveryPoint: 'foreign-point' } });
    const refused = await waitForObject(kc, failovers, foRef('wrong-point'), finished, 'refusal');
    expect(refused?.status?.phase).toBe('Failed');
    expect(refused?.status?.conditions?.find((c) => c.type === 'Succeeded')).toMatchObject({ status: 'False', reason: 'RecoveryPointMismatch' });
    expect(refused?.status?.targetResources ?? []).toEqual([]);

    await failovers.create(ns, { metadata: { name: 'missing-vm' }, spec: { replicatedVMName: 'nope', type: 'Unplanned' } });
    const missing = await waitForObject(kc, failovers, foRef('missing-vm'), finished, 'refusal');
    expect(missing?.status?.conditions?.find((c) => c.type === 'Succeeded')?.reason).toBe('ReplicatedVMNotFound');
  });

  it('removes every test resource when the request is deleted', async () => {
    const created = fo?.status?.targetResources ?? [];
    expect(created.map((r) => r.kind).sort()).toEqual(['Disk', 'Disk', 'NetworkInterface', 'VirtualMachine']);
    await failovers.delete(foRef('drill'));
    await waitForObject(kc, failovers, foRef('drill'), (o) => o === undefined, 'test failover deleted', 60_000);
    for (const r of created) {
      const name = r.id.split('/').pop() as string;
      const gone = r.kind === 'Disk' ? sb.c.compute.disks.get(`${rg}-asr`, name) : r.kind === 'NetworkInterface' ? sb.c.network.networkInterfaces.get(`${rg}-asr`, name) : sb.c.compute.virtualMachines.get(`${rg}-asr`, name);
      await expect(gone, r.id).rejects.toMatchObject({ statusCode: 404 });
    }
  });
});

describe('planned failover', () => {
  it('shuts the source down, replicates the last changes and brings up a VM whose disks equal the source disks', async () => {
    // The last writes before the failover: they must reach the target.
    for (const [i, id] of sourceDiskIds.entries()) await writeRandom(diskBlob(sb, id), 512 * 1024, 8 * 1024 * 1024 + i * 4096);
    await failovers.create(ns, { metadata: { name: 'move' }, spec: { replicatedVMName: vmName, type: 'Planned' } });
    const fo = await waitForObject(kc, failovers, foRef('move'), finished, 'planned failover done', 180_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    expect(fo?.status?.steps?.map((s) => s.name)).toEqual(['ShutdownSource', 'FinalSync', 'SelectRecoveryPoint', 'CreateDisks', 'CreateNetworkInterfaces', 'CreateVirtualMachine', 'StartVirtualMachine']);
    expect(await powerState(az, sourceVmId)).toBe('stopped');
    expect(fo?.status?.targetVirtualMachineId).toMatch(new RegExp(`/resourceGroups/${rg}-asr/providers/Microsoft.Compute/virtualMachines/${vmName}$`));

    const target = await sb.c.compute.virtualMachines.get(`${rg}-asr`, vmName);
    const targetDiskIds = [target.storageProfile!.osDisk!.managedDisk!.id!, ...target.storageProfile!.dataDisks!.map((d) => d.managedDisk!.id!)];
    for (const [i, id] of sourceDiskIds.entries()) expect(await diskHash(targetDiskIds[i] as string), `disk ${i}`).toBe(await diskHash(id));
    expect(fo?.status?.networkInterfaces?.[0]).toMatchObject({ requestedPrivateIpAddress: sourceIp, privateIpAddress: sourceIp });

    const vm = await waitForObject(kc, clients.vms, { namespace: ns, name: vmName }, (o) => o?.status?.phase === 'FailedOver', 'ReplicatedVM FailedOver');
    expect(vm?.status?.activeFailover).toBe('move');
  });

  it('refuses another real failover of a failed-over VM, and commits on request', async () => {
    await failovers.create(ns, { metadata: { name: 'again' }, spec: { replicatedVMName: vmName, type: 'Unplanned' } });
    const again = await waitForObject(kc, failovers, foRef('again'), finished, 'refusal');
    expect(again?.status?.conditions?.find((c) => c.type === 'Succeeded')?.reason).toMatch(/ConcurrentFailover|AlreadyFailedOver/);

    await failovers.mergePatch(foRef('move'), { spec: { commit: true } });
    const committed = await waitForObject(kc, failovers, foRef('move'), (o) => o?.status?.phase === 'Committed', 'committed');
    expect(committed?.status?.conditions?.find((c) => c.type === 'Committed')?.status).toBe('True');
    await failovers.delete(foRef('move'));
    await waitForObject(kc, failovers, foRef('move'), (o) => o === undefined, 'request deleted');
    // Deleting a real failover's request never undoes it.
    const vm = await waitForObject(kc, clients.vms, { namespace: ns, name: vmName }, conditionIs('Ready', 'True'), 'still failed over');
    expect(vm?.status?.phase).toBe('FailedOver');
    expect((await sb.c.compute.virtualMachines.get(`${rg}-asr`, vmName)).provisioningState).toBe('Succeeded');
  });
});
