/**
 * The target (and test-failover) virtual network of a NetworkMapping as an ExternalResource: a copy of the
 * source network's address space and subnets in the target region, each subnet with the network security
 * group and route table the mapping gives it. An existing network of ours is brought up to date by adding
 * missing address prefixes and subnets and setting those associations, never by removing any, so a user's
 * additions are kept. getVirtualNetwork reads a network we may not own (an adopted target, the source).
 */
import type { Subnet, VirtualNetwork } from '@azure/arm-network';
import type { AzureClients } from '../clients.ts';
import { resourceId } from '../arm-id.ts';
import { hasManagedTag, managedTags, type ExternalResource, type Observation } from '../external-resource.ts';
import { deleteIgnoringNotFound, getOrUndefined, provisioningReady, startOperation } from './observe.ts';

interface SubnetSpec {
  name: string;
  addressPrefix: string;
  /** The network security group and route table the subnet is associated with (kept as they are when absent). */
  networkSecurityGroupId?: string;
  routeTableId?: string;
}

export interface VirtualNetworkSpec {
  resourceGroup: string;
  name: string;
  location: string;
  owner: string;
  addressPrefixes: string[];
  subnets: SubnetSpec[];
}

export async function getVirtualNetwork(az: AzureClients, resourceGroup: string, name: string): Promise<VirtualNetwork | undefined> {
  return getOrUndefined(() => az.network.virtualNetworks.get(resourceGroup, name));
}

/** A network the operator creates to mirror another: same address space, the same subnets. */
export function virtualNetworkResource(az: AzureClients, role: string, spec: VirtualNetworkSpec): ExternalResource<VirtualNetwork> {
  const missingSubnets = (current: VirtualNetwork) => spec.subnets.filter((s) => !(current.subnets ?? []).some((c) => c.name === s.name));
  const wanted = (name: string | undefined) => spec.subnets.find((s) => s.name === name);
  // A subnet's associations: the ones the spec asks for, else the ones it has (a user's are kept).
  const associations = (want: SubnetSpec | undefined, has?: Subnet) => {
    const group = want?.networkSecurityGroupId ?? has?.networkSecurityGroup?.id;
    const table = want?.routeTableId ?? has?.routeTable?.id;
    return { ...(group ? { networkSecurityGroup: { id: group } } : {}), ...(table ? { routeTable: { id: table } } : {}) };
  };
  const associated = (s: Subnet) => {
    const want = wanted(s.name);
    const same = (a: string | undefined, b: string | undefined) => !a || a.toLowerCase() === (b ?? '').toLowerCase();
    return !want || (same(want.networkSecurityGroupId, s.networkSecurityGroup?.id) && same(want.routeTableId, s.routeTable?.id));
  };
  const body = (current?: VirtualNetwork) => ({
    location: spec.location,
    tags: managedTags(spec.owner),
    addressSpace: { addressPrefixes: [...new Set([...(current?.addressSpace?.addressPrefixes ?? []), ...spec.addressPrefixes])] },
    subnets: [
      ...(current?.subnets ?? []).map((s) => ({ name: s.name, addressPrefix: s.addressPrefix, addressPrefixes: s.addressPrefixes, ...associations(wanted(s.name), s) })),
      ...(current ? missingSubnets(current) : spec.subnets).map((s) => ({ name: s.name, addressPrefix: s.addressPrefix, ...associations(s) })),
    ],
  });
  return {
    role,
    id: resourceId(az.subscriptionId, spec.resourceGroup, 'Microsoft.Network', 'virtualNetworks', spec.name),
    manage: true,
    async observe(): Promise<Observation<VirtualNetwork>> {
      const network = await getVirtualNetwork(az, spec.resourceGroup, spec.name);
      if (!network) return { exists: false };
      const upToDate = missingSubnets(network).length === 0 && (network.subnets ?? []).every(associated);
      return { exists: true, ...provisioningReady(network.provisioningState), upToDate, managedTag: hasManagedTag(network.tags), resource: network };
    },
    async create() {
      await startOperation(az.network.virtualNetworks.createOrUpdate(spec.resourceGroup, spec.name, body()));
    },
    async update(current) {
      await startOperation(az.network.virtualNetworks.createOrUpdate(spec.resourceGroup, spec.name, body(current)));
    },
    async delete() {
      await deleteIgnoringNotFound(() => startOperation(az.network.virtualNetworks.delete(spec.resourceGroup, spec.name)));
    },
  };
}
