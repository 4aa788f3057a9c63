// Subnets live inside their virtual network's body (as in ARM, where a VNet PUT carries its subnets): how one is
// built and checked (prefix inside the address space, no overlap, NSG and route table references, not removed while in use),
// shared by the virtual network PUT and the subnet child resource.
import type { ArmEngine } from '../../engine.ts';
import { etag } from '../../engine.ts';
import { badRequest } from '../../errors.ts';
import { contains, hasIp, ipToInt, overlaps, parseCidr } from '../../ipv4.ts';
import type { Cidr } from '../../ipv4.ts';
import type { Json, StoredResource } from '../../store.ts';
import { clone, isObj, ref } from '../common.ts';
import { ROUTE_TABLE, SUBNET, invalidRef, ipConfigsInSubnet, subnetCidr } from './shared.ts';

export function buildSubnet(engine: ArmEngine, vnetId: string, s: Json, spaces: Cidr[], previous: Json | undefined): Json {
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
  // SubnetPropertiesFormat.routeTable (virtualNetwork.json, 2024-05-01): a reference to an existing route table.
  if (props.routeTable?.id && engine.store.get(props.routeTable.id)?.type !== ROUTE_TABLE) {
    throw invalidRef(props.routeTable.id, id);
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
  if (props.routeTable?.id) out.properties.routeTable = ref(engine.store.get(props.routeTable.id)!.id);
  if (previous?.properties?.resourceGuid) out.properties.resourceGuid = previous.properties.resourceGuid;
  return out;
}

export function checkSubnetOverlaps(subnets: Json[]): void {
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

export function assertSubnetUnused(engine: ArmEngine, subnet: Json): void {
  const used = ipConfigsInSubnet(engine, subnet.id);
  if (used.length > 0) {
    throw badRequest(
      'InUseSubnetCannotBeDeleted',
      `Subnet ${subnet.name} is in use by ${used[0]!.ipConfigId} and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet.`,
    );
  }
}

export function renderSubnet(engine: ArmEngine, s: Json): Json {
  const out = clone(s);
  const used = ipConfigsInSubnet(engine, s.id);
  if (used.length > 0) out.properties.ipConfigurations = used.map((u) => ref(u.ipConfigId));
  return out;
}

/** A synthetic stored resource over a subnet entry of its virtual network. */
export function subnetView(vnet: StoredResource, s: Json): StoredResource {
  return { id: s.id, type: SUBNET, resourceGroup: vnet.resourceGroup, body: s, internal: {} };
}
