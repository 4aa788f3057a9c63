// The round trip, end to end with the real operator and datapath (as the chart's service accounts): an
// Unplanned failover while the source keeps running (its region "down"), commit, re-protect (the original
// VM deallocated and used as the seed: only what differs travels back), then a Planned failback that
// returns the VM to its resource group with its name, its NIC and address, and the data written after
// the failover — not the writes the original VM made after the failover's recovery point.
// The VM's NIC is in a load balancer pool and an application security group and its data disk is encrypted
// with a disk encryption set, all mapped to target ones: re-protect turns those mappings around by itself,
// so the reverse replication and the failback need no mapping written by hand.
// All of it under Azure RBAC enforcement, the ARM emulator's and the storage front's (`sandbox up
// --azure-rbac`): the operator and the datapath hold exactly the shipped roles (deploy/azure-roles/*.json),
// and nothing they do is refused.
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FailoverRequest, RecoveryPoint, ReplicatedVM, ReplicatedVMSpec } from '../../src/api/types.ts';
import { parseArmId } from '../../src/azure/arm-id.ts';
import { AzureClients } from '../../src/azure/clients.ts';
import { powerState } from '../../src/azure/failover-resources.ts';
import { seedComparedBytes } from '../../src/datapath/metrics.ts';
import type { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { diskBlob, hashBlob, SOURCE_LOCATION, writeRandom } from '../support/datapath-sandbox.ts';
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
const TARGET = 'northeurope';
const MAPPED_RG = 'reprotect-mapped';
const poll = { updateIntervalInMs: 20 };
/** The source and target load balancer, application security group and disk encryption set. */
const mapped = { sourceLb: '', targetLb: '', sourceAsg: '', targetAsg: '', sourceDes: '', targetDes: '' };

/**
 * Puts the source VM's NIC into pool `web` of a source load balancer and into an application security
 * group, encrypts its data disk with a disk encryption set, and maps each to one in the target region.
 */
async function mapNetworkAndKeys(spec: Partial<ReplicatedVMSpec>): Promise<void> {
  const { network, compute, resources } = fx.sb.c;
  await resources.resourceGroups.createOrUpdate(MAPPED_RG, { location: TARGET });
  const des = async (group: string, name: string, location: string) =>
    (await compute.diskEncryptionSets.beginCreateOrUpdateAndWait(group, name, { location, identity: { type: 'SystemAssigned' }, encryptionType: 'EncryptionAtRestWithCustomerKey', activeKey: { keyUrl: 'https://vault.example/keys/disks/0123456789abcdef' } }, poll)).id as string;
  mapped.sourceDes = await des(rg, 'source-des', SOURCE_LOCATION);
  mapped.targetDes = await des(MAPPED_RG, 'target-des', TARGET);
  const disk = await compute.disks.get(rg, `${vmName}-disk1`);
  await compute.disks.beginCreateOrUpdateAndWait(rg, `${vmName}-disk1`, { location: disk.location, sku: disk.sku, creationData: disk.creationData, encryption: { type: 'EncryptionAtRestWithCustomerKey', diskEncryptionSetId: mapped.sourceDes } }, poll);
  const lb = (group: string, name: string, location: string) => network.loadBalancers.beginCreateOrUpdateAndWait(group, name, { location, sku: { name: 'Standard' }, backendAddressPools: [{ name: 'web' }] }, poll);
  mapped.sourceLb = (await lb(rg, 'app-lb', SOURCE_LOCATION)).id as string;
  mapped.targetLb = (await lb(MAPPED_RG, 'target-lb', TARGET)).id as string;
  mapped.sourceAsg = (await network.applicationSecurityGroups.beginCreateOrUpdateAndWait(rg, 'app-asg', { location: SOURCE_LOCATION }, poll)).id as string;
  mapped.targetAsg = (await network.applicationSecurityGroups.beginCreateOrUpdateAndWait(MAPPED_RG, 'target-asg', { location: TARGET }, poll)).id as string;
  const nic = await network.networkInterfaces.get(rg, `${vmName}-nic`);
  const config = { ...nic.ipConfigurations?.[0], loadBalancerBackendAddressPools: [{ id: `${mapped.sourceLb}/backendAddressPools/web` }], applicationSecurityGroups: [{ id: mapped.sourceAsg }] };
  await network.networkInterfaces.beginCreateOrUpdateAndWait(rg, `${vmName}-nic`, { ...nic, ipConfigurations: [config] }, poll);
  spec.loadBalancerMappings = [{ sourceLoadBalancerId: mapped.sourceLb, targetLoadBalancerId: mapped.targetLb }];
  spec.applicationSecurityGroupMappings = [{ sourceApplicationSecurityGroupId: mapped.sourceAsg, targetApplicationSecurityGroupId: mapped.targetAsg }];
  spec.diskEncryptionSetMappings = [{ sourceDiskEncryptionSetId: mapped.sourceDes, targetDiskEncryptionSetId: mapped.targetDes }];
}

/** The pools and groups of a VM's primary NIC, and the encryption set of its data disk. */
async function mappedOf(vmId: string) {
  const { resourceGroup, name } = parseArmId(vmId);
  const vm = await fx.sb.c.compute.virtualMachines.get(resourceGroup, name);
  const nicId = parseArmId(vm.networkProfile?.networkInterfaces?.[0]?.id as string);
  const config = (await fx.sb.c.network.networkInterfaces.get(nicId.resourceGroup, nicId.name)).ipConfigurations?.[0];
  const diskId = parseArmId(vm.storageProfile?.dataDisks?.[0]?.managedDisk?.id as string);
  return {
    pools: config?.loadBalancerBackendAddressPools?.map((p) => p.id?.toLowerCase()),
    groups: config?.applicationSecurityGroups?.map((g) => g.id?.toLowerCase()),
    diskEncryptionSetId: (await fx.sb.c.compute.disks.get(diskId.resourceGroup, diskId.name)).encryption?.diskEncryptionSetId?.toLowerCase(),
  };
}

beforeAll(async () => {
  // The fixture reads `spec` when protect() applies the ReplicatedVM: the mappings are added once the sandbox is up.
  const spec: Partial<ReplicatedVMSpec> = {};
  fx = await startFailoverFixture({ namespacePrefix: 'reprotect', rg, vmName, disks: 2, diskBytes: DISK_BYTES, spec, principals: true });
  fx.sb.arm.rbac.configure(sandboxRbac(fx.sb.arm.subscriptionId));
  ({ kc, ns, clients, failovers } = fx);
  az = new AzureClients(fx.sb.azure);
  await mapNetworkAndKeys(spec);
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
    expect(await mappedOf(failedOverVmId)).toEqual({ pools: [`${mapped.targetLb}/backendAddressPools/web`.toLowerCase()], groups: [mapped.targetAsg.toLowerCase()], diskEncryptionSetId: mapped.targetDes.toLowerCase() });
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
    // The mappings turned around (target to source), which the reverse replication needed to reach Protected.
    expect(reverse.spec.loadBalancerMappings).toEqual([{ sourceLoadBalancerId: mapped.targetLb, targetLoadBalancerId: mapped.sourceLb }]);
    expect(reverse.spec.applicationSecurityGroupMappings).toEqual([{ sourceApplicationSecurityGroupId: mapped.targetAsg, targetApplicationSecurityGroupId: mapped.sourceAsg }]);
    expect(reverse.spec.diskEncryptionSetMappings).toEqual([{ sourceDiskEncryptionSetId: mapped.targetDes, targetDiskEncryptionSetId: mapped.sourceDes }]);
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
    // Back in the source pool and group (the reused NIC), the data disk encrypted with the source set.
    expect(await mappedOf(fx.sourceVmId)).toEqual({ pools: [`${mapped.sourceLb}/backendAddressPools/web`.toLowerCase()], groups: [mapped.sourceAsg.toLowerCase()], diskEncryptionSetId: mapped.sourceDes.toLowerCase() });
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
