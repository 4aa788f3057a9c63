// Networks of a production-shaped VM fail over as they are (issue 18, item 4): a VM with two NICs, the
// second with a secondary IP configuration (both static) and a network security group. Enabling replication
// mirrors the group into the target resource group (its rules copied); a Test failover creates both NICs,
// both IP configurations with their addresses, and the second NIC in the mirrored group, read back through
// the SDK, and so does a Planned failover into the target network; an address taken in the target subnet is replaced by the next free one for that configuration
// only; a rule added to the source group reaches the mirror at the next drift check (one DriftDetected event). A group named for a NIC that is not usable in the target region, and a malformed group id, are
// refused before anything is created. Real operator and datapath (in this process), real API server, local
// Azure.
import type { NetworkInterface } from '@azure/arm-network';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseArmId } from '../../src/azure/arm-id.ts';
import { AzureClients } from '../../src/azure/clients.ts';
import { createSmallVm, SOURCE_LOCATION } from '../support/datapath-sandbox.ts';
import { finished, startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import { waitForEvents } from '../support/events.ts';
import { conditionIs } from '../support/operator-fixtures.ts';
import { waitForObject } from '../support/wait.ts';

const rg = 'nets-src';
const vmName = 'multi';
const TARGET = 'northeurope';
const poll = { updateIntervalInMs: 20 };
const RULE = { protocol: 'Tcp', sourcePortRange: '*', destinationPortRange: '443', sourceAddressPrefix: '10.0.0.0/8', destinationAddressPrefix: '*', access: 'Allow', priority: 300, direction: 'Inbound' } as const;

let fx: FailoverFixture;
let az: AzureClients;
let nsgId: string;
const vmRef = () => ({ namespace: fx.ns, name: vmName });
const foRef = (name: string) => ({ namespace: fx.ns, name });
const subnetOf = (group: string) => `/subscriptions/${fx.sb.arm.subscriptionId}/resourceGroups/${group}/providers/Microsoft.Network/virtualNetworks/${group}-vnet/subnets/default`;

beforeAll(async () => {
  fx = await startFailoverFixture({ namespacePrefix: 'nets', rg, vmName, disks: 1, diskBytes: 8 * 1024 * 1024 });
  az = new AzureClients(fx.sb.azure);
  const { network, compute } = fx.sb.c;
  const nsg = await network.networkSecurityGroups.beginCreateOrUpdateAndWait(rg, `${vmName}-nsg`, { location: SOURCE_LOCATION, securityRules: [{ name: 'allow-https', ...RULE }] }, poll);
  nsgId = nsg.id as string;
  const nic2 = await network.networkInterfaces.beginCreateOrUpdateAndWait(
    rg,
    `${vmName}-nic2`,
    {
      location: SOURCE_LOCATION,
      networkSecurityGroup: { id: nsgId },
      ipConfigurations: [
        { name: 'ipconfig1', primary: true, subnet: { id: subnetOf(rg) }, privateIPAllocationMethod: 'Static', privateIPAddress: '10.1.0.10' },
        { name: 'ipconfig2', subnet: { id: subnetOf(rg) }, privateIPAllocationMethod: 'Static', privateIPAddress: '10.1.0.11' },
      ],
    },
    poll,
  );
  await compute.virtualMachines.beginUpdateAndWait(rg, vmName, { networkProfile: { networkInterfaces: [{ id: fx.sourceNicId, primary: true }, { id: nic2.id as string, primary: false }] } }, poll);
  // A short drift check: a rule added to the source group reaches the mirror within seconds.
  await fx.runInProcess('dp-nets', { resyncMs: 2_000 });
  await fx.protect(1);
}, 240_000);

afterAll(async () => {
  await fx?.close();
});

/** The NICs of a failed-over VM, read back through the SDK, primary first. */
async function targetNics(vmId: string): Promise<NetworkInterface[]> {
  const { resourceGroup, name } = parseArmId(vmId);
  const vm = await az.compute.virtualMachines.get(resourceGroup, name);
  const nics: NetworkInterface[] = [];
  for (const ref of vm.networkProfile?.networkInterfaces ?? []) {
    const id = parseArmId(ref.id as string);
    nics.push(await az.network.networkInterfaces.get(id.resourceGroup, id.name));
  }
  return nics;
}

const configsOf = (nic: NetworkInterface | undefined) => (nic?.ipConfigurations ?? []).map((c) => [c.name, c.primary, c.privateIPAddress]);

describe('a VM with two NICs, one with a secondary IP configuration and a network security group', () => {
  let mirrorId: string;

  it('records every NIC and IP configuration, and mirrors the group into the target resource group with its rules', async () => {
    const vm = await fx.clients.vms.get(vmRef());
    const [first, second] = vm?.status?.sourceNetworkInterfaces ?? [];
    expect(first).toMatchObject({ name: `${vmName}-nic`, primary: true, ipConfigurations: [{ name: 'ipconfig1', primary: true, subnetName: 'default', privateIpAddress: fx.sourceIp }] });
    expect(first?.targetNetworkSecurityGroupId).toBeUndefined();
    expect(second?.ipConfigurations).toEqual([
      { name: 'ipconfig1', primary: true, subnetName: 'default', privateIpAddress: '10.1.0.10' },
      { name: 'ipconfig2', primary: false, subnetName: 'default', privateIpAddress: '10.1.0.11' },
    ]);
    expect(second?.networkSecurityGroupId?.toLowerCase()).toBe(nsgId.toLowerCase());
    mirrorId = second?.targetNetworkSecurityGroupId as string;
    expect(parseArmId(mirrorId)).toMatchObject({ resourceGroup: `${rg}-asr`, name: `${vmName}-nsg-asr` });
    expect(vm?.status?.targetResources?.find((r) => r.role === `TargetNetworkSecurityGroup/${vmName}-nsg-asr`)).toMatchObject({ created: true });
    const mirror = await az.network.networkSecurityGroups.get(`${rg}-asr`, `${vmName}-nsg-asr`);
    expect(mirror.location).toBe(TARGET);
    expect(mirror.securityRules?.map((r) => ({ name: r.name, ...Object.fromEntries(Object.keys(RULE).map((k) => [k, r[k as keyof typeof RULE]])) }))).toEqual([{ name: 'allow-https', ...RULE }]);
  });

  it('Test failover: both NICs, both IP configurations with their addresses, the second NIC in the mirrored group', async () => {
    await fx.failovers.create(fx.ns, { metadata: { name: 'drill' }, spec: { replicatedVMName: vmName, type: 'Test' } });
    const fo = await waitForObject(fx.kc, fx.failovers, foRef('drill'), finished, 'test failover done', 120_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    const [first, second] = await targetNics(fo?.status?.targetVirtualMachineId as string);
    expect(configsOf(first)).toEqual([['ipconfig1', true, fx.sourceIp]]);
    expect(first?.networkSecurityGroup).toBeUndefined();
    expect(configsOf(second)).toEqual([
      ['ipconfig1', true, '10.1.0.10'],
      ['ipconfig2', false, '10.1.0.11'],
    ]);
    expect(second?.location).toBe(TARGET);
    expect(second?.networkSecurityGroup?.id?.toLowerCase()).toBe(mirrorId.toLowerCase());
    expect(fo?.status?.networkInterfaces?.[1]).toMatchObject({ networkSecurityGroupId: expect.stringMatching(/multi-nsg-asr$/), ipConfigurations: [{ name: 'ipconfig1', privateIpAddress: '10.1.0.10' }, { name: 'ipconfig2', privateIpAddress: '10.1.0.11' }] });
  });

  it('an address taken in the target subnet: that IP configuration gets the next free one, the others keep theirs', async () => {
    await fx.failovers.delete(foRef('drill'));
    await waitForObject(fx.kc, fx.failovers, foRef('drill'), (o) => o === undefined, 'test failover cleaned up', 120_000);
    const testSubnet = (await fx.clients.mappings.get({ namespace: fx.ns, name: 'net' }))?.status?.subnetMappings?.[0]?.testSubnetId as string;
    await fx.sb.c.network.networkInterfaces.beginCreateOrUpdateAndWait(`${rg}-asr`, 'squatter', { location: TARGET, ipConfigurations: [{ name: 'ipconfig1', subnet: { id: testSubnet }, privateIPAllocationMethod: 'Static', privateIPAddress: '10.1.0.11' }] }, poll);
    await fx.failovers.create(fx.ns, { metadata: { name: 'drill-2' }, spec: { replicatedVMName: vmName, type: 'Test' } });
    const fo = await waitForObject(fx.kc, fx.failovers, foRef('drill-2'), finished, 'second test failover done', 120_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    const [, second] = await targetNics(fo?.status?.targetVirtualMachineId as string);
    const [one, two] = configsOf(second);
    expect(one).toEqual(['ipconfig1', true, '10.1.0.10']);
    expect(two?.[2]).toMatch(/^10\.1\.0\.\d+$/);
    expect(two?.[2]).not.toBe('10.1.0.11');
    expect(fo?.status?.networkInterfaces?.[1]?.ipConfigurations?.[1]).toEqual({ name: 'ipconfig2', requestedPrivateIpAddress: '10.1.0.11', privateIpAddress: two?.[2] });
  });
});

describe('the source group changing', () => {
  it('a rule added to the source group reaches the mirror at the next drift check, with one DriftDetected event (old → new)', async () => {
    const ssh = { ...RULE, destinationPortRange: '22', priority: 310 };
    await fx.sb.c.network.networkSecurityGroups.beginCreateOrUpdateAndWait(rg, `${vmName}-nsg`, { location: SOURCE_LOCATION, securityRules: [{ name: 'allow-https', ...RULE }, { name: 'allow-ssh', ...ssh }] }, poll);
    const [event] = await waitForEvents(fx.kc, fx.ns, vmName, 'DriftDetected', 1);
    expect(event?.message).toBe(`network security group ${vmName}-nsg rules changed from [allow-https Inbound Allow Tcp 443 300] to [allow-https Inbound Allow Tcp 443 300; allow-ssh Inbound Allow Tcp 22 310]: its mirror ${vmName}-nsg-asr is updated`);
    const mirror = await az.network.networkSecurityGroups.get(`${rg}-asr`, `${vmName}-nsg-asr`);
    expect(mirror.securityRules?.map((r) => [r.name, r.destinationPortRange, r.priority]).sort()).toEqual([
      ['allow-https', '443', 300],
      ['allow-ssh', '22', 310],
    ]);
    expect((await fx.clients.vms.get(vmRef()))?.status?.phase).toBe('Protected');
  });
});

describe('network security groups refused before anything is created', () => {
  it('a group named for a NIC that is not in the target region: Stalled NetworkSecurityGroupNotUsable, nothing created', async () => {
    const badRg = 'nets-bad';
    const bad = await createSmallVm(fx.sb, badRg, 'bad', 1, 8 * 1024 * 1024);
    const wrong = await fx.sb.c.network.networkSecurityGroups.beginCreateOrUpdateAndWait(badRg, 'source-region-nsg', { location: SOURCE_LOCATION }, poll);
    await fx.clients.mappings.create(fx.ns, { metadata: { name: 'bad-net' }, spec: { sourceVirtualNetworkId: subnetOf(badRg).replace(/\/subnets\/default$/, ''), targetLocation: TARGET, targetResourceGroup: `${badRg}-asr` } });
    const spec = { sourceVirtualMachineId: bad.id as string, targetLocation: TARGET, policyRef: { name: 'fast' }, networkMappingRef: { name: 'bad-net' } };
    await expect(fx.clients.vms.create(fx.ns, { metadata: { name: 'bad-id' }, spec: { ...spec, networkInterfaces: [{ sourceName: 'bad-nic', targetNetworkSecurityGroupId: 'web-nsg' }] } })).rejects.toThrow(/targetNetworkSecurityGroupId/);
    await fx.clients.vms.create(fx.ns, { metadata: { name: 'bad' }, spec: { ...spec, networkInterfaces: [{ sourceName: 'bad-nic', targetNetworkSecurityGroupId: wrong.id as string }] } });
    const refused = await waitForObject(fx.kc, fx.clients.vms, { namespace: fx.ns, name: 'bad' }, conditionIs('Stalled', 'True'), 'refused', 60_000);
    const stalled = refused?.status?.conditions?.find((c) => c.type === 'Stalled');
    expect(stalled?.reason).toBe('NetworkSecurityGroupNotUsable');
    expect(stalled?.message).toBe(`network security group ${wrong.id} named for network interface bad-nic is in ${SOURCE_LOCATION}, not in the target region ${TARGET}`);
    expect(refused?.status?.targetResources ?? []).toEqual([]);
    // The mapping made the target network (its resource group); the VM's own resources were not created.
    const accounts: string[] = [];
    for await (const a of az.storage.storageAccounts.listByResourceGroup(`${badRg}-asr`)) accounts.push(a.name as string);
    expect(accounts).toEqual([]);
  });
});

describe('disabling replication (deletionPolicy Delete)', () => {
  it('removes the mirror of a group no failed-over NIC uses', async () => {
    const delRg = 'nets-del';
    const vm = await createSmallVm(fx.sb, delRg, 'gone', 1, 8 * 1024 * 1024);
    const group = await fx.sb.c.network.networkSecurityGroups.beginCreateOrUpdateAndWait(delRg, 'gone-nsg', { location: SOURCE_LOCATION, securityRules: [{ name: 'allow-https', ...RULE }] }, poll);
    const nic = await fx.sb.c.network.networkInterfaces.get(delRg, 'gone-nic');
    await fx.sb.c.network.networkInterfaces.beginCreateOrUpdateAndWait(delRg, 'gone-nic', { ...nic, networkSecurityGroup: { id: group.id as string } }, poll);
    await fx.clients.mappings.create(fx.ns, { metadata: { name: 'del-net' }, spec: { sourceVirtualNetworkId: subnetOf(delRg).replace(/\/subnets\/default$/, ''), targetLocation: TARGET, targetResourceGroup: `${delRg}-asr` } });
    await fx.clients.vms.create(fx.ns, { metadata: { name: 'gone' }, spec: { sourceVirtualMachineId: vm.id as string, targetLocation: TARGET, policyRef: { name: 'fast' }, networkMappingRef: { name: 'del-net' }, deletionPolicy: 'Delete' } });
    const ref = { namespace: fx.ns, name: 'gone' };
    await waitForObject(fx.kc, fx.clients.vms, ref, (o) => o?.status?.phase === 'Protected', 'protected', 180_000);
    expect((await az.network.networkSecurityGroups.get(`${delRg}-asr`, 'gone-nsg-asr')).location).toBe(TARGET);
    await fx.clients.vms.delete(ref);
    await waitForObject(fx.kc, fx.clients.vms, ref, (o) => o === undefined, 'replication disabled', 120_000);
    await expect(az.network.networkSecurityGroups.get(`${delRg}-asr`, 'gone-nsg-asr')).rejects.toMatchObject({ statusCode: 404 });
  });
});

describe('Planned failover', () => {
  it('creates both NICs in the target network, both IP configurations with their addresses, the second NIC in the mirrored group', async () => {
    await fx.failovers.create(fx.ns, { metadata: { name: 'move' }, spec: { replicatedVMName: vmName, type: 'Planned' } });
    const fo = await waitForObject(fx.kc, fx.failovers, foRef('move'), finished, 'planned failover done', 180_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    const targetNetwork = (await fx.clients.mappings.get({ namespace: fx.ns, name: 'net' }))?.status?.targetVirtualNetworkId as string;
    const [first, second] = await targetNics(fo?.status?.targetVirtualMachineId as string);
    expect(configsOf(first)).toEqual([['ipconfig1', true, fx.sourceIp]]);
    expect(configsOf(second)).toEqual([
      ['ipconfig1', true, '10.1.0.10'],
      ['ipconfig2', false, '10.1.0.11'],
    ]);
    for (const c of [...(first?.ipConfigurations ?? []), ...(second?.ipConfigurations ?? [])]) expect(c.subnet?.id?.toLowerCase()).toBe(`${targetNetwork}/subnets/default`.toLowerCase());
    expect(parseArmId(second?.networkSecurityGroup?.id as string)).toMatchObject({ resourceGroup: `${rg}-asr`, name: `${vmName}-nsg-asr` });
  });
});
