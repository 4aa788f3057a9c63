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
import { managedTags, type ExternalResource, type Observation } from '../external-resource.ts';
import { TerminalError } from '../../runtime/reconcile-errors.ts';
import { deleteIgnoringNotFound, getOrUndefined, provisioningReady, startOperation, taggedFor } from './observe.ts';

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
  return {
    role: NETWORK_INTERFACE_ROLE,
    id: nicId,
    manage: true,
    async observe(): Promise<Observation<NetworkInterface>> {
      const nic = await getOrUndefined(() => az.network.networkInterfaces.get(resourceGroup, name));
      if (!nic) return { exists: false };
      return { exists: true, ...provisioningReady(nic.provisioningState), upToDate: true, managedTag: taggedFor(nic.tags, owner), resource: nic };
    },
    async create() {
      if (!placement) throw new Error(`network interface ${nicId}: no placement given, cannot create it`);
      if (!placement.privateIpAddress) return put(placement, 'Dynamic');
      try {
        await put(placement, 'Static');
      } catch (error) {
        const c = classifyAzureError(error);
        if (c.statusCode !== 400) throw error;
        const refusal = `${c.code ?? 'refused'}: ${c.message}`;
        if (placement.requireAddress) throw new TerminalError('PrivateIpUnavailable', `${placement.privateIpAddress} cannot be used in ${placement.subnetId}: ${refusal}`, { cause: error });
        await put(placement, 'Dynamic');
      }
    },
    async update() {},
    async delete() {
      await deleteIgnoringNotFound(() => startOperation(az.network.networkInterfaces.delete(resourceGroup, name)));
    },
  };
}
