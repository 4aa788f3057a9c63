// Microsoft.Network: virtualNetworks (+ subnets child resources), networkSecurityGroups, networkInterfaces
// (private IP allocation: static with conflict detection, dynamic = first free address of the subnet).
import type { ArmEngine, RequestContext, Target, TypeHandler } from '../engine.ts';
import { etag, normLocation } from '../engine.ts';
import type { ArmError } from '../errors.ts';
import { badRequest } from '../errors.ts';
import { contains, firstFree, hasIp, intToIp, ipToInt, isReserved, overlaps, parseCidr } from '../ipv4.ts';
import type { Cidr } from '../ipv4.ts';
import { idKey, parentId } from '../paths.ts';
import type { Json, StoredResource } from '../store.ts';
import { assertNotBusy, clone, isObj, lroDelete, lroPut, newResource, putCompleter, ref, trackedBody, uuid } from './common.ts';

export const VNET = 'Microsoft.Network/virtualNetworks';
export const SUBNET = 'Microsoft.Network/virtualNetworks/subnets';
export const NSG = 'Microsoft.Network/networkSecurityGroups';
export const NIC = 'Microsoft.Network/networkInterfaces';
const NS = 'Microsoft.Network';
const VM = 'Microsoft.Compute/virtualMachines';

const invalidRef = (refId: string, by: string): ArmError =>
  badRequest(
    'InvalidResourceReference',
    `Resource ${refId} referenced by resource ${by} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`,
  );

function subnetCidr(s: Json): Cidr | undefined {
  const p = s?.properties?.addressPrefix ?? s?.properties?.addressPrefixes?.[0];
  return typeof p === 'string' ? parseCidr(p) : undefined;
}

/** All NIC ip configurations in a subnet: [{ nic, ipConfigId, ip }]. */
function ipConfigsInSubnet(engine: ArmEngine, subnetId: string): { nic: StoredResource; ipConfigId: string; ip: string }[] {
  const out: { nic: StoredResource; ipConfigId: string; ip: string }[] = [];
  const k = idKey(subnetId);
  for (const nic of engine.store.ofType(NIC)) {
    for (const c of nic.body.properties.ipConfigurations ?? []) {
      if (c.properties?.subnet?.id && idKey(c.properties.subnet.id) === k) {
        out.push({ nic, ipConfigId: c.id, ip: c.properties.privateIPAddress });
      }
    }
  }
  return out;
}

/** Finds a subnet (its vnet and body) by id. */
export function findSubnet(engine: ArmEngine, subnetId: string): { vnet: StoredResource; subnet: Json } | undefined {
  const vnetId = parentId(subnetId);
  const vnet = vnetId ? engine.store.get(vnetId) : undefined;
  if (!vnet || vnet.type !== VNET) return undefined;
  const subnet = (vnet.body.properties.subnets as Json[]).find((s) => idKey(s.id) === idKey(subnetId));
  return subnet ? { vnet, subnet } : undefined;
}

function vmUsingNic(engine: ArmEngine, nicId: string): StoredResource | undefined {
  const k = idKey(nicId);
  return engine.store
    .ofType(VM)
    .find((vm) => (vm.body.properties.networkProfile?.networkInterfaces ?? []).some((n: Json) => idKey(n.id) === k));
}

/** Validates and normalizes one subnet definition against the vnet's address space. */
function buildSubnet(engine: ArmEngine, vnetId: string, s: Json, spaces: Cidr[], previous: Json | undefined): Json {
  if (!isObj(s) || typeof s.name !== 'string' || !s.name) throw badRequest('InvalidRequestFormat', 'Subnet name is required.');
  const props = isObj(s.properties) ? s.properties : {};
  const prefix: unknown = props.addressPrefix ?? props.addressPrefixes?.[0];
  const cidr = typeof prefix === 'string' ? parseCidr(prefix) : undefined;
  const id = `${vnetId}/subnets/${s.name}`;
  if (!cidr) {
    throw badRequest(
      'InvalidAddressPrefixFormat',
      `Address prefix ${String(prefix)} of resource ${id} is not formatted correctly. It should follow CIDR notation, for example 10.0.0.0/24.`,
    );
  }
  if (!spaces.some((sp) => contains(sp, cidr))) {
    throw badRequest(
      'NetcfgSubnetRangeOutsideVnet',
      `Subnet '${s.name}' is not valid because its IP address range is outside the IP address range of virtual network '${vnetId.split('/').pop()}'.`,
    );
  }
  if (props.networkSecurityGroup?.id && !engine.store.get(props.networkSecurityGroup.id)) {
    throw invalidRef(props.networkSecurityGroup.id, id);
  }
  // Addresses in use must stay inside the (possibly changed) prefix.
  for (const c of ipConfigsInSubnet(engine, id)) {
    const ip = ipToInt(c.ip);
    if (ip !== undefined && !hasIp(cidr, ip)) {
      throw badRequest(
        'InUseSubnetCannotBeUpdated',
        `Subnet ${s.name} is in use by ${c.ipConfigId} and its address prefix cannot be changed to exclude ${c.ip}.`,
      );
    }
  }
  const out: Json = {
    id,
    name: s.name,
    etag: etag(),
    type: SUBNET,
    properties: {
      provisioningState: 'Succeeded',
      addressPrefix: prefix,
      delegations: [],
      privateEndpointNetworkPolicies: props.privateEndpointNetworkPolicies ?? 'Disabled',
      privateLinkServiceNetworkPolicies: props.privateLinkServiceNetworkPolicies ?? 'Enabled',
    },
  };
  if (props.networkSecurityGroup?.id) out.properties.networkSecurityGroup = ref(props.networkSecurityGroup.id);
  if (previous?.properties?.resourceGuid) out.properties.resourceGuid = previous.properties.resourceGuid;
  return out;
}

function checkSubnetOverlaps(subnets: Json[]): void {
  for (let i = 0; i < subnets.length; i++) {
    for (let j = i + 1; j < subnets.length; j++) {
      const a = subnetCidr(subnets[i]);
      const b = subnetCidr(subnets[j]);
      if (a && b && overlaps(a, b)) {
        throw badRequest(
          'NetcfgSubnetRangesOverlap',
          `Subnet '${subnets[j].name}' is not valid in virtual network because its IP address range overlaps with that of an existing subnet '${subnets[i].name}'.`,
        );
      }
      if (String(subnets[i].name).toLowerCase() === String(subnets[j].name).toLowerCase()) {
        throw badRequest('DuplicateResourceName', `Subnet name '${subnets[j].name}' is used more than once.`);
      }
    }
  }
}

function assertSubnetUnused(engine: ArmEngine, subnet: Json): void {
  const used = ipConfigsInSubnet(engine, subnet.id);
  if (used.length > 0) {
    throw badRequest(
      'InUseSubnetCannotBeDeleted',
      `Subnet ${subnet.name} is in use by ${used[0]!.ipConfigId} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet.`,
    );
  }
}

function renderSubnet(engine: ArmEngine, s: Json): Json {
  const out = clone(s);
  const used = ipConfigsInSubnet(engine, s.id);
  if (used.length > 0) out.properties.ipConfigurations = used.map((u) => ref(u.ipConfigId));
  return out;
}

/** A synthetic stored resource over a subnet entry of its virtual network. */
function subnetView(vnet: StoredResource, s: Json): StoredResource {
  return { id: s.id, type: SUBNET, resourceGroup: vnet.resourceGroup, body: s, internal: {} };
}

const DEFAULT_RULES: [string, string, string, number, string, string, string][] = [
  ['AllowVnetInBound', 'Allow inbound traffic from all VMs in VNET', 'Inbound', 65000, 'Allow', 'VirtualNetwork', 'VirtualNetwork'],
  ['AllowAzureLoadBalancerInBound', 'Allow inbound traffic from azure load balancer', 'Inbound', 65001, 'Allow', 'AzureLoadBalancer', '*'],
  ['DenyAllInBound', 'Deny all inbound traffic', 'Inbound', 65500, 'Deny', '*', '*'],
  ['AllowVnetOutBound', 'Allow outbound traffic from all VMs to all VMs in VNET', 'Outbound', 65000, 'Allow', 'VirtualNetwork', 'VirtualNetwork'],
  ['AllowInternetOutBound', 'Allow outbound traffic from all VMs to Internet', 'Outbound', 65001, 'Allow', '*', 'Internet'],
  ['DenyAllOutBound', 'Deny all outbound traffic', 'Outbound', 65500, 'Deny', '*', '*'],
];

function securityRule(nsgId: string, collection: string, r: Json): Json {
  const p = isObj(r.properties) ? r.properties : {};
  if (typeof r.name !== 'string' || !r.name) throw badRequest('InvalidRequestFormat', 'Security rule name is required.');
  const priority = Number(p.priority);
  if (collection === 'securityRules' && (!Number.isInteger(priority) || priority < 100 || priority > 4096)) {
    throw badRequest(
      'SecurityRuleInvalidPriority',
      `Security rule ${r.name} has invalid priority ${String(p.priority)}. Value provided: ${String(p.priority)} Allowed range 100-4096.`,
    );
  }
  if (!['Inbound', 'Outbound'].includes(p.direction)) {
    throw badRequest('SecurityRuleInvalidDirection', `Security rule ${r.name} has invalid direction ${String(p.direction)}.`);
  }
  if (!['Allow', 'Deny'].includes(p.access)) {
    throw badRequest('SecurityRuleInvalidAccess', `Security rule ${r.name} has invalid access ${String(p.access)}.`);
  }
  return {
    id: `${nsgId}/${collection}/${r.name}`,
    name: r.name,
    etag: etag(),
    type: `${NSG}/${collection}`,
    properties: { protocol: '*', sourcePortRange: '*', destinationPortRange: '*', ...clone(p), priority, provisioningState: 'Succeeded' },
  };
}

function macAddress(engine: ArmEngine): string {
  const n = engine.store.next('mac');
  const hex = n.toString(16).padStart(6, '0').toUpperCase();
  return `00-0D-3A-${hex.slice(0, 2)}-${hex.slice(2, 4)}-${hex.slice(4, 6)}`;
}

export function registerNetwork(engine: ArmEngine): void {
  engine.registerCompleter('virtualNetworks.put', putCompleter());
  engine.registerCompleter('networkSecurityGroups.put', putCompleter());
  engine.registerCompleter('networkInterfaces.put', putCompleter());
  for (const k of ['virtualNetworks.delete', 'networkSecurityGroups.delete', 'networkInterfaces.delete']) {
    engine.registerCompleter(k, async (e, op) => {
      e.store.delete(op.resourceId);
      e.store.save();
    });
  }
  engine.registerCompleter('subnets.put', async (e, op) => {
    const found = findSubnet(e, op.resourceId);
    if (found) found.subnet.properties.provisioningState = 'Succeeded';
    e.store.save();
  });
  engine.registerCompleter('subnets.delete', async (e, op) => {
    const found = findSubnet(e, op.resourceId);
    if (found) {
      found.vnet.body.properties.subnets = (found.vnet.body.properties.subnets as Json[]).filter((s) => s !== found.subnet);
    }
    e.store.save();
  });

  // ------------------------------------------------------------------ virtual networks
  const vnetHandler: TypeHandler = {
    type: VNET,
    tracked: true,
    subscriptionList: true,
    render(e, r) {
      const out = clone(r.body);
      out.properties.subnets = (r.body.properties.subnets as Json[]).map((s) => renderSubnet(e, s));
      return out;
    },
    async put(e, ctx, target) {
      const req = ctx.body;
      const props = isObj(req.properties) ? req.properties : {};
      const prefixes: unknown[] = props.addressSpace?.addressPrefixes ?? [];
      if (!Array.isArray(prefixes) || prefixes.length === 0) {
        throw badRequest('InvalidRequestFormat', 'Virtual network address space must contain at least one address prefix.');
      }
      const spaces = prefixes.map((p) => {
        const c = typeof p === 'string' ? parseCidr(p) : undefined;
        if (!c) {
          throw badRequest(
            'InvalidAddressPrefixFormat',
            `Address prefix ${String(p)} of resource ${target.id} is not formatted correctly. It should follow CIDR notation, for example 10.0.0.0/24.`,
          );
        }
        return c;
      });
      for (let i = 0; i < spaces.length; i++) {
        for (let j = i + 1; j < spaces.length; j++) {
          if (overlaps(spaces[i]!, spaces[j]!)) {
            throw badRequest('VnetAddressSpacesOverlap', `Address spaces ${String(prefixes[i])} and ${String(prefixes[j])} of virtual network ${target.name} overlap.`);
          }
        }
      }
      const prev = target.existing;
      const prevSubnets: Json[] = prev?.body.properties.subnets ?? [];
      const reqSubnets: Json[] = Array.isArray(props.subnets) ? props.subnets : [];
      const subnets = reqSubnets.map((s) =>
        buildSubnet(e, target.id, s, spaces, prevSubnets.find((p) => String(p.name).toLowerCase() === String(s?.name).toLowerCase())),
      );
      checkSubnetOverlaps(subnets);
      for (const old of prevSubnets) {
        if (!subnets.some((s) => idKey(s.id) === idKey(old.id))) assertSubnetUnused(e, old);
      }
      for (const s of subnets) s.properties.resourceGuid ??= uuid();
      const body = trackedBody(target, VNET, req);
      body.etag = etag();
      body.properties = {
        provisioningState: 'Updating',
        resourceGuid: prev?.body.properties.resourceGuid ?? uuid(),
        addressSpace: { addressPrefixes: clone(prefixes) },
        subnets,
        virtualNetworkPeerings: [],
        enableDdosProtection: Boolean(props.enableDdosProtection),
      };
      if (props.dhcpOptions) body.properties.dhcpOptions = clone(props.dhcpOptions);
      return lroPut(e, ctx, { res: newResource(target, VNET, body), created: !prev, kind: 'virtualNetworks.put', ns: NS });
    },
    async delete(e, ctx, res) {
      for (const s of res.body.properties.subnets as Json[]) assertSubnetUnused(e, s);
      return lroDelete(e, ctx, { res, kind: 'virtualNetworks.delete', ns: NS });
    },
  };
  engine.registerType(vnetHandler);

  // ------------------------------------------------------------------ subnets (child of a virtual network)
  const subnetHandler: TypeHandler = {
    type: SUBNET,
    tracked: false,
    render: (e, r) => renderSubnet(e, r.body),
    get(_e, _ctx, target: Target) {
      const vnet = target.parent!;
      const s = (vnet.body.properties.subnets as Json[]).find((x) => String(x.name).toLowerCase() === target.name.toLowerCase());
      return s ? subnetView(vnet, s) : undefined;
    },
    list: (_e, _ctx, parent) => (parent!.body.properties.subnets as Json[]).map((s) => subnetView(parent!, s)),
    async put(e, ctx: RequestContext, target) {
      const vnet = target.parent!;
      assertNotBusy(e, vnet.id);
      const spaces = (vnet.body.properties.addressSpace.addressPrefixes as string[]).map((p) => parseCidr(p)!);
      const prev = target.existing?.body;
      const s = buildSubnet(e, vnet.id, { ...ctx.body, name: target.name }, spaces, prev);
      s.properties.resourceGuid ??= uuid();
      const others = (vnet.body.properties.subnets as Json[]).filter((x) => x !== prev);
      checkSubnetOverlaps([...others, s]);
      s.properties.provisioningState = 'Updating';
      vnet.body.properties.subnets = prev
        ? (vnet.body.properties.subnets as Json[]).map((x) => (x === prev ? s : x))
        : [...others, s];
      e.store.save();
      const op = await e.startOperation({ kind: 'subnets.put', ns: NS, location: vnet.body.location, resourceId: s.id });
      const status = prev ? 200 : 201;
      if (op.status !== 'InProgress') {
        e.throwIfFailed(op);
        return { status, body: renderSubnet(e, s) };
      }
      return { status, body: renderSubnet(e, s), headers: e.asyncHeaders(op, ctx, { azureAsync: true, location: false }) };
    },
    async delete(e, ctx, res) {
      assertSubnetUnused(e, res.body);
      const vnet = e.store.get(parentId(res.id)!)!;
      return lroDelete(e, ctx, { res: { ...res, body: { ...res.body, location: vnet.body.location } }, kind: 'subnets.delete', ns: NS });
    },
  };
  engine.registerType(subnetHandler);

  // ------------------------------------------------------------------ network security groups
  const nsgHandler: TypeHandler = {
    type: NSG,
    tracked: true,
    subscriptionList: true,
    render(e, r) {
      const out = clone(r.body);
      const k = idKey(r.id);
      const nics = e.store.ofType(NIC).filter((n) => n.body.properties.networkSecurityGroup && idKey(n.body.properties.networkSecurityGroup.id) === k);
      if (nics.length) out.properties.networkInterfaces = nics.map((n) => ref(n.id));
      const subnets = e.store
        .ofType(VNET)
        .flatMap((v) => v.body.properties.subnets as Json[])
        .filter((s) => s.properties.networkSecurityGroup && idKey(s.properties.networkSecurityGroup.id) === k);
      if (subnets.length) out.properties.subnets = subnets.map((s) => ref(s.id));
      return out;
    },
    async put(e, ctx, target) {
      const req = ctx.body;
      const props = isObj(req.properties) ? req.properties : {};
      const rules: Json[] = Array.isArray(props.securityRules) ? props.securityRules : [];
      const body = trackedBody(target, NSG, req);
      body.etag = etag();
      body.properties = {
        provisioningState: 'Updating',
        resourceGuid: target.existing?.body.properties.resourceGuid ?? uuid(),
        securityRules: rules.map((r) => securityRule(target.id, 'securityRules', r)),
        defaultSecurityRules: DEFAULT_RULES.map(([name, description, direction, priority, access, src, dst]) =>
          securityRule(target.id, 'defaultSecurityRules', {
            name,
            properties: {
              description,
              protocol: '*',
              sourcePortRange: '*',
              destinationPortRange: '*',
              sourceAddressPrefix: src,
              destinationAddressPrefix: dst,
              access,
              priority,
              direction,
            },
          }),
        ),
      };
      return lroPut(e, ctx, { res: newResource(target, NSG, body), created: !target.existing, kind: 'networkSecurityGroups.put', ns: NS });
    },
    async delete(e, ctx, res) {
      const rendered = nsgHandler.render(e, res);
      const user = rendered.properties.networkInterfaces?.[0]?.id ?? rendered.properties.subnets?.[0]?.id;
      if (user) {
        throw badRequest(
          'InUseNetworkSecurityGroupCannotBeDeleted',
          `Network security group ${res.id} cannot be deleted because it is in use by the following resources: ${user}. In order to delete the Network security group, remove the association with the resource(s).`,
        );
      }
      return lroDelete(e, ctx, { res, kind: 'networkSecurityGroups.delete', ns: NS });
    },
  };
  engine.registerType(nsgHandler);

  // ------------------------------------------------------------------ network interfaces
  const nicHandler: TypeHandler = {
    type: NIC,
    tracked: true,
    subscriptionList: true,
    render(e, r) {
      const out = clone(r.body);
      const vm = vmUsingNic(e, r.id);
      if (vm) {
        out.properties.virtualMachine = ref(vm.id);
        const entry = (vm.body.properties.networkProfile.networkInterfaces as Json[]).find((n) => idKey(n.id) === idKey(r.id));
        out.properties.primary = entry?.properties?.primary ?? (vm.body.properties.networkProfile.networkInterfaces as Json[]).length === 1;
      }
      return out;
    },
    async put(e, ctx, target) {
      const req = ctx.body;
      const props = isObj(req.properties) ? req.properties : {};
      const configs: Json[] = Array.isArray(props.ipConfigurations) ? props.ipConfigurations : [];
      if (configs.length === 0) {
        throw badRequest('NetworkInterfaceMustHaveAtLeastOneIpConfiguration', `Network interface ${target.id} must have one or more IP configurations.`);
      }
      if (props.networkSecurityGroup?.id && !e.store.get(props.networkSecurityGroup.id)) {
        throw invalidRef(props.networkSecurityGroup.id, target.id);
      }
      const prevConfigs: Json[] = target.existing?.body.properties.ipConfigurations ?? [];
      const location = normLocation(req.location);
      const claimed = new Map<string, Set<number>>(); // subnet -> addresses taken by this request
      const staticFirst = [...configs.keys()].sort((a, b) => {
        const sa = configs[a]?.properties?.privateIPAllocationMethod === 'Static' ? 0 : 1;
        const sb = configs[b]?.properties?.privateIPAllocationMethod === 'Static' ? 0 : 1;
        return sa - sb;
      });
      const built: Json[] = new Array(configs.length);
      const hasPrimary = configs.some((c) => c?.properties?.primary === true);
      for (const i of staticFirst) {
        const c = configs[i];
        const cp = isObj(c?.properties) ? c.properties : {};
        if (typeof c?.name !== 'string' || !c.name) throw badRequest('InvalidRequestFormat', 'IP configuration name is required.');
        const cfgId = `${target.id}/ipConfigurations/${c.name}`;
        const subnetId: unknown = cp.subnet?.id;
        if (typeof subnetId !== 'string') {
          throw badRequest('InvalidRequestFormat', `IP configuration ${cfgId} must reference a subnet.`);
        }
        const found = findSubnet(e, subnetId);
        if (!found || found.vnet.body.location !== location) throw invalidRef(subnetId, target.id);
        const cidr = subnetCidr(found.subnet)!;
        const used = new Set<number>();
        for (const u of ipConfigsInSubnet(e, found.subnet.id)) {
          if (idKey(u.nic.id) === idKey(target.id)) continue;
          const n = ipToInt(u.ip);
          if (n !== undefined) used.add(n);
        }
        const mine = claimed.get(idKey(found.subnet.id)) ?? new Set<number>();
        claimed.set(idKey(found.subnet.id), mine);
        const method = cp.privateIPAllocationMethod === 'Static' ? 'Static' : 'Dynamic';
        let ip: number | undefined;
        if (method === 'Static') {
          ip = typeof cp.privateIPAddress === 'string' ? ipToInt(cp.privateIPAddress) : undefined;
          if (ip === undefined) {
            throw badRequest('PrivateIPAddressInvalid', `Private static IP address ${String(cp.privateIPAddress)} of IP configuration ${cfgId} is invalid.`);
          }
          if (!hasIp(cidr, ip)) {
            throw badRequest(
              'PrivateIPAddressNotInSubnet',
              `IP configuration ${cfgId} references the private IP address ${cp.privateIPAddress} which is not within the address prefix ${found.subnet.properties.addressPrefix} of subnet ${found.subnet.name}.`,
            );
          }
          if (isReserved(cidr, ip)) {
            throw badRequest(
              'PrivateIPAddressIsReserved',
              `IP configuration ${cfgId} references the private IP address ${cp.privateIPAddress} which belongs to the reserved address range of subnet ${found.subnet.name}.`,
            );
          }
          if (used.has(ip) || mine.has(ip)) {
            const holder = ipConfigsInSubnet(e, found.subnet.id).find((u) => u.ip === cp.privateIPAddress);
            throw badRequest(
              'PrivateIPAddressInUse',
              `IP configuration ${cfgId} is using the private IP address ${cp.privateIPAddress} which is already allocated to resource ${holder?.ipConfigId ?? 'another IP configuration'}.`,
            );
          }
        } else {
          const prev = prevConfigs.find((p) => String(p.name).toLowerCase() === c.name.toLowerCase());
          const prevIp = prev && idKey(prev.properties.subnet.id) === idKey(found.subnet.id) ? ipToInt(prev.properties.privateIPAddress) : undefined;
          ip = prevIp !== undefined && !used.has(prevIp) && !mine.has(prevIp) ? prevIp : firstFree(cidr, new Set([...used, ...mine]));
          if (ip === undefined) {
            throw badRequest('SubnetIsFull', `Subnet ${found.subnet.name} with address prefix ${found.subnet.properties.addressPrefix} does not have enough capacity for 1 IP addresses.`);
          }
        }
        mine.add(ip);
        built[i] = {
          id: cfgId,
          name: c.name,
          etag: etag(),
          type: `${NIC}/ipConfigurations`,
          properties: {
            provisioningState: 'Succeeded',
            privateIPAddress: intToIp(ip),
            privateIPAllocationMethod: method,
            subnet: ref(found.subnet.id),
            primary: hasPrimary ? cp.primary === true : i === 0,
            privateIPAddressVersion: 'IPv4',
          },
        };
      }
      const body = trackedBody(target, NIC, req);
      body.etag = etag();
      body.properties = {
        provisioningState: 'Updating',
        resourceGuid: target.existing?.body.properties.resourceGuid ?? uuid(),
        ipConfigurations: built,
        dnsSettings: { dnsServers: clone(props.dnsSettings?.dnsServers ?? []), appliedDnsServers: [] },
        macAddress: target.existing?.body.properties.macAddress ?? macAddress(e),
        enableAcceleratedNetworking: Boolean(props.enableAcceleratedNetworking),
        enableIPForwarding: Boolean(props.enableIPForwarding),
        nicType: 'Standard',
      };
      if (props.networkSecurityGroup?.id) body.properties.networkSecurityGroup = ref(props.networkSecurityGroup.id);
      return lroPut(e, ctx, { res: newResource(target, NIC, body), created: !target.existing, kind: 'networkInterfaces.put', ns: NS });
    },
    async delete(e, ctx, res) {
      const vm = vmUsingNic(e, res.id);
      if (vm) {
        throw badRequest(
          'NicInUse',
          `Network Interface ${res.id} is used by existing resource ${vm.id}. In order to delete the network interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic.`,
        );
      }
      return lroDelete(e, ctx, { res, kind: 'networkInterfaces.delete', ns: NS });
    },
  };
  engine.registerType(nicHandler);
}
