// ARM emulator through the official SDK clients: resource groups, virtual networks and subnets, network
// security groups, route tables, network interfaces (IP allocation), public IP addresses, load balancers, application security groups, availability sets, protocol errors and paging.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fast, startHarness } from './sandbox-arm-support.ts';
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

describe('protocol', () => {
  it('requires a bearer token (401) and an api-version (400)', async () => {
    const url = `${h.arm.endpoint}/subscriptions/${h.arm.subscriptionId}/resourcegroups?api-version=2021-04-01`;
    const noAuth = await fetch(url);
    expect(noAuth.status).toBe(401);
    expect(((await noAuth.json()) as { error: { code: string } }).error.code).toBe('AuthenticationFailed');
    expect(noAuth.headers.get('www-authenticate')).toMatch(/^Bearer /);
    const noVersion = await fetch(url.replace(/\?.*/, ''), { headers: { Authorization: 'Bearer x' } });
    expect(noVersion.status).toBe(400);
    expect(((await noVersion.json()) as { error: { code: string } }).error.code).toBe('MissingApiVersionParameter');
  });

  it('answers 404 SubscriptionNotFound for another subscription', async () => {
    const r = await fetch(`${h.arm.endpoint}/subscriptions/11111111-1111-1111-1111-111111111111/resourcegroups?api-version=2021-04-01`, {
      headers: { Authorization: 'Bearer x' },
    });
    expect(r.status).toBe(404);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('SubscriptionNotFound');
  });
});

describe('resource groups', () => {
  it('creates (201 then 200), gets case-insensitively, checks existence and rejects a location change', async () => {
    const { resources } = h.c;
    const rg = await resources.resourceGroups.createOrUpdate('Rg-Alpha', { location: 'West Europe', tags: { a: '1' } });
    expect(rg).toMatchObject({ name: 'Rg-Alpha', location: 'westeurope', properties: { provisioningState: 'Succeeded' }, tags: { a: '1' } });
    expect(rg.id).toBe(`/subscriptions/${h.arm.subscriptionId}/resourceGroups/Rg-Alpha`);
    const got = await resources.resourceGroups.get('rg-alpha');
    expect(got.id).toBe(rg.id);
    expect(await resources.resourceGroups.checkExistence('RG-ALPHA')).toMatchObject({ body: true });
    expect(await resources.resourceGroups.checkExistence('nope')).toMatchObject({ body: false });
    await expect(resources.resourceGroups.createOrUpdate('rg-alpha', { location: 'eastus' })).rejects.toMatchObject({
      statusCode: 409,
      code: 'InvalidResourceGroupLocation',
    });
    await expect(resources.resourceGroups.get('nope')).rejects.toMatchObject({ statusCode: 404, code: 'ResourceGroupNotFound' });
  });

  it('lists with nextLink paging', async () => {
    const { resources } = h.c;
    for (const n of ['rg-p1', 'rg-p2', 'rg-p3', 'rg-p4', 'rg-p5']) await resources.resourceGroups.createOrUpdate(n, { location: loc });
    const pages: number[] = [];
    for await (const page of resources.resourceGroups.list().byPage()) pages.push(page.length);
    expect(pages.every((n) => n <= 2)).toBe(true);
    const all = await collect(resources.resourceGroups.list());
    expect(all.map((r) => r.name)).toEqual(expect.arrayContaining(['rg-p1', 'rg-p2', 'rg-p3', 'rg-p4', 'rg-p5']));
    expect(h.arm.stats.count('LIST Microsoft.Resources/resourceGroups')).toBeGreaterThanOrEqual(3);
  });

  it('deletes with a long-running operation, removing everything inside', async () => {
    const { resources, network } = h.c;
    await resources.resourceGroups.createOrUpdate('rg-del', { location: loc });
    await network.virtualNetworks.createOrUpdate('rg-del', 'v', { location: loc, addressSpace: { addressPrefixes: ['10.9.0.0/16'] } }, fast);
    h.arm.setLatency({ operations: { 'resourceGroups.delete': 150 } });
    try {
      const poller = resources.resourceGroups.delete('rg-del', fast);
      await poller.submitted();
      expect(poller.isDone).toBe(false);
      await expect(resources.resourceGroups.createOrUpdate('rg-del', { location: loc })).rejects.toMatchObject({
        statusCode: 409,
        code: 'ResourceGroupBeingDeleted',
      });
      await poller;
    } finally {
      h.arm.setLatency({ operations: { 'resourceGroups.delete': 0 } });
    }
    await expect(resources.resourceGroups.get('rg-del')).rejects.toMatchObject({ statusCode: 404 });
    await resources.resourceGroups.createOrUpdate('rg-del', { location: loc });
    await expect(network.virtualNetworks.get('rg-del', 'v')).rejects.toMatchObject({ statusCode: 404, code: 'ResourceNotFound' });
  });
});

describe('virtual networks and subnets', () => {
  it('creates a vnet with subnets, manages subnets as child resources and validates prefixes', async () => {
    const { resources, network } = h.c;
    await resources.resourceGroups.createOrUpdate('rg-net', { location: loc });
    const vnet = await network.virtualNetworks.createOrUpdate(
      'rg-net',
      'vnet1',
      {
        location: loc,
        addressSpace: { addressPrefixes: ['10.0.0.0/16'] },
        subnets: [
          { name: 'default', addressPrefix: '10.0.0.0/24' },
          { name: 'apps', addressPrefix: '10.0.1.0/24' },
        ],
      },
      fast,
    );
    expect(vnet.provisioningState).toBe('Succeeded');
    expect(vnet.subnets?.map((s) => [s.name, s.addressPrefix, s.id])).toEqual([
      ['default', '10.0.0.0/24', `${vnet.id}/subnets/default`],
      ['apps', '10.0.1.0/24', `${vnet.id}/subnets/apps`],
    ]);
    const sub = await network.subnets.createOrUpdate('rg-net', 'vnet1', 'data', { addressPrefix: '10.0.2.0/24' }, fast);
    expect(sub.id).toBe(`${vnet.id}/subnets/data`);
    expect((await network.subnets.get('rg-net', 'VNET1', 'Data')).addressPrefix).toBe('10.0.2.0/24');
    expect((await collect(network.subnets.list('rg-net', 'vnet1'))).map((s) => s.name)).toEqual(['default', 'apps', 'data']);
    await expect(network.subnets.createOrUpdate('rg-net', 'vnet1', 'bad', { addressPrefix: '10.1.0.0/24' }, fast)).rejects.toMatchObject({
      statusCode: 400,
      code: 'NetcfgSubnetRangeOutsideVnet',
    });
    await expect(network.subnets.createOrUpdate('rg-net', 'vnet1', 'dup', { addressPrefix: '10.0.1.128/25' }, fast)).rejects.toMatchObject({
      statusCode: 400,
      code: 'NetcfgSubnetRangesOverlap',
    });
    await expect(
      network.virtualNetworks.createOrUpdate('rg-net', 'v2', { location: loc, addressSpace: { addressPrefixes: ['10.0.0.1/16'] } }, fast),
    ).rejects.toMatchObject({ statusCode: 400, code: 'InvalidAddressPrefixFormat' });
    await network.subnets.delete('rg-net', 'vnet1', 'data', fast);
    await expect(network.subnets.get('rg-net', 'vnet1', 'data')).rejects.toMatchObject({ statusCode: 404 });
    await expect(network.subnets.get('rg-net', 'nope', 'data')).rejects.toMatchObject({ statusCode: 404, code: 'ParentResourceNotFound' });
    expect((await collect(network.virtualNetworks.listAll())).some((v) => v.id === vnet.id)).toBe(true);
  });

  it('refuses a location-less vnet (400 LocationRequired) and a missing resource group (404)', async () => {
    const { network } = h.c;
    await expect(
      network.virtualNetworks.createOrUpdate('rg-net', 'v3', { addressSpace: { addressPrefixes: ['10.3.0.0/16'] } } as never, fast),
    ).rejects.toMatchObject({ statusCode: 400, code: 'LocationRequired' });
    await expect(
      network.virtualNetworks.createOrUpdate('rg-none', 'v3', { location: loc, addressSpace: { addressPrefixes: ['10.3.0.0/16'] } }, fast),
    ).rejects.toMatchObject({ statusCode: 404, code: 'ResourceGroupNotFound' });
  });
});

describe('network interfaces', () => {
  it('allocates dynamic IPs (first free after the 4 reserved), keeps them on update, and checks static IPs', async () => {
    const { resources, network } = h.c;
    await resources.resourceGroups.createOrUpdate('rg-nic', { location: loc });
    const vnet = await network.virtualNetworks.createOrUpdate(
      'rg-nic',
      'vnet',
      { location: loc, addressSpace: { addressPrefixes: ['10.5.0.0/16'] }, subnets: [{ name: 'default', addressPrefix: '10.5.0.0/29' }] },
      fast,
    );
    const subnet = { id: vnet.subnets![0]!.id! };
    const nic = (name: string, ip?: string) =>
      network.networkInterfaces.createOrUpdate(
        'rg-nic',
        name,
        {
          location: loc,
          ipConfigurations: [
            { name: 'ipconfig1', subnet, ...(ip ? { privateIPAllocationMethod: 'Static' as const, privateIPAddress: ip } : {}) },
          ],
        },
        fast,
      );
    const a = await nic('a');
    expect(a.ipConfigurations?.[0]).toMatchObject({ privateIPAddress: '10.5.0.4', privateIPAllocationMethod: 'Dynamic', primary: true });
    expect(a.macAddress).toMatch(/^00-0D-3A-/);
    const s = await nic('s', '10.5.0.6');
    expect(s.ipConfigurations?.[0]).toMatchObject({ privateIPAddress: '10.5.0.6', privateIPAllocationMethod: 'Static' });
    const b = await nic('b');
    expect(b.ipConfigurations?.[0]?.privateIPAddress).toBe('10.5.0.5');
    // re-PUT keeps the dynamic address
    expect((await nic('a')).ipConfigurations?.[0]?.privateIPAddress).toBe('10.5.0.4');
    await expect(nic('c', '10.5.0.6')).rejects.toMatchObject({ statusCode: 400, code: 'PrivateIPAddressInUse' });
    await expect(nic('c', '10.5.0.1')).rejects.toMatchObject({ statusCode: 400, code: 'PrivateIPAddressIsReserved' });
    await expect(nic('c', '10.6.0.9')).rejects.toMatchObject({ statusCode: 400, code: 'PrivateIPAddressNotInSubnet' });
    // /29: .4 .5 .6 taken, .7 broadcast -> full
    await expect(nic('c')).rejects.toMatchObject({ statusCode: 400, code: 'SubnetIsFull' });
    const subnetNow = await network.subnets.get('rg-nic', 'vnet', 'default');
    expect(subnetNow.ipConfigurations?.map((c) => c.id)).toHaveLength(3);
    await expect(network.subnets.delete('rg-nic', 'vnet', 'default', fast)).rejects.toMatchObject({
      statusCode: 400,
      code: 'InUseSubnetCannotBeDeleted',
    });
    await expect(
      network.networkInterfaces.createOrUpdate(
        'rg-nic',
        'ghost',
        { location: loc, ipConfigurations: [{ name: 'c', subnet: { id: `${vnet.id}/subnets/none` } }] },
        fast,
      ),
    ).rejects.toMatchObject({ statusCode: 400, code: 'InvalidResourceReference' });
    await network.networkInterfaces.delete('rg-nic', 'b', fast);
    expect((await nic('c')).ipConfigurations?.[0]?.privateIPAddress).toBe('10.5.0.5');
  });
});

describe('network security groups', () => {
  it('creates with rules and defaults, refuses deleting while associated', async () => {
    const { resources, network } = h.c;
    await resources.resourceGroups.createOrUpdate('rg-nsg', { location: loc });
    const nsg = await network.networkSecurityGroups.createOrUpdate(
      'rg-nsg',
      'nsg1',
      {
        location: loc,
        securityRules: [
          {
            name: 'ssh',
            protocol: 'Tcp',
            sourcePortRange: '*',
            destinationPortRange: '22',
            sourceAddressPrefix: '*',
            destinationAddressPrefix: '*',
            access: 'Allow',
            priority: 1000,
            direction: 'Inbound',
          },
        ],
      },
      fast,
    );
    expect(nsg.securityRules?.[0]).toMatchObject({ name: 'ssh', priority: 1000, id: `${nsg.id}/securityRules/ssh` });
    expect(nsg.defaultSecurityRules?.map((r) => r.name)).toContain('DenyAllInBound');
    await expect(
      network.networkSecurityGroups.createOrUpdate(
        'rg-nsg',
        'nsg2',
        { location: loc, securityRules: [{ name: 'x', protocol: '*', access: 'Allow', priority: 5, direction: 'Inbound' }] },
        fast,
      ),
    ).rejects.toMatchObject({ statusCode: 400, code: 'SecurityRuleInvalidPriority' });
    const vnet = await network.virtualNetworks.createOrUpdate(
      'rg-nsg',
      'vnet',
      {
        location: loc,
        addressSpace: { addressPrefixes: ['10.7.0.0/16'] },
        subnets: [{ name: 'default', addressPrefix: '10.7.0.0/24', networkSecurityGroup: { id: nsg.id! } }],
      },
      fast,
    );
    expect(vnet.subnets?.[0]?.networkSecurityGroup?.id).toBe(nsg.id);
    expect((await network.networkSecurityGroups.get('rg-nsg', 'nsg1')).subnets?.map((s) => s.id)).toEqual([vnet.subnets![0]!.id]);
    await expect(network.networkSecurityGroups.delete('rg-nsg', 'nsg1', fast)).rejects.toMatchObject({
      statusCode: 400,
      code: 'InUseNetworkSecurityGroupCannotBeDeleted',
    });
  });
});

describe('route tables', () => {
  it('keeps routes, lists the subnets using a table, refuses bad routes, a missing table and deleting one in use', async () => {
    const { resources, network } = h.c;
    await resources.resourceGroups.createOrUpdate('rg-rt', { location: loc });
    const hop = { addressPrefix: '0.0.0.0/0', nextHopType: 'VirtualAppliance', nextHopIpAddress: '10.8.0.4' };
    const table = await network.routeTables.createOrUpdate('rg-rt', 'rt1', { location: loc, routes: [{ name: 'fw', ...hop }] }, fast);
    expect(table.routes?.[0]).toMatchObject({ name: 'fw', id: `${table.id}/routes/fw`, ...hop, provisioningState: 'Succeeded' });
    expect(table.disableBgpRoutePropagation).toBe(false);
    await expect(network.routeTables.createOrUpdate('rg-rt', 'rt2', { location: loc, routes: [{ name: 'x', addressPrefix: '10.0.0.0/8', nextHopType: 'Internet', nextHopIpAddress: '10.8.0.4' }] }, fast)).rejects.toMatchObject({
      statusCode: 400,
      code: 'RouteNextHopIpAddressNotAllowed',
    });
    await expect(network.routeTables.createOrUpdate('rg-rt', 'rt2', { location: loc, routes: [{ name: 'x', addressPrefix: '10.0.0.0/8', nextHopType: 'VirtualAppliance' }] }, fast)).rejects.toMatchObject({ statusCode: 400 });
    const subnet = { name: 'default', addressPrefix: '10.8.0.0/24' };
    const missing = table.id!.replace(/rt1$/, 'nope');
    await expect(network.virtualNetworks.createOrUpdate('rg-rt', 'vnet', { location: loc, addressSpace: { addressPrefixes: ['10.8.0.0/16'] }, subnets: [{ ...subnet, routeTable: { id: missing } }] }, fast)).rejects.toMatchObject({
      statusCode: 400,
      code: 'InvalidResourceReference',
    });
    const vnet = await network.virtualNetworks.createOrUpdate('rg-rt', 'vnet', { location: loc, addressSpace: { addressPrefixes: ['10.8.0.0/16'] }, subnets: [{ ...subnet, routeTable: { id: table.id! } }] }, fast);
    expect(vnet.subnets?.[0]?.routeTable?.id).toBe(table.id);
    expect((await network.routeTables.get('rg-rt', 'rt1')).subnets?.map((s) => s.id)).toEqual([vnet.subnets![0]!.id]);
    await expect(network.routeTables.delete('rg-rt', 'rt1', fast)).rejects.toMatchObject({ statusCode: 400, code: 'InUseRouteTableCannotBeDeleted' });
    // A security rule may name application security groups of its group's region only.
    const far = await network.applicationSecurityGroups.createOrUpdate('rg-rt', 'far', { location: 'northeurope' }, fast);
    const rule = { name: 'to-far', protocol: 'Tcp', sourcePortRange: '*', destinationPortRange: '80', sourceAddressPrefix: '*', destinationApplicationSecurityGroups: [{ id: far.id! }], access: 'Allow', priority: 200, direction: 'Inbound' };
    await expect(network.networkSecurityGroups.createOrUpdate('rg-rt', 'nsg', { location: loc, securityRules: [rule] }, fast)).rejects.toMatchObject({ statusCode: 400, code: 'InvalidResourceReference' });
    const near = await network.applicationSecurityGroups.createOrUpdate('rg-rt', 'near', { location: loc }, fast);
    const nsg = await network.networkSecurityGroups.createOrUpdate('rg-rt', 'nsg', { location: loc, securityRules: [{ ...rule, destinationApplicationSecurityGroups: [{ id: near.id! }] }] }, fast);
    expect(nsg.securityRules?.[0]?.destinationApplicationSecurityGroups?.map((g) => g.id)).toEqual([near.id]);
  });
});

describe('public IP addresses', () => {
  it('allocates a Standard static address, shows the IP configuration using it, and keeps Azure\'s refusals', async () => {
    const { resources, network } = h.c;
    await resources.resourceGroups.createOrUpdate('rg-pip', { location: loc });
    await expect(network.publicIPAddresses.createOrUpdate('rg-pip', 'dyn', { location: loc, sku: { name: 'Standard' }, publicIPAllocationMethod: 'Dynamic' }, fast)).rejects.toMatchObject({
      statusCode: 400,
      code: 'StandardAndStandardV2SkuPublicIPAddressesMustBeStatic',
    });
    const pip = await network.publicIPAddresses.createOrUpdate('rg-pip', 'pip1', { location: loc, sku: { name: 'Standard' }, publicIPAllocationMethod: 'Static' }, fast);
    expect([pip.sku, pip.publicIPAllocationMethod, pip.publicIPAddressVersion]).toEqual([{ name: 'Standard', tier: 'Regional' }, 'Static', 'IPv4']);
    expect(pip.ipAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    await expect(network.publicIPAddresses.createOrUpdate('rg-pip', 'pip1', { location: loc, sku: { name: 'Basic' } }, fast)).rejects.toMatchObject({ statusCode: 400, code: 'PublicIPSkuCannotBeChanged' });
    const elsewhere = await network.publicIPAddresses.createOrUpdate('rg-pip', 'far', { location: 'northeurope', sku: { name: 'Standard' }, publicIPAllocationMethod: 'Static' }, fast);
    const vnet = await network.virtualNetworks.createOrUpdate('rg-pip', 'vnet', { location: loc, addressSpace: { addressPrefixes: ['10.8.0.0/16'] }, subnets: [{ name: 'default', addressPrefix: '10.8.0.0/24' }] }, fast);
    const config = (publicIp: string) => ({ location: loc, ipConfigurations: [{ name: 'ipconfig1', subnet: { id: vnet.subnets![0]!.id! }, publicIPAddress: { id: publicIp } }] });
    await expect(network.networkInterfaces.createOrUpdate('rg-pip', 'nic0', config(elsewhere.id!), fast)).rejects.toMatchObject({ statusCode: 400, code: 'InvalidResourceReference' });
    const nic = await network.networkInterfaces.createOrUpdate('rg-pip', 'nic1', config(pip.id!), fast);
    expect(nic.ipConfigurations?.[0]?.publicIPAddress?.id).toBe(pip.id);
    expect((await network.publicIPAddresses.get('rg-pip', 'pip1')).ipConfiguration?.id).toBe(nic.ipConfigurations?.[0]?.id);
    await expect(network.networkInterfaces.createOrUpdate('rg-pip', 'nic2', config(pip.id!), fast)).rejects.toMatchObject({ statusCode: 400, code: 'PublicIPAddressInUse' });
    await expect(network.publicIPAddresses.delete('rg-pip', 'pip1', fast)).rejects.toMatchObject({ statusCode: 400, code: 'PublicIPAddressCannotBeDeleted' });
    await network.networkInterfaces.delete('rg-pip', 'nic1', fast);
    await network.publicIPAddresses.delete('rg-pip', 'pip1', fast);
    await expect(network.publicIPAddresses.get('rg-pip', 'pip1')).rejects.toMatchObject({ statusCode: 404 });
  });
});

describe('load balancers', () => {
  it('keeps backend pools whose members are NIC IP configurations, and refuses a pool it cannot resolve in the NIC\'s region', async () => {
    const { resources, network } = h.c;
    await resources.resourceGroups.createOrUpdate('rg-lb', { location: loc });
    const vnet = await network.virtualNetworks.createOrUpdate('rg-lb', 'vnet', { location: loc, addressSpace: { addressPrefixes: ['10.9.0.0/16'] }, subnets: [{ name: 'default', addressPrefix: '10.9.0.0/24' }] }, fast);
    const subnet = vnet.subnets![0]!.id!;
    const lb = await network.loadBalancers.createOrUpdate(
      'rg-lb',
      'ilb',
      { location: loc, sku: { name: 'Standard' }, frontendIPConfigurations: [{ name: 'front', subnet: { id: subnet }, privateIPAllocationMethod: 'Static', privateIPAddress: '10.9.0.100' }], backendAddressPools: [{ name: 'web' }] },
      fast,
    );
    expect(lb.sku).toEqual({ name: 'Standard', tier: 'Regional' });
    expect(lb.frontendIPConfigurations?.[0]).toMatchObject({ id: `${lb.id}/frontendIPConfigurations/front`, privateIPAddress: '10.9.0.100', subnet: { id: subnet } });
    const poolId = `${lb.id}/backendAddressPools/web`;
    expect(lb.backendAddressPools?.map((p) => p.id)).toEqual([poolId]);
    const far = await network.loadBalancers.createOrUpdate('rg-lb', 'far', { location: 'northeurope', backendAddressPools: [{ name: 'web' }] }, fast);
    const nicWith = (pools: string[]) => ({ location: loc, ipConfigurations: [{ name: 'ipconfig1', subnet: { id: subnet }, loadBalancerBackendAddressPools: pools.map((id) => ({ id })) }] });
    for (const bad of [`${far.id}/backendAddressPools/web`, `${lb.id}/backendAddressPools/missing`]) {
      await expect(network.networkInterfaces.createOrUpdate('rg-lb', 'nic0', nicWith([bad]), fast)).rejects.toMatchObject({ statusCode: 400, code: 'InvalidResourceReference' });
    }
    const nic = await network.networkInterfaces.createOrUpdate('rg-lb', 'nic1', nicWith([poolId]), fast);
    expect(nic.ipConfigurations?.[0]?.loadBalancerBackendAddressPools?.map((p) => p.id)).toEqual([poolId]);
    expect((await network.loadBalancers.get('rg-lb', 'ilb')).backendAddressPools?.[0]?.backendIPConfigurations?.map((c) => c.id)).toEqual([nic.ipConfigurations?.[0]?.id]);
  });

  it('puts a NIC IP configuration into application security groups of its region, and refuses one elsewhere', async () => {
    const { network } = h.c;
    const vnet = await network.virtualNetworks.get('rg-lb', 'vnet');
    const asg = await network.applicationSecurityGroups.beginCreateOrUpdateAndWait('rg-lb', 'web', { location: loc }, fast);
    expect(asg.resourceGuid).toBeTruthy();
    const far = await network.applicationSecurityGroups.beginCreateOrUpdateAndWait('rg-lb', 'far-asg', { location: 'northeurope' }, fast);
    const nicIn = (id: string) => ({ location: loc, ipConfigurations: [{ name: 'ipconfig1', subnet: { id: vnet.subnets![0]!.id! }, applicationSecurityGroups: [{ id }] }] });
    await expect(network.networkInterfaces.createOrUpdate('rg-lb', 'nic-far', nicIn(far.id!), fast)).rejects.toMatchObject({ statusCode: 400, code: 'InvalidResourceReference' });
    const nic = await network.networkInterfaces.createOrUpdate('rg-lb', 'nic-asg', nicIn(asg.id!), fast);
    expect(nic.ipConfigurations?.[0]?.applicationSecurityGroups?.map((g) => g.id)).toEqual([asg.id]);
  });
});

describe('availability sets', () => {
  it('creates an Aligned set with fault/update domain counts and validates ranges', async () => {
    const { resources, compute } = h.c;
    await resources.resourceGroups.createOrUpdate('rg-as', { location: loc });
    const as = await compute.availabilitySets.createOrUpdate('rg-as', 'as1', {
      location: loc,
      sku: { name: 'Aligned' },
      platformFaultDomainCount: 2,
      platformUpdateDomainCount: 5,
    });
    expect(as).toMatchObject({ name: 'as1', sku: { name: 'Aligned' }, platformFaultDomainCount: 2, platformUpdateDomainCount: 5 });
    await expect(
      compute.availabilitySets.createOrUpdate('rg-as', 'as2', { location: loc, sku: { name: 'Aligned' }, platformFaultDomainCount: 4 }),
    ).rejects.toMatchObject({ statusCode: 400, code: 'InvalidParameter' });
    expect((await collect(compute.availabilitySets.list('rg-as'))).map((a) => a.name)).toEqual(['as1']);
    await compute.availabilitySets.delete('rg-as', 'as1');
    await expect(compute.availabilitySets.get('rg-as', 'as1')).rejects.toMatchObject({ statusCode: 404, code: 'ResourceNotFound' });
  });
});
