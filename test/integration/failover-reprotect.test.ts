// The round trip, end to end with the real operator and datapath (as the chart's service accounts): an
// Unplanned failover while the source keeps running (its region "down"), commit, re-protect (the original
// VM deallocated and used as the seed: only what differs travels back), then a Planned failback that
// returns the VM to its resource group with its name, its NIC and address, and the data written after
// the failover — not the writes the original VM made after the failover's recovery point.
// All of it under Azure RBAC enforcement, the ARM emulator's and the storage front's (`sandbox up
// --azure-rbac`): the operator and the datapath hold exactly the shipped roles (deploy/azure-roles/*.json),
// and nothing they do is refused.
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FailoverRequest, RecoveryPoint, ReplicatedVM } from '../../src/api/types.ts';
import { AzureClients } from '../../src/azure/clients.ts';
import { powerState } from '../../src/azure/failover-resources.ts';
import { seedComparedBytes } from '../../src/datapath/metrics.ts';
import type { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { diskBlob, hashBlob, writeRandom } from '../support/datapath-sandbox.ts';
import { finished, startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import type { Clients } from '../support/operator-fixtures.ts';
import { waitForObject } from '../support/wait.ts';
import { sandboxRbac } from '../../sandbox/src/azure-roles.ts';
import { SANDBOX_PRINCIPALS } from '../../sandbox/src/storage/token.ts';

const DISK_BYTES = 16 * 1024 * 1024;
const MiB = 1024 * 1024;

let fx: FailoverFixture;
let kc: KubeConfig;
let ns: string;
let clients: Clients;
let failovers: CustomResourceClient<FailoverRequest>;
let az: AzureClients;
const vmName = 'app';
const rg = 'reprotect-src';
let failedOverVmId: string;
let failedOverDiskIds: string[];
const foRef = (name: string) => ({ namespace: ns, name });

beforeAll(async () => {
  fx = await startFailoverFixture({ namespacePrefix: 'reprotect', rg, vmName, disks: 2, diskBytes: DISK_BYTES, principals: true });
  fx.sb.arm.rbac.configure(sandboxRbac(fx.sb.arm.subscriptionId));
  ({ kc, ns, clients, failovers } = fx);
  az = new AzureClients(fx.sb.azure);
  for (const [i, id] of fx.sourceDiskIds.entries()) await writeRandom(diskBlob(fx.sb, id), 4 * MiB, MiB * (1 + i));

  await fx.runInProcess('dp-reprotect');
  await fx.protect(2);
});

afterAll(async () => {
  await fx?.close();
});

describe('unplanned failover, re-protect, failback', () => {
  it('fails over unplanned from the newest sealed point without touching the source', async () => {
    await failovers.create(ns, { metadata: { name: 'disaster' }, spec: { replicatedVMName: vmName, type: 'Unplanned' } });
    const fo = await waitForObject(kc, failovers, foRef('disaster'), finished, 'unplanned failover done', 180_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    expect(fo?.status?.steps?.map((s) => `${s.name}:${s.state}`)).toEqual([
      'SelectRecoveryPoint:Succeeded', 'CreateDisks:Succeeded', 'CreateNetworkInterfaces:Succeeded', 'CreateVirtualMachine:Succeeded', 'StartVirtualMachine:Succeeded',
    ]);
    expect(await powerState(az, fx.sourceVmId)).toBe('running');
    failedOverVmId = fo?.status?.targetVirtualMachineId as string;
    expect(failedOverVmId).toMatch(new RegExp(`/resourceGroups/${rg}-asr/providers/Microsoft.Compute/virtualMachines/${vmName}$`));
    expect(await powerState(az, failedOverVmId)).toBe('running');

    const point = await clients.points.get({ namespace: ns, name: fo?.status?.recoveryPointName as string });
    failedOverDiskIds = await fx.diskIdsOf(`${rg}-asr`, vmName);
    for (const [i, name] of ['os', 'lun0'].entries()) expect(await fx.diskHash(failedOverDiskIds[i] as string), name).toBe(await hashBlob(fx.pointSnapshot(point as RecoveryPoint, name)));
    await waitForObject(kc, clients.vms, { namespace: ns, name: vmName }, (o) => o?.status?.phase === 'FailedOver', 'ReplicatedVM FailedOver');
  });

  it('re-protects from the original disks: the reverse initial sync copies only what differs', async () => {
    // After the point: the original VM kept writing (lost in the disaster), and the failed-over VM writes.
    for (const [i, id] of fx.sourceDiskIds.entries()) await writeRandom(diskBlob(fx.sb, id), MiB, 8 * MiB + i * 64 * 1024);
    for (const [i, id] of failedOverDiskIds.entries()) await writeRandom(diskBlob(fx.sb, id), MiB, 10 * MiB + i * 64 * 1024);

    await failovers.mergePatch(foRef('disaster'), { spec: { commit: true, reprotect: true } });
    const fo = await waitForObject(kc, failovers, foRef('disaster'), (o) => o?.status?.conditions?.some((c) => c.type === 'Reprotected' && c.status === 'True') ?? false, 'reprotected', 240_000);
    expect(fo?.status?.phase).toBe('Committed');
    expect(fo?.status?.steps?.slice(-4).map((s) => `${s.name}:${s.state}`)).toEqual([
      'DeallocateSourceVirtualMachine:Succeeded', 'CreateReverseNetworkMapping:Succeeded', 'CreateReverseReplicatedVM:Succeeded', 'WaitForReverseInitialSync:Succeeded',
    ]);
    expect(fo?.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'Committed' });
    expect(await powerState(az, fx.sourceVmId)).toBe('deallocated');

    const mapping = await clients.mappings.get({ namespace: ns, name: fo?.status?.reverseNetworkMappingName as string });
    expect(mapping?.spec).toMatchObject({ targetLocation: 'westeurope', targetResourceGroup: rg, targetVirtualNetworkId: `/subscriptions/${fx.sb.arm.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${rg}-vnet` });

    const reverse = (await clients.vms.get({ namespace: ns, name: fo?.status?.reverseReplicatedVMName as string })) as ReplicatedVM;
    expect(reverse.metadata.name).toBe(`${vmName}-reverse`);
    expect(reverse.spec).toMatchObject({ sourceVirtualMachineId: failedOverVmId, targetLocation: 'westeurope', targetResourceGroup: rg, seedVirtualMachineId: fx.sourceVmId });
    expect(reverse.status?.disks?.map((d) => d.seedDiskId?.toLowerCase())).toEqual(fx.sourceDiskIds.map((d) => d.toLowerCase()));
    const sync = reverse.status?.initialSync;
    expect(sync?.bytesMatched, JSON.stringify(sync)).toBeGreaterThan(0);
    // Only the blocks that differ travelled: at most the writes on both sides (2 MiB per disk, in 64 KiB blocks).
    expect(sync?.bytesCopied, JSON.stringify(sync)).toBeGreaterThan(0);
    expect(sync?.bytesCopied, JSON.stringify(sync)).toBeLessThanOrEqual(fx.sourceDiskIds.length * 2 * MiB + 2 * 64 * 1024);
    // And only the 512 KiB pieces holding those writes were read through the datapath to compare them; the
    // rest was found equal by checksums storage computed in each region.
    const compared = Object.fromEntries((await seedComparedBytes.get()).values.map((v) => [v.labels.method, v.value]));
    expect(compared.checksum, JSON.stringify(compared)).toBeGreaterThan(0);
    expect(compared.read, JSON.stringify(compared)).toBeLessThanOrEqual(fx.sourceDiskIds.length * 6 * 512 * 1024);
  });

  it('refuses a failback while the original VM runs again, before touching anything', async () => {
    await fx.sb.c.compute.virtualMachines.beginStartAndWait(rg, vmName, { updateIntervalInMs: 100 });
    await failovers.create(ns, { metadata: { name: 'too-early' }, spec: { replicatedVMName: `${vmName}-reverse`, type: 'Planned' } });
    const refused = await waitForObject(kc, failovers, foRef('too-early'), finished, 'refusal');
    expect(refused?.status?.conditions?.find((c) => c.type === 'Succeeded')).toMatchObject({ status: 'False', reason: 'ReplacedVirtualMachineRunning' });
    expect(refused?.status?.targetResources ?? []).toEqual([]);
    expect(await powerState(az, failedOverVmId)).toBe('running');
    await fx.sb.c.compute.virtualMachines.beginDeallocateAndWait(rg, vmName, { updateIntervalInMs: 100 });
  });

  it('fails back: the VM returns to its resource group with its name, NIC, address and post-failover data', async () => {
    await failovers.create(ns, { metadata: { name: 'failback' }, spec: { replicatedVMName: `${vmName}-reverse`, type: 'Planned' } });
    const fo = await waitForObject(kc, failovers, foRef('failback'), finished, 'failback done', 240_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    expect(fo?.status?.steps?.map((s) => s.name)).toEqual(['ShutdownSource', 'FinalSync', 'SelectRecoveryPoint', 'CreateDisks', 'ReplaceVirtualMachine', 'CreateNetworkInterfaces', 'CreateVirtualMachine', 'StartVirtualMachine']);
    expect(fo?.status?.targetVirtualMachineId?.toLowerCase()).toBe(fx.sourceVmId.toLowerCase());
    expect(await powerState(az, fx.sourceVmId)).toBe('running');
    expect(await powerState(az, failedOverVmId)).toBe('stopped');

    // Same NIC, same address; the replaced VM's disks kept and reported.
    const back = await fx.sb.c.compute.virtualMachines.get(rg, vmName);
    expect(back.networkProfile?.networkInterfaces?.map((n) => n.id?.toLowerCase())).toEqual([fx.sourceNicId.toLowerCase()]);
    expect(fo?.status?.networkInterfaces?.[0]).toMatchObject({ privateIpAddress: fx.sourceIp });
    expect(fo?.status?.replacedVirtualMachine?.diskIds?.map((d) => d.toLowerCase())).toEqual(fx.sourceDiskIds.map((d) => d.toLowerCase()));
    for (const id of fx.sourceDiskIds) expect((await fx.sb.c.compute.disks.get(rg, id.split('/').pop() as string)).diskState).toBe('Unattached');

    // The data is the failed-over VM's (with its writes), byte for byte.
    const backDisks = await fx.diskIdsOf(rg, vmName);
    for (const [i, id] of failedOverDiskIds.entries()) expect(await fx.diskHash(backDisks[i] as string), `disk ${i}`).toBe(await fx.diskHash(id));
    await waitForObject(kc, clients.vms, { namespace: ns, name: `${vmName}-reverse` }, (o) => o?.status?.phase === 'FailedOver', 'reverse ReplicatedVM FailedOver');
  });

  it('did all of it with exactly the shipped roles: nothing refused, ARM actions or blob data actions', () => {
    expect(fx.sb.arm.rbac.denied()).toEqual([]);
    // Enforced, not bypassed: the operator and the datapath called as their own principals, re-protect's actions too.
    const used = fx.sb.arm.rbac.audit();
    expect(used[SANDBOX_PRINCIPALS.operator]).toContain('Microsoft.Compute/virtualMachines/deallocate/action');
    expect(used[SANDBOX_PRINCIPALS.datapath]).toEqual(expect.arrayContaining(['Microsoft.Compute/disks/beginGetAccess/action', 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write']));
  });
});
