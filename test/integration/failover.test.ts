// Failover end to end: the real operator and the real datapath (in this process) against the real API
// server and local Azure. A test failover from a named point, its cleanup, refusals, and a planned
// failover whose target disks equal the source disks byte for byte.
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FailoverRequest, RecoveryPoint } from '../../src/api/types.ts';
import { powerState } from '../../src/azure/failover-resources.ts';
import { AzureClients } from '../../src/azure/clients.ts';
import type { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { diskBlob, hashBlob, listRecoveryPoints, writeRandom } from '../support/datapath-sandbox.ts';
import { finished, startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import { enforceShippedRoles, nothingRefused } from '../support/shipped-roles.ts';
import { conditionIs, type Clients } from '../support/operator-fixtures.ts';
import { waitForObject } from '../support/wait.ts';

const DISK_BYTES = 16 * 1024 * 1024;

let fx: FailoverFixture;
let kc: KubeConfig;
let ns: string;
let clients: Clients;
let failovers: CustomResourceClient<FailoverRequest>;
let az: AzureClients;
const vmName = 'app';
const rg = 'failover-src';
const foRef = (name: string) => ({ namespace: ns, name });

beforeAll(async () => {
  fx = await startFailoverFixture({ principals: true, namespacePrefix: 'failover', rg, vmName, disks: 2, diskBytes: DISK_BYTES });
  enforceShippedRoles(fx.sb);
  ({ kc, ns, clients, failovers } = fx);
  az = new AzureClients(fx.sb.azure);
  for (const [i, id] of fx.sourceDiskIds.entries()) await writeRandom(diskBlob(fx.sb, id), 2 * 1024 * 1024, 1024 * 1024 * (1 + i));
  await fx.runInProcess('dp-failover');
  await fx.protect(2);
});

afterAll(async () => {
  await fx?.close();
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
      expect(await fx.diskHash(created!.id), d.name).toBe(await hashBlob(fx.pointSnapshot(point, d.name)));
    }

    // In the test network, keeping the source address; the source and replication untouched.
    const mapping = await clients.mappings.get({ namespace: ns, name: 'net' });
    expect(fo?.status?.networkInterfaces?.[0]?.targetSubnetId).toBe(mapping?.status?.subnetMappings?.[0]?.testSubnetId);
    expect(fo?.status?.networkInterfaces?.[0]?.privateIpAddress).toBe(fx.sourceIp);
    expect(await powerState(az, fx.sourceVmId)).toBe('running');
    await waitForObject(kc, clients.vms, { namespace: ns, name: vmName }, (o) => o?.status?.phase === 'Protected' && (o.status.replication?.cycle ?? 0) > cycleBefore + 1, 'replication continuing');
  });

  it('runs a second test failover beside the first: its own VM and disks, the next free address, reported', async () => {
    await failovers.create(ns, { metadata: { name: 'drill-2' }, spec: { replicatedVMName: vmName, type: 'Test' } });
    const second = await waitForObject(kc, failovers, foRef('drill-2'), finished, 'second test failover done', 120_000);
    expect(second?.status?.phase, JSON.stringify(second?.status)).toBe('Succeeded');
    const first = await failovers.get(foRef('drill'));
    expect(second?.status?.targetVirtualMachineId).not.toBe(first?.status?.targetVirtualMachineId);
    const ids = (o: FailoverRequest | undefined) => (o?.status?.targetResources ?? []).map((r) => r.id.toLowerCase());
    expect(ids(second).filter((id) => ids(first).includes(id))).toEqual([]);
    // The source address is taken by the first test VM: the next free one, with what was asked for beside it.
    const nic = second?.status?.networkInterfaces?.[0];
    expect(nic?.requestedPrivateIpAddress).toBe(fx.sourceIp);
    expect(nic?.privateIpAddress).toBeDefined();
    expect(nic?.privateIpAddress).not.toBe(fx.sourceIp);
    expect(await powerState(az, first?.status?.targetVirtualMachineId as string)).toBe('running');
    expect(await powerState(az, second?.status?.targetVirtualMachineId as string)).toBe('running');

    // An address the user names explicitly is a promise: taken, the request fails rather than use another.
    const vmRef = { namespace: ns, name: vmName };
    const nicName = (await clients.vms.get(vmRef))?.status?.sourceNetworkInterfaces?.[0]?.name as string;
    await clients.vms.mergePatch(vmRef, { spec: { networkInterfaces: [{ sourceName: nicName, targetPrivateIpAddress: fx.sourceIp }] } });
    try {
      await failovers.create(ns, { metadata: { name: 'drill-taken-ip' }, spec: { replicatedVMName: vmName, type: 'Test' } });
      const taken = await waitForObject(kc, failovers, foRef('drill-taken-ip'), finished, 'refused address', 120_000);
      expect(taken?.status?.phase).toBe('Failed');
      expect(taken?.status?.conditions?.find((c) => c.type === 'Succeeded')).toMatchObject({ status: 'False', reason: 'PrivateIpUnavailable' });
      expect(taken?.status?.conditions?.find((c) => c.type === 'Succeeded')?.message).toContain(fx.sourceIp);
      expect(taken?.status?.steps?.find((st) => st.name === 'CreateNetworkInterfaces')?.state).toBe('Failed');
      await failovers.delete(foRef('drill-taken-ip'));
      await waitForObject(kc, failovers, foRef('drill-taken-ip'), (o) => o === undefined, 'refused request cleaned up', 60_000);
    } finally {
      await clients.vms.mergePatch(vmRef, { spec: { networkInterfaces: null } });
    }
    await failovers.delete(foRef('drill-2'));
    await waitForObject(kc, failovers, foRef('drill-2'), (o) => o === undefined, 'second test failover deleted', 60_000);
    expect(await powerState(az, first?.status?.targetVirtualMachineId as string)).toBe('running');
  });

  it('refuses a named point of another VM, and a failover of a VM that does not exist', async () => {
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
      const gone = r.kind === 'Disk' ? fx.sb.c.compute.disks.get(`${rg}-asr`, name) : r.kind === 'NetworkInterface' ? fx.sb.c.network.networkInterfaces.get(`${rg}-asr`, name) : fx.sb.c.compute.virtualMachines.get(`${rg}-asr`, name);
      await expect(gone, r.id).rejects.toMatchObject({ statusCode: 404 });
    }
  });
});

describe('planned failover', () => {
  it('shuts the source down, replicates the last changes and brings up a VM whose disks equal the source disks', async () => {
    // The last writes before the failover: they must reach the target.
    for (const [i, id] of fx.sourceDiskIds.entries()) await writeRandom(diskBlob(fx.sb, id), 512 * 1024, 8 * 1024 * 1024 + i * 4096);
    await failovers.create(ns, { metadata: { name: 'move' }, spec: { replicatedVMName: vmName, type: 'Planned' } });
    const fo = await waitForObject(kc, failovers, foRef('move'), finished, 'planned failover done', 180_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    expect(fo?.status?.steps?.map((s) => s.name)).toEqual(['ShutdownSource', 'FinalSync', 'SelectRecoveryPoint', 'CreateDisks', 'CreateNetworkInterfaces', 'CreateVirtualMachine', 'StartVirtualMachine']);
    expect(await powerState(az, fx.sourceVmId)).toBe('stopped');
    expect(fo?.status?.targetVirtualMachineId).toMatch(new RegExp(`/resourceGroups/${rg}-asr/providers/Microsoft.Compute/virtualMachines/${vmName}$`));

    const target = await fx.sb.c.compute.virtualMachines.get(`${rg}-asr`, vmName);
    const targetDiskIds = [target.storageProfile!.osDisk!.managedDisk!.id!, ...target.storageProfile!.dataDisks!.map((d) => d.managedDisk!.id!)];
    for (const [i, id] of fx.sourceDiskIds.entries()) expect(await fx.diskHash(targetDiskIds[i] as string), `disk ${i}`).toBe(await fx.diskHash(id));
    expect(fo?.status?.networkInterfaces?.[0]).toMatchObject({ requestedPrivateIpAddress: fx.sourceIp, privateIpAddress: fx.sourceIp });

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
    expect((await fx.sb.c.compute.virtualMachines.get(`${rg}-asr`, vmName)).provisioningState).toBe('Succeeded');
  });
});

nothingRefused(() => fx.sb);
