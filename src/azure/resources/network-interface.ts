import type { NetworkInterface } from '@azure/arm-network';
import type { AzureClients } from '../clients.ts';
import { parseArmId } from '../arm-id.ts';
import { getOrUndefined } from './observe.ts';

export async function getNetworkInterface(az: AzureClients, nicId: string): Promise<NetworkInterface | undefined> {
  const id = parseArmId(nicId);
  return getOrUndefined(() => az.network.networkInterfaces.get(id.resourceGroup, id.name));
}

/** The virtual network id a subnet id belongs to. */
export function networkOfSubnet(subnetId: string): string {
  return subnetId.replace(/\/subnets\/[^/]+$/i, '');
}
