// A VM fails over into another subscription than its own (issue 18, item 2; ASR's recoveryResourceGroupId
// names a group of any subscription): spec.targetSubscriptionId. A NetworkMapping whose target network is in
// the source's subscription is refused (NetworkMappingSubscriptionMismatch) before anything is created; pointed
// at networks of the target subscription, the mapping waits (AuthorizationFailed, naming the action and the
// scope there) until the operator's identity gets its role in the target subscription (the datapath's never
// does: it needs nothing there); then the VM is protected with its target resource group there (the
// replica storage stays in the source's subscription), and a Test then a Planned failover create the VM, its
// disks (imported across subscriptions, byte-exact) and its NIC in the target subscription, read back there,
// with nothing of the sort in the source subscription's group of that name. A test network of another
// subscription is refused. Re-protect replicates the failed-over VM back into the source subscription (its
// restore points in its own subscription, which the datapath then needs its role in), and a Planned failback
// returns it to its original group and subscription, byte-exact. Disabling replication removes what it made
// in both subscriptions; re-protected again, the VM replicates into the target subscription, seeded from the
// VM failed over there. Real operator and datapath (in this
// process), real API server, local Azure serving two subscriptions.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCE_ROLE } from '../../src/api/contract.ts';
import type { FailoverRequest, ReplicatedVM } from '../../src/api/types.ts';
import { parseArmId, resourceGroupId } from '../../src/azure/arm-id.ts';
import { AzureClients } from '../../src/azure/clients.ts';
import { OWNER, sandboxRbac, shippedRole } from '../../sandbox/src/azure-roles.ts';
import { SANDBOX_PRINCIPALS } from '../../sandbox/src/storage/token.ts';
import { diskBlob, writeRandom } from '../support/datapath-sandbox.ts';
import { finished, startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import { conditionIs } from '../support/operator-fixtures.ts';
import { waitForObject } from '../support/wait.ts';

const OTHER = '00000000-0000-4000-8000-0000000000c7';
const DISK_BYTES = 4 * 1024 * 1024;
const TARGET = 'northeurope';
const rg = 'tsub-src';
const vmName = 'app';
const NET_RG = 'tsub-net';
const poll = { updateIntervalInMs: 20 };

let fx: FailoverFixture;
let mine: AzureClients;
let other: AzureClients;
let targetNetworkId: string;
let testNetworkId: string;
let failedOverVmId: string;
let failedOverDiskIds: string[];

/** A network of subnet `default` in `group` of the target subscription (as the source network's). */
async function targetNetwork(name: string): Promise<string> {
  const vnet = { location: TARGET, addressSpace: { addressPrefixes: ['10.1.0.0/16'] }, subnets: [{ name: 'default', addressPrefix: '10.1.0.0/24' }] };
  return (await other.network.virtualNetworks.beginCreateOrUpdateAndWait(NET_RG, name, vnet, poll)).id as string;
}

/** The ids of a VM's disks, the OS disk first, read in its subscription. */
async function diskIdsIn(az: AzureClients, vmId: string): Promise<string[]> {
  const { resourceGroup, name } = parseArmId(vmId);
  const vm = await az.compute.virtualMachines.get(resourceGroup, name);
  return [vm.storageProfile?.osDisk?.managedDisk?.id as string, ...(vm.storageProfile?.dataDisks ?? []).map((d) => d.managedDisk?.id as string)];
}

/** The names of the VMs, disks and NICs in `group` of `az`'s subscription. */
async function computeIn(az: AzureClients, group: string): Promise<string[]> {
  const names: string[] = [];
  for await (const v of az.compute.virtualMachines.list(group)) names.push(`vm ${v.name}`);
  for await (const d of az.compute.disks.listByResourceGroup(group)) names.push(`disk ${d.name}`);
  for await (const n of az.network.networkInterfaces.list(group)) names.push(`nic ${n.name}`);
  return names;
}

beforeAll(async () => {
  fx = await startFailoverFixture({ namespacePrefix: 'tsub', rg, vmName, disks: 1, diskBytes: DISK_BYTES, moreSubscriptionIds: [OTHER], principals: true });
  // Roles enforced: the operator and the datapath have theirs in the source subscription only (the sandbox's
  // own principal, the test's clients, owns both).
  const roles = sandboxRbac(fx.sb.arm.subscriptionId);
  fx.sb.arm.rbac.configure({ ...roles, assignments: [...roles.assignments, { principalId: SANDBOX_PRINCIPALS.sandbox, role: OWNER, scope: `/subscriptions/${OTHER}` }] });
  mine = new AzureClients(fx.sb.azure);
  other = mine.forSubscription(OTHER);
  await other.resources.resourceGroups.createOrUpdate(NET_RG, { location: TARGET });
  targetNetworkId = await targetNetwork('tsub-vnet-asr');
  testNetworkId = await targetNetwork('tsub-vnet-test');
  await fx.runInProcess('dp-tsub');
});

afterAll(async () => {
  await fx?.close();
});

const foRef = (name: string) => ({ namespace: fx.ns, name });
const sourceNetworkId = () => `/subscriptions/${fx.sb.arm.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${rg}-vnet`;

/** The failover `name` of `type`, finished. */
async function failOver(name: string, type: FailoverRequest['spec']['type'], more: Partial<FailoverRequest['spec']> = {}): Promise<FailoverRequest | undefined> {
  await fx.failovers.create(fx.ns, { metadata: { name }, spec: { replicatedVMName: vmName, type, ...more } });
  return waitForObject(fx.kc, fx.failovers, foRef(name), finished, `${type} failover ${name} done`, 120_000);
}

/** The failed-over VM, its disks and its NIC are in the target subscription, the disks byte-exact. */
async function expectInTarget(vmId: string): Promise<void> {
  expect(parseArmId(vmId).subscriptionId).toBe(OTHER);
  const { resourceGroup, name } = parseArmId(vmId);
  const vm = await other.compute.virtualMachines.get(resourceGroup, name);
  const diskIds = [vm.storageProfile?.osDisk?.managedDisk?.id as string, ...(vm.storageProfile?.dataDisks ?? []).map((d) => d.managedDisk?.id as string)];
  expect(diskIds).toHaveLength(fx.sourceDiskIds.length);
  for (const [i, id] of diskIds.entries()) {
    expect(parseArmId(id).subscriptionId).toBe(OTHER);
    expect((await other.compute.disks.get(parseArmId(id).resourceGroup, parseArmId(id).name)).managedBy).toBe(vm.id);
    expect(await fx.diskHash(id)).toBe(await fx.diskHash(fx.sourceDiskIds[i] as string));
  }
  const nicId = vm.networkProfile?.networkInterfaces?.[0]?.id as string;
  expect(parseArmId(nicId).subscriptionId).toBe(OTHER);
  const nic = await other.network.networkInterfaces.get(parseArmId(nicId).resourceGroup, parseArmId(nicId).name);
  expect(nic.ipConfigurations?.[0]?.subnet?.id?.toLowerCase()).toMatch(new RegExp(`^/subscriptions/${OTHER}/resourcegroups/${NET_RG}/`, 'i'));
}

describe('failover into another subscription (spec.targetSubscriptionId)', () => {
  it('refuses a network mapping whose target network is in the source subscription, before anything is created', async () => {
    await fx.clients.policies.create(fx.ns, { metadata: { name: 'fast' }, spec: { recoveryPointInterval: '1m', retention: '1h' } });
    await fx.clients.mappings.create(fx.ns, { metadata: { name: 'mirror' }, spec: { sourceVirtualNetworkId: sourceNetworkId(), targetLocation: TARGET, targetResourceGroup: `${rg}-mirror` } });
    await fx.clients.vms.create(fx.ns, {
      metadata: { name: vmName },
      spec: { sourceVirtualMachineId: fx.sourceVmId, targetLocation: TARGET, targetSubscriptionId: OTHER, policyRef: { name: 'fast' }, networkMappingRef: { name: 'mirror' } },
    });
    const refused = await waitForObject(fx.kc, fx.clients.vms, foRef(vmName), conditionIs('Stalled', 'True'), 'refused', 60_000);
    const stalled = refused?.status?.conditions?.find((c) => c.type === 'Stalled');
    const mirror = (await fx.clients.mappings.get(foRef('mirror')))?.status?.targetVirtualNetworkId;
    expect(stalled?.reason).toBe('NetworkMappingSubscriptionMismatch');
    expect(stalled?.message).toBe(
      `NetworkMapping mirror's target network ${mirror} is not in subscription ${OTHER}, which the VM fails over into (a NIC and its network share a subscription); name a target network there in the mapping (spec.targetVirtualNetworkId)`,
    );
    expect(refused?.status?.targetResources ?? []).toEqual([]);
    await expect(fx.clients.vms.mergePatch(foRef(vmName), { spec: { targetSubscriptionId: fx.sb.arm.subscriptionId } })).rejects.toThrow(/targetSubscriptionId is immutable/);
  });

  it('pointed at networks of the target subscription, waits for the operator\'s role there, then protects the VM with its target resource group there', async () => {
    const spec = { sourceVirtualNetworkId: sourceNetworkId(), targetLocation: TARGET, targetResourceGroup: `${rg}-asr`, targetVirtualNetworkId: targetNetworkId, testVirtualNetworkId: testNetworkId };
    await fx.clients.mappings.create(fx.ns, { metadata: { name: 'net' }, spec });
    await fx.clients.vms.mergePatch(foRef(vmName), { spec: { networkMappingRef: { name: 'net' } } });
    const denied = await waitForObject(fx.kc, fx.clients.mappings, foRef('net'), (o) => o?.status?.conditions?.some((c) => c.reason === 'AuthorizationFailed') ?? false, 'the mapping denied in the target subscription', 60_000);
    expect(denied?.status?.conditions?.find((c) => c.reason === 'AuthorizationFailed')?.message).toContain(`perform action 'Microsoft.Network/virtualNetworks/read' over scope '${targetNetworkId}'`);
    await expect(other.resources.resourceGroups.get(`${rg}-asr`)).rejects.toMatchObject({ statusCode: 404 });
    const granted = fx.sb.arm.rbac.assignments.concat({ principalId: SANDBOX_PRINCIPALS.operator, role: shippedRole('operator'), scope: `/subscriptions/${OTHER}` });
    fx.sb.arm.rbac.configure({ assignments: granted });
    const vm = await waitForObject(fx.kc, fx.clients.vms, foRef(vmName), (o) => o?.status?.phase === 'Protected' && (o.status.replication?.cycle ?? 0) >= 1, 'protected', 180_000);
    expect(vm?.status?.targetResourceGroupId).toBe(resourceGroupId(OTHER, `${rg}-asr`));
    const roles = new Map((vm?.status?.targetResources ?? []).map((r) => [r.role, r.id]));
    expect(roles.get(RESOURCE_ROLE.replicaGroup)).toBe(resourceGroupId(fx.sb.arm.subscriptionId, `${rg}-asr`));
    expect(parseArmId(roles.get(RESOURCE_ROLE.target) as string).subscriptionId).toBe(fx.sb.arm.subscriptionId);
    expect((await other.resources.resourceGroups.get(`${rg}-asr`)).location).toBe(TARGET);
  });

  it('Test failover: the VM, its disks and its NIC are created and read back in the target subscription', async () => {
    const fo = await failOver('drill', 'Test');
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    await expectInTarget(fo?.status?.targetVirtualMachineId as string);
    const nic = (await other.compute.virtualMachines.get(`${rg}-asr`, parseArmId(fo?.status?.targetVirtualMachineId as string).name)).networkProfile?.networkInterfaces?.[0]?.id as string;
    const tested = await other.network.networkInterfaces.get(`${rg}-asr`, parseArmId(nic).name);
    expect(tested.ipConfigurations?.[0]?.subnet?.id).toBe(`${testNetworkId}/subnets/default`);
    expect(await computeIn(mine, `${rg}-asr`)).toEqual([]);
    // Its cleanup removes them from the target subscription.
    await fx.failovers.mergePatch(foRef('drill'), { spec: { cleanup: true } });
    await waitForObject(fx.kc, fx.failovers, foRef('drill'), (o) => o?.status?.phase === 'CleanedUp', 'test failover cleaned up', 60_000);
    expect(await computeIn(other, `${rg}-asr`)).toEqual([]);
  });

  it('refuses a test network of another subscription before anything is created', async () => {
    const elsewhere = sourceNetworkId();
    const wrongNet = await failOver('drill-elsewhere', 'Test', { testVirtualNetworkId: elsewhere });
    expect(wrongNet?.status?.phase).toBe('Failed');
    expect(wrongNet?.status?.conditions?.find((c) => c.type === 'Succeeded')).toMatchObject({
      reason: 'TestNetworkSubscriptionMismatch',
      message: `spec.testVirtualNetworkId ${elsewhere} is not in subscription ${OTHER}, which ${vmName} fails over into (a NIC and its network share a subscription)`,
    });
    expect(wrongNet?.status?.targetResources ?? []).toEqual([]);
    await fx.failovers.delete(foRef('drill-elsewhere'));
  });

  it('Planned failover: the VM runs in the target subscription, none in the source subscription; re-protect replicates it back', async () => {
    const done = await failOver('move', 'Planned', { commit: true });
    expect(done?.status?.phase, JSON.stringify(done?.status)).not.toBe('Failed');
    const fo = await waitForObject(fx.kc, fx.failovers, foRef('move'), (o) => o?.status?.phase === 'Committed', 'planned failover committed', 60_000);
    await expectInTarget(fo?.status?.targetVirtualMachineId as string);
    const { resourceGroup, name } = parseArmId(fo?.status?.targetVirtualMachineId as string);
    const view = await other.compute.virtualMachines.instanceView(resourceGroup, name);
    expect(view.statuses?.map((s) => s.code)).toContain('PowerState/running');
    expect(await computeIn(mine, `${rg}-asr`)).toEqual([]);
    failedOverVmId = fo?.status?.targetVirtualMachineId as string;
    failedOverDiskIds = await diskIdsIn(other, failedOverVmId);
    // The failed-over VM writes; those writes must come back.
    for (const [i, id] of failedOverDiskIds.entries()) await writeRandom(diskBlob(fx.sb, id), 256 * 1024, 1024 * 1024 + i * 64 * 1024);

    // A source outside the operator's subscription replicates only back into it: a ReplicatedVM of the
    // failed-over VM naming no target subscription, and a mapping of its network into a network it creates, stall.
    await fx.clients.vms.create(fx.ns, { metadata: { name: 'stray' }, spec: { sourceVirtualMachineId: failedOverVmId, targetLocation: 'westeurope', policyRef: { name: 'fast' }, networkMappingRef: { name: 'net' } } });
    await fx.clients.mappings.create(fx.ns, { metadata: { name: 'stray' }, spec: { sourceVirtualNetworkId: targetNetworkId, targetLocation: 'westeurope', targetResourceGroup: 'tsub-stray' } });
    const [strayVm, strayMapping] = await Promise.all([
      waitForObject(fx.kc, fx.clients.vms, foRef('stray'), conditionIs('Stalled', 'True'), 'a VM of another subscription refused', 60_000),
      waitForObject(fx.kc, fx.clients.mappings, foRef('stray'), conditionIs('Stalled', 'True'), 'a network of another subscription refused', 60_000),
    ]);
    const mineId = fx.sb.arm.subscriptionId;
    expect(strayVm?.status?.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({
      reason: 'SubscriptionNotManaged',
      message: `sourceVirtualMachineId names subscription ${OTHER}; this operator manages subscription ${mineId}: a source in another subscription is replicated only back into it (spec.targetSubscriptionId in subscription ${mineId}), as re-protect does`,
    });
    expect(strayMapping?.status?.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({
      reason: 'SubscriptionNotManaged',
      message: `spec.sourceVirtualNetworkId names subscription ${OTHER}; this operator manages subscription ${mineId}: a source in another subscription is replicated only back into it (spec.targetVirtualNetworkId in subscription ${mineId}), as re-protect does`,
    });
    expect([strayVm?.status?.targetResources ?? [], strayMapping?.status?.targetResources ?? []]).toEqual([[], []]);
    await Promise.all([fx.clients.vms.delete(foRef('stray')), fx.clients.mappings.delete(foRef('stray'))]);
    await Promise.all([
      waitForObject(fx.kc, fx.clients.vms, foRef('stray'), (o) => o === undefined, 'stray VM gone', 60_000),
      waitForObject(fx.kc, fx.clients.mappings, foRef('stray'), (o) => o === undefined, 'stray mapping gone', 60_000),
    ]);

    // The reverse replication captures the failed-over VM's restore points in the target subscription: the
    // datapath's identity needs its role there now (the operator's has it already).
    fx.sb.arm.rbac.configure({ assignments: fx.sb.arm.rbac.assignments.concat({ principalId: SANDBOX_PRINCIPALS.datapath, role: shippedRole('datapath'), scope: `/subscriptions/${OTHER}` }) });
    await fx.failovers.mergePatch(foRef('move'), { spec: { reprotect: true } });
    const reprotected = await waitForObject(fx.kc, fx.failovers, foRef('move'), (o) => o?.status?.conditions?.some((c) => c.type === 'Reprotected' && c.status === 'True') ?? false, 're-protected', 120_000);
    expect(reprotected?.status?.steps?.slice(-4).map((s) => `${s.name}:${s.state}`)).toEqual([
      'DeallocateSourceVirtualMachine:Succeeded', 'CreateReverseNetworkMapping:Succeeded', 'CreateReverseReplicatedVM:Succeeded', 'WaitForReverseInitialSync:Succeeded',
    ]);
    expect((await mine.compute.virtualMachines.instanceView(rg, vmName)).statuses?.map((s) => s.code)).toContain('PowerState/deallocated');
    const mapping = await fx.clients.mappings.get(foRef(reprotected?.status?.reverseNetworkMappingName as string));
    expect(mapping?.spec).toMatchObject({ sourceVirtualNetworkId: targetNetworkId, targetVirtualNetworkId: sourceNetworkId() });
    const reverse = (await fx.clients.vms.get(foRef(reprotected?.status?.reverseReplicatedVMName as string))) as ReplicatedVM;
    expect(reverse.spec).toMatchObject({ sourceVirtualMachineId: failedOverVmId, targetSubscriptionId: fx.sb.arm.subscriptionId, targetResourceGroup: rg, seedVirtualMachineId: fx.sourceVmId });
    expect(reverse.status?.phase).toBe('Protected');
    // Its restore points beside the failed-over VM, in the target subscription; its replica storage in the source's.
    const roles = new Map((reverse.status?.targetResources ?? []).map((r) => [r.role, r.id]));
    expect(parseArmId(roles.get(RESOURCE_ROLE.restorePoints) as string)).toMatchObject({ subscriptionId: OTHER, resourceGroup: `${rg}-asr` });
    expect(parseArmId(roles.get(RESOURCE_ROLE.target) as string)).toMatchObject({ subscriptionId: fx.sb.arm.subscriptionId, resourceGroup: rg });
  });

  it('Planned failback: the VM returns to its original group and subscription with the failed-over VM\'s data, byte-exact', async () => {
    await fx.failovers.create(fx.ns, { metadata: { name: 'failback' }, spec: { replicatedVMName: `${vmName}-reverse`, type: 'Planned' } });
    const fo = await waitForObject(fx.kc, fx.failovers, foRef('failback'), finished, 'failback done', 120_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    expect(fo?.status?.targetVirtualMachineId?.toLowerCase()).toBe(fx.sourceVmId.toLowerCase());
    expect((await mine.compute.virtualMachines.instanceView(rg, vmName)).statuses?.map((s) => s.code)).toContain('PowerState/running');
    expect((await other.compute.virtualMachines.instanceView(`${rg}-asr`, vmName)).statuses?.map((s) => s.code)).toContain('PowerState/stopped');
    const backDisks = await diskIdsIn(mine, fx.sourceVmId);
    for (const [i, id] of backDisks.entries()) {
      expect(parseArmId(id)).toMatchObject({ subscriptionId: fx.sb.arm.subscriptionId, resourceGroup: rg });
      expect(await fx.diskHash(id), `disk ${i}`).toBe(await fx.diskHash(failedOverDiskIds[i] as string));
    }
  });

  it('disabling replication (deletionPolicy Delete) removes what it made in both subscriptions, never the failed-over VM', async () => {
    // Still under the shipped roles: the operator's includes deleting the groups and networks it created.
    await fx.clients.vms.mergePatch(foRef(vmName), { spec: { deletionPolicy: 'Delete' } });
    await fx.clients.vms.delete(foRef(vmName));
    await waitForObject(fx.kc, fx.clients.vms, foRef(vmName), (o) => o === undefined, 'replication disabled', 60_000);
    // The replica storage's group (storage accounts, restore points) is gone from the source subscription; the
    // target group stays in the target subscription with the failed-over VM in it.
    await expect(mine.resources.resourceGroups.get(`${rg}-asr`)).rejects.toMatchObject({ statusCode: 404 });
    expect(await computeIn(other, `${rg}-asr`)).toContain(`vm ${vmName}`);
  });

  it('re-protected again after failback: the VM replicates into the target subscription, seeded from the VM failed over there', async () => {
    // The forward replication is gone (above); the mapping refused at first goes too, so that re-protect uses
    // the forward mapping. The forward request `move` stays, committed: it failed over the earlier object
    // of this name, so it does not hold the new ReplicatedVM re-protect names as the forward one was.
    await fx.clients.mappings.delete(foRef('mirror'));
    await waitForObject(fx.kc, fx.clients.mappings, foRef('mirror'), (o) => o === undefined, 'refused mapping gone', 60_000);
    expect((await fx.failovers.get(foRef('move')))?.status?.phase).toBe('Committed');
    await fx.failovers.mergePatch(foRef('failback'), { spec: { commit: true, reprotect: true } });
    const fo = await waitForObject(fx.kc, fx.failovers, foRef('failback'), (o) => o?.status?.conditions?.some((c) => c.type === 'Reprotected' && c.status === 'True') ?? false, 're-protected again', 60_000);
    const again = (await fx.clients.vms.get(foRef(fo?.status?.reverseReplicatedVMName as string))) as ReplicatedVM;
    expect(again.spec.sourceVirtualMachineId.toLowerCase()).toBe(fx.sourceVmId.toLowerCase());
    expect(again.spec).toMatchObject({ targetSubscriptionId: OTHER, targetResourceGroup: `${rg}-asr`, seedVirtualMachineId: failedOverVmId, networkMappingRef: { name: 'net' } });
    expect(again.status?.phase).toBe('Protected');
    expect(again.status?.initialSync?.bytesMatched, JSON.stringify(again.status?.initialSync)).toBeGreaterThan(0);
    expect((await other.compute.virtualMachines.instanceView(`${rg}-asr`, vmName)).statuses?.map((s) => s.code)).toContain('PowerState/deallocated');
  });
});
