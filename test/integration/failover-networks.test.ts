// Networks of a production-shaped VM fail over as they are (issue 18, item 4): a VM with two NICs, the
// second with a secondary IP configuration (both static) and a network security group, public IP addresses on
// the first NIC's configuration and the second NIC's secondary one. A Test failover gives the first a new
// Standard static address in the target resource group and the second none (spec: publicIpAddresses None),
// and its cleanup removes the address; a Planned failover after the spec names an existing address for the
// second NIC's primary configuration uses it there and creates one for its secondary configuration. The second
// NIC's primary configuration is in a source load balancer's backend pool: a Planned failover puts it into the
// pool of the same name of the target load balancer spec.loadBalancerMappings names (a Test, into none); a pool
// whose load balancer is not mapped, or whose target has no such pool, is refused before anything is created.
// Likewise the first NIC's configuration is in an application security group: a Planned failover puts it into
// the mapped target group (a Test, into none); an unmapped group is refused. Enabling replication
// mirrors the group into the target resource group (its rules copied); a Test failover creates both NICs,
// both IP configurations with their addresses, and the second NIC in the mirrored group, read back through
// the SDK, and so does a Planned failover into the target network; an address taken in the target subnet is replaced by the next free one for that configuration
// only; a rule added to the source group reaches the mirror at the next drift check (one DriftDetected event). A group named for a NIC that is not usable in the target region, and a malformed group id, are
// refused before anything is created. The source subnet has a network security group and a route table: the
// network mapping mirrors both into the target resource group and associates them with the target and test
// subnets, where the failed-over NICs land; a rule naming an application security group is mirrored naming the
// mapped target group (refused while unmapped), a group or route table named for a subnet is used instead, and
// deleting the mapping removes the mirrors. The VM fails over into zone 1: its new public IPs are zonal there.
// Real operator and datapath (in this process), real API server, local Azure.
import type { NetworkInterface } from '@azure/arm-network';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NetworkMapping, ReplicatedVMSpec } from '../../src/api/types.ts';
import { parseArmId } from '../../src/azure/arm-id.ts';
import { AzureClients } from '../../src/azure/clients.ts';
import { createSmallVm, SOURCE_LOCATION } from '../support/datapath-sandbox.ts';
import { finished, startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import { enforceShippedRoles, nothingRefused } from '../support/shipped-roles.ts';
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
let targetLbId: string;
let targetAsgId: string;
const LB_RG = 'nets-lb';
const PIP = { location: SOURCE_LOCATION, sku: { name: 'Standard' }, publicIPAllocationMethod: 'Static' } as const;
const vmRef = () => ({ namespace: fx.ns, name: vmName });
const foRef = (name: string) => ({ namespace: fx.ns, name });
const subnetOf = (group: string) => `/subscriptions/${fx.sb.arm.subscriptionId}/resourceGroups/${group}/providers/Microsoft.Network/virtualNetworks/${group}-vnet/subnets/default`;

beforeAll(async () => {
  // The fixture reads `spec` when protect() applies the ReplicatedVM: the load balancer mapping is added once the sandbox (its subscription) is up.
  const spec: Partial<ReplicatedVMSpec> = { networkInterfaces: [{ sourceName: `${vmName}-nic2`, publicIpAddresses: 'None' }], targetZone: '1' };
  fx = await startFailoverFixture({ principals: true, namespacePrefix: 'nets', rg, vmName, disks: 1, diskBytes: 8 * 1024 * 1024, spec });
  enforceShippedRoles(fx.sb);
  az = new AzureClients(fx.sb.azure);
  const { network, compute, resources } = fx.sb.c;
  const sourceLb = await network.loadBalancers.beginCreateOrUpdateAndWait(rg, `${vmName}-lb`, { location: SOURCE_LOCATION, sku: { name: 'Standard' }, frontendIPConfigurations: [{ name: 'front', subnet: { id: subnetOf(rg) } }], backendAddressPools: [{ name: 'web' }] }, poll);
  await resources.resourceGroups.createOrUpdate(LB_RG, { location: TARGET });
  targetLbId = (await network.loadBalancers.beginCreateOrUpdateAndWait(LB_RG, 'target-lb', { location: TARGET, sku: { name: 'Standard' }, backendAddressPools: [{ name: 'web' }] }, poll)).id as string;
  spec.loadBalancerMappings = [{ sourceLoadBalancerId: sourceLb.id as string, targetLoadBalancerId: targetLbId }];
  const sourceAsg = await network.applicationSecurityGroups.beginCreateOrUpdateAndWait(rg, `${vmName}-asg`, { location: SOURCE_LOCATION }, poll);
  targetAsgId = (await network.applicationSecurityGroups.beginCreateOrUpdateAndWait(LB_RG, 'target-asg', { location: TARGET }, poll)).id as string;
  spec.applicationSecurityGroupMappings = [{ sourceApplicationSecurityGroupId: sourceAsg.id as string, targetApplicationSecurityGroupId: targetAsgId }];
  const pip = await network.publicIPAddresses.beginCreateOrUpdateAndWait(rg, `${vmName}-pip`, PIP, poll);
  const pip2 = await network.publicIPAddresses.beginCreateOrUpdateAndWait(rg, `${vmName}-pip2`, PIP, poll);
  const nic1 = await network.networkInterfaces.get(rg, `${vmName}-nic`);
  await network.networkInterfaces.beginCreateOrUpdateAndWait(rg, `${vmName}-nic`, { ...nic1, ipConfigurations: [{ ...nic1.ipConfigurations?.[0], publicIPAddress: { id: pip.id as string }, applicationSecurityGroups: [{ id: sourceAsg.id as string }] }] }, poll);
  const nsg = await network.networkSecurityGroups.beginCreateOrUpdateAndWait(rg, `${vmName}-nsg`, { location: SOURCE_LOCATION, securityRules: [{ name: 'allow-https', ...RULE }] }, poll);
  nsgId = nsg.id as string;
  const nic2 = await network.networkInterfaces.beginCreateOrUpdateAndWait(
    rg,
    `${vmName}-nic2`,
    {
      location: SOURCE_LOCATION,
      networkSecurityGroup: { id: nsgId },
      ipConfigurations: [
        { name: 'ipconfig1', primary: true, subnet: { id: subnetOf(rg) }, privateIPAllocationMethod: 'Static', privateIPAddress: '10.1.0.10', loadBalancerBackendAddressPools: [{ id: `${sourceLb.id}/backendAddressPools/web` }] },
        { name: 'ipconfig2', subnet: { id: subnetOf(rg) }, privateIPAllocationMethod: 'Static', privateIPAddress: '10.1.0.11', publicIPAddress: { id: pip2.id as string } },
      ],
    },
    poll,
  );
  await compute.virtualMachines.beginUpdateAndWait(rg, vmName, { networkProfile: { networkInterfaces: [{ id: fx.sourceNicId, primary: true }, { id: nic2.id as string, primary: false }] } }, poll);
  // The source subnet's own network security group and route table, which the network mapping mirrors.
  await withSubnetSecurity(rg, `${rg}-vnet`, 'default', `${rg}-subnet-nsg`, `${rg}-rt`);
  // A short drift check: a rule added to the source group reaches the mirror within seconds.
  await fx.runInProcess('dp-nets', { resyncMs: 2_000 });
  await fx.protect(1);
}, 240_000);

afterAll(async () => {
  await fx?.close();
});

const ROUTE = { addressPrefix: '0.0.0.0/0', nextHopType: 'VirtualAppliance', nextHopIpAddress: '10.1.0.250' } as const;
const SUBNET_RULE = { ...RULE, destinationPortRange: '8443', priority: 400 } as const;

/** Gives subnet `subnet` of `group`/`vnet` a network security group (one rule, plus `rule` when given) and a route table (one route). */
async function withSubnetSecurity(group: string, vnet: string, subnet: string, nsgName: string, tableName: string, rule?: Record<string, unknown>) {
  const { network } = fx.sb.c;
  const nsg = await network.networkSecurityGroups.beginCreateOrUpdateAndWait(group, nsgName, { location: SOURCE_LOCATION, securityRules: [{ name: 'allow-8443', ...SUBNET_RULE }, ...(rule ? [rule] : [])] }, poll);
  const table = await network.routeTables.beginCreateOrUpdateAndWait(group, tableName, { location: SOURCE_LOCATION, routes: [{ name: 'to-firewall', ...ROUTE }] }, poll);
  const current = await network.subnets.get(group, vnet, subnet);
  await network.subnets.beginCreateOrUpdateAndWait(group, vnet, subnet, { ...current, networkSecurityGroup: { id: nsg.id as string }, routeTable: { id: table.id as string } }, poll);
}

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
const publicIpsOf = (nic: NetworkInterface | undefined) => (nic?.ipConfigurations ?? []).map((c) => c.publicIPAddress?.id && parseArmId(c.publicIPAddress.id).name);

/** A public IP address read back: where it is, its SKU and allocation, its address and the configuration using it. */
async function publicIp(id: string) {
  const { resourceGroup, name } = parseArmId(id);
  const p = await az.network.publicIPAddresses.get(resourceGroup, name);
  return { resourceGroup, location: p.location, zones: p.zones, sku: p.sku?.name, allocation: p.publicIPAllocationMethod, address: p.ipAddress, usedBy: p.ipConfiguration?.id };
}

describe('a VM with two NICs, one with a secondary IP configuration and a network security group', () => {
  let mirrorId: string;
  let testPublicIpId: string;

  it('records every NIC and IP configuration, and mirrors the group into the target resource group with its rules', async () => {
    const vm = await fx.clients.vms.get(vmRef());
    const [first, second] = vm?.status?.sourceNetworkInterfaces ?? [];
    expect(first).toMatchObject({ name: `${vmName}-nic`, primary: true, ipConfigurations: [{ name: 'ipconfig1', primary: true, subnetName: 'default', privateIpAddress: fx.sourceIp }] });
    expect(first?.targetNetworkSecurityGroupId).toBeUndefined();
    expect(second?.ipConfigurations).toEqual([
      { name: 'ipconfig1', primary: true, subnetName: 'default', privateIpAddress: '10.1.0.10', loadBalancerBackendAddressPoolIds: [expect.stringMatching(/\/loadBalancers\/multi-lb\/backendAddressPools\/web$/)] },
      { name: 'ipconfig2', primary: false, subnetName: 'default', privateIpAddress: '10.1.0.11', publicIpAddressId: expect.stringMatching(/\/publicIPAddresses\/multi-pip2$/) },
    ]);
    expect(second?.networkSecurityGroupId?.toLowerCase()).toBe(nsgId.toLowerCase());
    expect(first?.ipConfigurations?.[0]?.publicIpAddressId).toMatch(/\/publicIPAddresses\/multi-pip$/);
    expect(first?.ipConfigurations?.[0]?.applicationSecurityGroupIds).toEqual([expect.stringMatching(/\/applicationSecurityGroups\/multi-asg$/)]);
    mirrorId = second?.targetNetworkSecurityGroupId as string;
    expect(parseArmId(mirrorId)).toMatchObject({ resourceGroup: `${rg}-asr`, name: `${vmName}-nsg-asr` });
    expect(vm?.status?.targetResources?.find((r) => r.role === `TargetNetworkSecurityGroup/${vmName}-nsg-asr`)).toMatchObject({ created: true });
    const mirror = await az.network.networkSecurityGroups.get(`${rg}-asr`, `${vmName}-nsg-asr`);
    expect(mirror.location).toBe(TARGET);
    expect(mirror.securityRules?.map((r) => ({ name: r.name, ...Object.fromEntries(Object.keys(RULE).map((k) => [k, r[k as keyof typeof RULE]])) }))).toEqual([{ name: 'allow-https', ...RULE }]);
  });

  it("the network mapping mirrors the source subnet's group and route table and associates them with the target and test subnets", async () => {
    const mapping = await fx.clients.mappings.get({ namespace: fx.ns, name: 'net' });
    const [entry] = mapping?.status?.subnetMappings ?? [];
    expect(parseArmId(entry?.networkSecurityGroupId as string)).toMatchObject({ resourceGroup: `${rg}-asr`, name: `${rg}-subnet-nsg-subnet-asr` });
    expect(parseArmId(entry?.routeTableId as string)).toMatchObject({ resourceGroup: `${rg}-asr`, name: `${rg}-rt-asr` });
    expect(mapping?.status?.targetResources?.filter((r) => /^(SubnetNetworkSecurityGroup|RouteTable)\//.test(r.role)).map((r) => [r.role, r.created])).toEqual([
      [`RouteTable/${rg}-rt-asr`, true],
      [`SubnetNetworkSecurityGroup/${rg}-subnet-nsg-subnet-asr`, true],
    ]);
    const group = await az.network.networkSecurityGroups.get(`${rg}-asr`, `${rg}-subnet-nsg-subnet-asr`);
    expect(group.location).toBe(TARGET);
    expect(group.securityRules?.map((r) => [r.name, r.destinationPortRange, r.priority, r.access])).toEqual([['allow-8443', '8443', 400, 'Allow']]);
    const table = await az.network.routeTables.get(`${rg}-asr`, `${rg}-rt-asr`);
    expect(table.location).toBe(TARGET);
    expect(table.routes?.map((r) => [r.name, r.addressPrefix, r.nextHopType, r.nextHopIpAddress])).toEqual([['to-firewall', ROUTE.addressPrefix, ROUTE.nextHopType, ROUTE.nextHopIpAddress]]);
    // Both networks the mapping created: their subnet carries the two mirrors, which list it back.
    for (const network of [`${rg}-vnet-asr`, `${rg}-vnet-asr-test`]) {
      const subnet = await az.network.subnets.get(`${rg}-asr`, network, 'default');
      expect(subnet.networkSecurityGroup?.id?.toLowerCase()).toBe(group.id?.toLowerCase());
      expect(subnet.routeTable?.id?.toLowerCase()).toBe(table.id?.toLowerCase());
    }
    expect(table.subnets?.map((x) => parseArmId(x.id as string).names[0]).sort()).toEqual([`${rg}-vnet-asr`, `${rg}-vnet-asr-test`]);
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
    // Public IPs: a new Standard static address for the first NIC's configuration; none for the second NIC (publicIpAddresses None).
    const hash = fo?.status?.targetVirtualMachineId?.split('-test-')[1];
    expect(publicIpsOf(first)).toEqual([`${vmName}-nic-ipconfig1-pip-test-${hash}`]);
    expect(publicIpsOf(second)).toEqual([undefined, undefined]);
    expect(second?.ipConfigurations?.[0]?.loadBalancerBackendAddressPools).toBeUndefined(); // a Test joins no pool
    expect(first?.ipConfigurations?.[0]?.applicationSecurityGroups).toBeUndefined(); // nor an application security group
    testPublicIpId = first?.ipConfigurations?.[0]?.publicIPAddress?.id as string;
    const created = await publicIp(testPublicIpId);
    expect(created).toMatchObject({ resourceGroup: `${rg}-asr`, location: TARGET, zones: ['1'], sku: 'Standard', allocation: 'Static', usedBy: first?.ipConfigurations?.[0]?.id });
    expect(created.address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(fo?.status?.networkInterfaces?.[0]?.publicIpAddresses).toEqual([{ ipConfiguration: 'ipconfig1', publicIpAddressId: testPublicIpId, ipAddress: created.address }]);
    expect(fo?.status?.targetResources?.filter((r) => r.kind === 'PublicIpAddress').map((r) => r.id)).toEqual([testPublicIpId]);
    // The NICs landed in the test subnet, which carries the mirrors of the source subnet's group and route table.
    const subnet = parseArmId(first?.ipConfigurations?.[0]?.subnet?.id as string);
    const testSubnet = await az.network.subnets.get(subnet.resourceGroup, subnet.names[0] as string, subnet.name);
    expect(subnet.names[0]).toBe(`${rg}-vnet-asr-test`);
    expect(testSubnet.name).toBe('default');
    expect(parseArmId(testSubnet.networkSecurityGroup?.id as string)).toMatchObject({ resourceGroup: `${rg}-asr`, name: `${rg}-subnet-nsg-subnet-asr` });
    expect(parseArmId(testSubnet.routeTable?.id as string)).toMatchObject({ resourceGroup: `${rg}-asr`, name: `${rg}-rt-asr` });
  });

  it('an address taken in the target subnet: that IP configuration gets the next free one, the others keep theirs', async () => {
    await fx.failovers.delete(foRef('drill'));
    await waitForObject(fx.kc, fx.failovers, foRef('drill'), (o) => o === undefined, 'test failover cleaned up', 120_000);
    await expect(publicIp(testPublicIpId)).rejects.toMatchObject({ statusCode: 404 });
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

describe('network security groups, public IP addresses, application security groups and load balancer pools refused before anything is created', () => {
  it('a group or public IP named for a NIC outside the target region or subscription, an unmapped application security group or pool, a target without the pool: Stalled with the reason, nothing created', async () => {
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
    // A public IP address named for a NIC: in the target region and the operator's subscription, never with None.
    const ref = { namespace: fx.ns, name: 'bad' };
    const stalledWith = (reason: string) => (o: { status?: { conditions?: { type: string; status: string; reason?: string }[] } } | undefined) =>
      (o?.status?.conditions ?? []).some((c) => c.type === 'Stalled' && c.status === 'True' && c.reason === reason);
    const far = (await fx.sb.c.network.publicIPAddresses.beginCreateOrUpdateAndWait(badRg, 'source-region-pip', PIP, poll)).id as string;
    await expect(fx.clients.vms.mergePatch(ref, { spec: { networkInterfaces: [{ sourceName: 'bad-nic', publicIpAddresses: 'None', targetPublicIpAddressId: far }] } })).rejects.toThrow(/publicIpAddresses None/);
    await fx.clients.vms.mergePatch(ref, { spec: { networkInterfaces: [{ sourceName: 'bad-nic', targetPublicIpAddressId: far }] } });
    const noPip = await waitForObject(fx.kc, fx.clients.vms, ref, stalledWith('PublicIpAddressNotUsable'), 'public IP refused', 60_000);
    expect(noPip?.status?.conditions?.find((c) => c.type === 'Stalled')?.message).toBe(`public IP address ${far} named for network interface bad-nic is in ${SOURCE_LOCATION}, not in the target region ${TARGET}`);
    const other = far.replace(fx.sb.arm.subscriptionId, '00000000-0000-0000-0000-0000000000ff');
    await fx.clients.vms.mergePatch(ref, { spec: { networkInterfaces: [{ sourceName: 'bad-nic', targetPublicIpAddressId: other }] } });
    const foreign = await waitForObject(fx.kc, fx.clients.vms, ref, stalledWith('SubscriptionNotManaged'), 'other subscription refused', 60_000);
    expect(foreign?.status?.conditions?.find((c) => c.type === 'Stalled')?.message).toMatch(/^networkInterfaces\[bad-nic\]\.targetPublicIpAddressId names subscription 0{8}-0{4}-0{4}-0{4}-0{10}ff; this operator manages subscription /);
    expect(foreign?.status?.targetResources ?? []).toEqual([]);
    // A NIC in a backend pool of a load balancer no mapping names; then mapped to a target without that pool.
    const lb = await fx.sb.c.network.loadBalancers.beginCreateOrUpdateAndWait(badRg, 'bad-lb', { location: SOURCE_LOCATION, backendAddressPools: [{ name: 'app' }] }, poll);
    const badNic = await fx.sb.c.network.networkInterfaces.get(badRg, 'bad-nic');
    const asg = await fx.sb.c.network.applicationSecurityGroups.beginCreateOrUpdateAndWait(badRg, 'bad-asg', { location: SOURCE_LOCATION }, poll);
    const inPool = { ...badNic.ipConfigurations?.[0], loadBalancerBackendAddressPools: [{ id: `${lb.id}/backendAddressPools/app` }], applicationSecurityGroups: [{ id: asg.id as string }] };
    await fx.sb.c.network.networkInterfaces.beginCreateOrUpdateAndWait(badRg, 'bad-nic', { ...badNic, ipConfigurations: [inPool] }, poll);
    await fx.clients.vms.mergePatch(ref, { spec: { networkInterfaces: null } });
    const noGroup = await waitForObject(fx.kc, fx.clients.vms, ref, stalledWith('ApplicationSecurityGroupNotMapped'), 'unmapped application security group refused', 60_000);
    expect(noGroup?.status?.conditions?.find((c) => c.type === 'Stalled')?.message).toBe(`IP configuration ipconfig1 of network interface bad-nic is in application security group ${asg.id}, which spec.applicationSecurityGroupMappings does not map to a target group`);
    await fx.clients.vms.mergePatch(ref, { spec: { applicationSecurityGroupMappings: [{ sourceApplicationSecurityGroupId: asg.id, targetApplicationSecurityGroupId: targetAsgId }] } });
    const unmapped = await waitForObject(fx.kc, fx.clients.vms, ref, stalledWith('LoadBalancerNotMapped'), 'unmapped pool refused', 60_000);
    expect(unmapped?.status?.conditions?.find((c) => c.type === 'Stalled')?.message).toBe(`IP configuration ipconfig1 of network interface bad-nic is in backend pool app of load balancer ${lb.id}, which spec.loadBalancerMappings does not map to a target load balancer`);
    await fx.clients.vms.mergePatch(ref, { spec: { loadBalancerMappings: [{ sourceLoadBalancerId: lb.id, targetLoadBalancerId: targetLbId }] } });
    const noPool = await waitForObject(fx.kc, fx.clients.vms, ref, stalledWith('LoadBalancerNotUsable'), 'target without the pool refused', 60_000);
    expect(noPool?.status?.conditions?.find((c) => c.type === 'Stalled')?.message).toBe(`target load balancer ${targetLbId} (for bad-nic/ipconfig1) has no backend pool app`);
    expect(noPool?.status?.targetResources ?? []).toEqual([]);
    // The NIC's group has a rule naming an application security group: refused until mapped, then mirrored with it (the pool still refused).
    const ruleAsg = await fx.sb.c.network.applicationSecurityGroups.beginCreateOrUpdateAndWait(badRg, 'rule-asg', { location: SOURCE_LOCATION }, poll);
    const toGroup = { name: 'to-group', protocol: 'Tcp', sourcePortRange: '*', destinationPortRange: '22', sourceAddressPrefix: '*', destinationApplicationSecurityGroups: [{ id: ruleAsg.id as string }], access: 'Allow', priority: 320, direction: 'Inbound' };
    const badNsg = await fx.sb.c.network.networkSecurityGroups.beginCreateOrUpdateAndWait(badRg, 'bad-nsg', { location: SOURCE_LOCATION, securityRules: [toGroup] }, poll);
    await fx.sb.c.network.networkInterfaces.beginCreateOrUpdateAndWait(badRg, 'bad-nic', { ...badNic, ipConfigurations: [inPool], networkSecurityGroup: { id: badNsg.id as string } }, poll);
    await fx.clients.vms.mergePatch(ref, { spec: { loadBalancerMappings: null } });
    const ruleRefused = await waitForObject(fx.kc, fx.clients.vms, ref, stalledWith('ApplicationSecurityGroupNotMapped'), 'rule naming an unmapped group refused', 60_000);
    expect(ruleRefused?.status?.conditions?.find((c) => c.type === 'Stalled')?.message).toBe(
      `rule to-group of network security group bad-nsg names application security group ${ruleAsg.id}, which spec.applicationSecurityGroupMappings does not map to a target group; name an existing group in ${TARGET} for the NIC in spec.networkInterfaces[].targetNetworkSecurityGroupId`,
    );
    await fx.clients.vms.mergePatch(ref, { spec: { applicationSecurityGroupMappings: [{ sourceApplicationSecurityGroupId: asg.id, targetApplicationSecurityGroupId: targetAsgId }, { sourceApplicationSecurityGroupId: ruleAsg.id, targetApplicationSecurityGroupId: ruleAsg.id }] } });
    const ruleUnusable = await waitForObject(fx.kc, fx.clients.vms, ref, stalledWith('ApplicationSecurityGroupNotUsable'), 'rule group mapped into the source region refused', 60_000);
    expect(ruleUnusable?.status?.conditions?.find((c) => c.type === 'Stalled')?.message).toBe(`target application security group ${ruleAsg.id} (for a rule of network security group bad-nsg) is in ${SOURCE_LOCATION}, not in the target region ${TARGET}`);
    await fx.clients.vms.mergePatch(ref, { spec: { applicationSecurityGroupMappings: [{ sourceApplicationSecurityGroupId: asg.id, targetApplicationSecurityGroupId: targetAsgId }, { sourceApplicationSecurityGroupId: ruleAsg.id, targetApplicationSecurityGroupId: targetAsgId }] } });
    await waitForObject(fx.kc, fx.clients.vms, ref, stalledWith('LoadBalancerNotMapped'), 'the group mapped, the pool refused again', 60_000);
    // The mapping made the target network (its resource group); the VM's own resources were not created.
    const accounts: string[] = [];
    for await (const a of az.storage.storageAccounts.listByResourceGroup(`${badRg}-asr`)) accounts.push(a.name as string);
    expect(accounts).toEqual([]);
  });
});

describe('a network mapping whose subnets have groups (one rule naming an application security group) and route tables', () => {
  it('refuses an unmapped or unusable application security group before anything is created, then mirrors the rule naming the target group; uses the group and route table named for a subnet; a mapping adopting the target network mirrors nothing; deleting the mapping removes the mirrors', async () => {
    const srcRg = 'nets-subnets';
    const ownRg = 'nets-subnets-own';
    const { network, resources } = fx.sb.c;
    await resources.resourceGroups.createOrUpdate(srcRg, { location: SOURCE_LOCATION });
    const vnet = `${srcRg}-vnet`;
    const sourceVirtualNetworkId = (await network.virtualNetworks.beginCreateOrUpdateAndWait(srcRg, vnet, { location: SOURCE_LOCATION, addressSpace: { addressPrefixes: ['10.2.0.0/16'] }, subnets: [{ name: 'app', addressPrefix: '10.2.0.0/24' }, { name: 'data', addressPrefix: '10.2.1.0/24' }] }, poll)).id as string;
    const web = (await network.applicationSecurityGroups.beginCreateOrUpdateAndWait(srcRg, 'web', { location: SOURCE_LOCATION }, poll)).id as string;
    const toWeb = { name: 'to-web', protocol: 'Tcp', sourcePortRange: '*', destinationPortRange: '80', sourceAddressPrefix: '*', destinationApplicationSecurityGroups: [{ id: web }], access: 'Allow', priority: 500, direction: 'Inbound' };
    await withSubnetSecurity(srcRg, vnet, 'app', 'app-nsg', 'app-rt', toWeb);
    await withSubnetSecurity(srcRg, vnet, 'data', 'data-nsg', 'data-rt');
    await resources.resourceGroups.createOrUpdate(ownRg, { location: TARGET });
    const ownNsg = (await network.networkSecurityGroups.beginCreateOrUpdateAndWait(ownRg, 'own-nsg', { location: TARGET }, poll)).id as string;
    const ownRt = (await network.routeTables.beginCreateOrUpdateAndWait(ownRg, 'own-rt', { location: TARGET }, poll)).id as string;
    const spec = { sourceVirtualNetworkId, targetLocation: TARGET, targetResourceGroup: `${srcRg}-asr`, subnetMappings: [{ source: 'data', target: 'data', targetNetworkSecurityGroupId: ownNsg, targetRouteTableId: ownRt }] };
    const theirs = `/subscriptions/${fx.sb.arm.subscriptionId}/resourceGroups/${ownRg}/providers/Microsoft.Network/virtualNetworks/theirs`;
    await expect(fx.clients.mappings.create(fx.ns, { metadata: { name: 'adopting' }, spec: { ...spec, targetVirtualNetworkId: theirs } })).rejects.toThrow(/not to an adopted targetVirtualNetworkId/);
    const ref = { namespace: fx.ns, name: 'subnets-net' };
    const stalledWith = (reason: string) => (o: NetworkMapping | undefined) => (o?.status?.conditions ?? []).some((c) => c.type === 'Stalled' && c.status === 'True' && c.reason === reason);
    const stalledMessage = (o: NetworkMapping | undefined) => o?.status?.conditions?.find((c) => c.type === 'Stalled')?.message;
    await fx.clients.mappings.create(fx.ns, { metadata: { name: ref.name }, spec });
    const unmapped = await waitForObject(fx.kc, fx.clients.mappings, ref, stalledWith('ApplicationSecurityGroupNotMapped'), 'unmapped group refused', 60_000);
    expect(stalledMessage(unmapped)).toBe(
      `rule to-web of network security group app-nsg names application security group ${web}, which spec.applicationSecurityGroupMappings does not map to a target group; map it, or name an existing group for subnet app in spec.subnetMappings[].targetNetworkSecurityGroupId`,
    );
    expect(unmapped?.status?.targetResources ?? []).toEqual([]);
    const elsewhere = targetAsgId.replace(fx.sb.arm.subscriptionId, '00000000-0000-0000-0000-0000000000ff');
    await fx.clients.mappings.mergePatch(ref, { spec: { applicationSecurityGroupMappings: [{ sourceApplicationSecurityGroupId: web, targetApplicationSecurityGroupId: elsewhere }] } });
    const foreign = await waitForObject(fx.kc, fx.clients.mappings, ref, stalledWith('SubscriptionNotManaged'), 'group in another subscription refused', 60_000);
    expect(stalledMessage(foreign)).toMatch(/^spec\.applicationSecurityGroupMappings\[0\]\.targetApplicationSecurityGroupId names subscription 0{8}-0{4}-0{4}-0{4}-0{10}ff;/);
    await fx.clients.mappings.mergePatch(ref, { spec: { applicationSecurityGroupMappings: [{ sourceApplicationSecurityGroupId: web, targetApplicationSecurityGroupId: web }] } });
    const unusable = await waitForObject(fx.kc, fx.clients.mappings, ref, stalledWith('ApplicationSecurityGroupNotUsable'), 'group in the source region refused', 60_000);
    expect(stalledMessage(unusable)).toBe(`target application security group ${web} (for network security group app-nsg of subnet app) is in ${SOURCE_LOCATION}, not in the target region ${TARGET}`);
    expect(unusable?.status?.targetResources ?? []).toEqual([]);
    await fx.clients.mappings.mergePatch(ref, { spec: { applicationSecurityGroupMappings: [{ sourceApplicationSecurityGroupId: web, targetApplicationSecurityGroupId: targetAsgId }] } });
    const ready = await waitForObject(fx.kc, fx.clients.mappings, ref, conditionIs('Ready', 'True'), 'mapped', 60_000);
    const mirror = await az.network.networkSecurityGroups.get(`${srcRg}-asr`, 'app-nsg-subnet-asr');
    expect(mirror.securityRules?.find((r) => r.name === 'to-web')?.destinationApplicationSecurityGroups?.map((g) => g.id)).toEqual([targetAsgId]);
    // Subnet app: the mirrors; subnet data: the group and route table named for it (its source ones are not mirrored).
    expect((ready?.status?.subnetMappings ?? []).map((m) => [m.source, parseArmId(m.networkSecurityGroupId as string).name, parseArmId(m.routeTableId as string).name])).toEqual([
      ['app', 'app-nsg-subnet-asr', 'app-rt-asr'],
      ['data', 'own-nsg', 'own-rt'],
    ]);
    await expect(az.network.routeTables.get(`${srcRg}-asr`, 'data-rt-asr')).rejects.toMatchObject({ statusCode: 404 });
    expect((await az.network.routeTables.get(ownRg, 'own-rt')).subnets?.map((x) => parseArmId(x.id as string).names[0]).sort()).toEqual([`${vnet}-asr`, `${vnet}-asr-test`]);
    // A mapping adopting that target network (as a reverse mapping after re-protect does): nothing mirrored, nothing refused.
    const adopting = { namespace: fx.ns, name: 'subnets-adopting' };
    await fx.clients.mappings.create(fx.ns, { metadata: { name: adopting.name }, spec: { sourceVirtualNetworkId, targetLocation: TARGET, targetResourceGroup: `${srcRg}-adopt`, targetVirtualNetworkId: ready?.status?.targetVirtualNetworkId as string } });
    const adopted = await waitForObject(fx.kc, fx.clients.mappings, adopting, conditionIs('Ready', 'True'), 'adopting mapping ready', 60_000);
    expect(adopted?.status?.targetResources?.map((r) => r.role).sort()).toEqual(['TargetResourceGroup', 'TargetVirtualNetwork', 'TestVirtualNetwork']);
    expect((await az.network.subnets.get(`${srcRg}-adopt`, `${vnet}-asr-test`, 'app')).networkSecurityGroup).toBeUndefined();
    await fx.clients.mappings.delete(adopting);
    await waitForObject(fx.kc, fx.clients.mappings, adopting, (o) => o === undefined, 'adopting mapping deleted', 60_000);
    // Deleting the mapping: the networks, then the mirrors; the named group and route table stay.
    await fx.clients.mappings.delete(ref);
    await waitForObject(fx.kc, fx.clients.mappings, ref, (o) => o === undefined, 'mapping deleted', 60_000);
    await expect(az.network.networkSecurityGroups.get(`${srcRg}-asr`, 'app-nsg-subnet-asr')).rejects.toMatchObject({ statusCode: 404 });
    await expect(az.network.routeTables.get(`${srcRg}-asr`, 'app-rt-asr')).rejects.toMatchObject({ statusCode: 404 });
    expect((await az.network.routeTables.get(ownRg, 'own-rt')).subnets).toBeUndefined();
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
  it('creates both NICs in the target network, both IP configurations with their addresses, the second NIC in the mirrored group; public IPs created or named', async () => {
    // An existing address in the target region for the second NIC's primary configuration; its secondary one gets a new address (the default).
    const kept = (await fx.sb.c.network.publicIPAddresses.beginCreateOrUpdateAndWait(`${rg}-asr`, 'kept-pip', { ...PIP, location: TARGET }, poll)).id as string;
    await fx.clients.vms.mergePatch(vmRef(), { spec: { networkInterfaces: [{ sourceName: `${vmName}-nic2`, targetPublicIpAddressId: kept }] } });
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
    expect(publicIpsOf(first)).toEqual([`${vmName}-nic-ipconfig1-pip-asr`]);
    expect(publicIpsOf(second)).toEqual(['kept-pip', `${vmName}-nic2-ipconfig2-pip-asr`]);
    const made = await publicIp(second?.ipConfigurations?.[1]?.publicIPAddress?.id as string);
    expect(made).toMatchObject({ resourceGroup: `${rg}-asr`, location: TARGET, zones: ['1'], sku: 'Standard', allocation: 'Static', usedBy: second?.ipConfigurations?.[1]?.id });
    expect((await publicIp(kept)).usedBy).toBe(second?.ipConfigurations?.[0]?.id);
    expect(first?.ipConfigurations?.[0]?.applicationSecurityGroups?.map((g) => g.id)).toEqual([targetAsgId]);
    // The second NIC's primary configuration is in the target load balancer's pool of the same name.
    expect(second?.ipConfigurations?.[0]?.loadBalancerBackendAddressPools?.map((p) => p.id)).toEqual([`${targetLbId}/backendAddressPools/web`]);
    expect((await az.network.loadBalancers.get(LB_RG, 'target-lb')).backendAddressPools?.[0]?.backendIPConfigurations?.map((c) => c.id)).toEqual([second?.ipConfigurations?.[0]?.id]);
    expect(fo?.status?.targetResources?.filter((r) => r.kind === 'PublicIpAddress').map((r) => parseArmId(r.id).name).sort()).toEqual([`${vmName}-nic-ipconfig1-pip-asr`, `${vmName}-nic2-ipconfig2-pip-asr`]);
  });
});

// Beyond azure-roles.test.ts's scenario: the groups, route tables, public IPs, pools and their removal.
nothingRefused(() => fx.sb, {
  operator: [
    'Microsoft.Network/applicationSecurityGroups/read',
    'Microsoft.Network/loadBalancers/read',
    'Microsoft.Network/networkSecurityGroups/delete',
    'Microsoft.Network/networkSecurityGroups/read',
    'Microsoft.Network/networkSecurityGroups/write',
    'Microsoft.Network/publicIPAddresses/delete',
    'Microsoft.Network/publicIPAddresses/read',
    'Microsoft.Network/publicIPAddresses/write',
    'Microsoft.Network/routeTables/delete',
    'Microsoft.Network/routeTables/read',
    'Microsoft.Network/routeTables/write',
    'Microsoft.Network/virtualNetworks/delete',
  ],
});
