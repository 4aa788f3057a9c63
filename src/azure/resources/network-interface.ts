/**
 * Network interfaces: the NIC of a failed-over VM through the observe / create / update / delete contract
 * (`external-resource.ts`), and reads of any NIC.
 *
 * A failover NIC has every IP configuration of its source NIC (primary first) and keeps each one's private
 * IP when it can: the create asks for them as static addresses and, when Azure refuses one (taken, outside
 * the subnet, reserved; Azure's message names the IP configuration), asks again with that configuration
 * dynamic (the next free address), one configuration at a time; a refusal naming none makes them all
 * dynamic. The user naming the primary address explicitly is a promise: its refusal ends the request
 * (`PrivateIpUnavailable`) rather than silently using another address.
 */
import type { NetworkInterface } from '@azure/arm-network';
import type { AzureClients } from '../clients.ts';
import { parseArmId } from '../arm-id.ts';
import { classifyAzureError } from '../errors.ts';
import { managedTags, type ExternalResource } from '../external-resource.ts';
import { TerminalError } from '../../runtime/reconcile-errors.ts';
import { getOrUndefined, ownedResource, startOperation } from './observe.ts';

export async function getNetworkInterface(az: AzureClients, nicId: string): Promise<NetworkInterface | undefined> {
  const id = parseArmId(nicId);
  return getOrUndefined(() => az.network.networkInterfaces.get(id.resourceGroup, id.name));
}

/** The virtual network id a subnet id belongs to. */
export function networkOfSubnet(subnetId: string): string {
  return subnetId.replace(/\/subnets\/[^/]+$/i, '');
}

export interface NicIpConfiguration {
  name: string;
  subnetId: string;
  /** Keep this address when it is free in the subnet; else the next free one (unless `requireAddress`, for the primary). */
  privateIpAddress?: string;
  /** The configuration's public IP address, if it gets one. */
  publicIpAddressId?: string;
  /** The load balancer backend pools the configuration joins. */
  loadBalancerBackendAddressPoolIds?: string[];
  /** The application security groups the configuration joins. */
  applicationSecurityGroupIds?: string[];
}

export interface NicPlacement {
  location: string;
  /** The IP configurations, primary first. */
  ipConfigurations: NicIpConfiguration[];
  /** The user named the primary address: refuse (TerminalError PrivateIpUnavailable) rather than take another. */
  requireAddress?: boolean;
  /** Accelerated networking, as the source NIC has it. */
  acceleratedNetworking?: boolean;
  networkSecurityGroupId?: string;
}

export const NETWORK_INTERFACE_ROLE = 'NetworkInterface';

/** A NIC for `owner`; without `placement` (known only by its id, for cleanup) it can be observed and deleted. */
export function networkInterfaceResource(az: AzureClients, nicId: string, owner: string, placement?: NicPlacement): ExternalResource<NetworkInterface> {
  const { resourceGroup, name } = parseArmId(nicId);
  const put = (p: NicPlacement, dynamic: ReadonlySet<string>) =>
    startOperation(
      az.network.networkInterfaces.createOrUpdate(resourceGroup, name, {
        location: p.location,
        tags: managedTags(owner),
        ...(p.acceleratedNetworking ? { enableAcceleratedNetworking: true } : {}),
        ...(p.networkSecurityGroupId ? { networkSecurityGroup: { id: p.networkSecurityGroupId } } : {}),
        ipConfigurations: p.ipConfigurations.map((c, i) => {
          const fixed = c.privateIpAddress && !dynamic.has(c.name);
          return {
            name: c.name,
            primary: i === 0,
            subnet: { id: c.subnetId },
            privateIPAllocationMethod: fixed ? 'Static' : 'Dynamic',
            ...(fixed ? { privateIPAddress: c.privateIpAddress } : {}),
            ...(c.publicIpAddressId ? { publicIPAddress: { id: c.publicIpAddressId } } : {}),
            ...(c.loadBalancerBackendAddressPoolIds?.length ? { loadBalancerBackendAddressPools: c.loadBalancerBackendAddressPoolIds.map((id) => ({ id })) } : {}),
            ...(c.applicationSecurityGroupIds?.length ? { applicationSecurityGroups: c.applicationSecurityGroupIds.map((id) => ({ id })) } : {}),
          };
        }),
      }),
    );
  /** Static with the addresses asked for; each one refused turns dynamic (the next free one), unless it is the required primary. */
  const create = async (p: NicPlacement) => {
    const dynamic = new Set<string>();
    for (;;) {
      try {
        return await put(p, dynamic);
      } catch (error) {
        const c = classifyAzureError(error);
        const fixed = p.ipConfigurations.filter((x) => x.privateIpAddress && !dynamic.has(x.name));
        if (c.statusCode !== 400 || fixed.length === 0) throw error;
        const refused = fixed.find((x) => namesConfiguration(c.message, `${nicId}/ipConfigurations/${x.name}`));
        const primary = p.ipConfigurations[0];
        if (p.requireAddress && primary && (!refused || refused === primary)) {
          throw new TerminalError('PrivateIpUnavailable', `${primary.privateIpAddress} cannot be used in ${primary.subnetId}: ${c.code ?? 'refused'}: ${c.message}`, { cause: error });
        }
        for (const x of refused ? [refused] : fixed) if (!(p.requireAddress && x === primary)) dynamic.add(x.name);
      }
    }
  };
  return ownedResource({
    role: NETWORK_INTERFACE_ROLE,
    id: nicId,
    owner,
    get: () => getOrUndefined(() => az.network.networkInterfaces.get(resourceGroup, name)),
    ...(placement ? { create: () => create(placement) } : {}),
    remove: () => az.network.networkInterfaces.delete(resourceGroup, name),
    operation: () => az.operationStatus(nicId),
  });
}

/** Whether Azure's message names the IP configuration `configId` (not one whose name merely starts the same). */
function namesConfiguration(message: string, configId: string): boolean {
  const escaped = configId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`${escaped}(?![\\w-])`, 'i').test(message);
}
