/**
 * Network interfaces: the NIC of a failed-over VM through the observe / create / update / delete contract
 * (`external-resource.ts`), and reads of any NIC.
 *
 * A failover NIC keeps the source VM's private IP when it can: the create asks for it as a static address
 * and, when Azure refuses it (taken, outside the subnet, reserved), asks again for a dynamic one (the next
 * free address) — unless the user named the address explicitly: that is a promise, and the refusal ends
 * the request (`PrivateIpUnavailable`) rather than silently using another address.
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

export interface NicPlacement {
  location: string;
  subnetId: string;
  /** Keep this address when it is free in the subnet; else the next free one (unless `requireAddress`). */
  privateIpAddress?: string;
  /** The user named the address: refuse (TerminalError PrivateIpUnavailable) rather than take another. */
  requireAddress?: boolean;
  /** Accelerated networking, as the source NIC has it. */
  acceleratedNetworking?: boolean;
}

export const NETWORK_INTERFACE_ROLE = 'NetworkInterface';

/** A NIC for `owner`; without `placement` (known only by its id, for cleanup) it can be observed and deleted. */
export function networkInterfaceResource(az: AzureClients, nicId: string, owner: string, placement?: NicPlacement): ExternalResource<NetworkInterface> {
  const { resourceGroup, name } = parseArmId(nicId);
  const put = (p: NicPlacement, allocation: 'Static' | 'Dynamic') =>
    startOperation(
      az.network.networkInterfaces.createOrUpdate(resourceGroup, name, {
        location: p.location,
        tags: managedTags(owner),
        ...(p.acceleratedNetworking ? { enableAcceleratedNetworking: true } : {}),
        ipConfigurations: [
          {
            name: 'ipconfig1',
            primary: true,
            subnet: { id: p.subnetId },
            privateIPAllocationMethod: allocation,
            ...(allocation === 'Static' ? { privateIPAddress: p.privateIpAddress } : {}),
          },
        ],
      }),
    );
  /** Static with the address asked for; on a refusal, dynamic (the next free one) unless the address is required. */
  const create = async (p: NicPlacement) => {
    if (!p.privateIpAddress) return put(p, 'Dynamic');
    try {
      await put(p, 'Static');
    } catch (error) {
      const c = classifyAzureError(error);
      if (c.statusCode !== 400) throw error;
      const refusal = `${c.code ?? 'refused'}: ${c.message}`;
      if (p.requireAddress) throw new TerminalError('PrivateIpUnavailable', `${p.privateIpAddress} cannot be used in ${p.subnetId}: ${refusal}`, { cause: error });
      await put(p, 'Dynamic');
    }
  };
  return ownedResource({
    role: NETWORK_INTERFACE_ROLE,
    id: nicId,
    owner,
    get: () => getOrUndefined(() => az.network.networkInterfaces.get(resourceGroup, name)),
    ...(placement ? { create: () => create(placement) } : {}),
    remove: () => az.network.networkInterfaces.delete(resourceGroup, name),
  });
}
