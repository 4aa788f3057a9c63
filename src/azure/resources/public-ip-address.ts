/**
 * Public IP addresses: the address a failed-over NIC's IP configuration gets when its source configuration
 * has one (ASR's default), through the observe / create / update / delete contract (`external-resource.ts`),
 * and reads of any address (a source's SKU, a target address the spec names).
 *
 * A failover creates a Standard, static IPv4 address in the target resource group: Standard addresses are
 * always static, and Basic addresses were retired on 30 September 2025 (learn.microsoft.com/azure/virtual-network/
 * ip-services/public-ip-basic-upgrade-guidance), so a source's Basic address gets a Standard one too. The name
 * is derived by the failover (a create re-sent after a crash is the same PUT). For a zonal VM the address is
 * zonal in the VM's zone, so it shares the VM's fate (Standard addresses are non-zonal, zonal with one zone or
 * zone-redundant with several: learn.microsoft.com/azure/virtual-network/ip-services/create-public-ip-template,
 * and since Network API 2020-08-01 an address created without zones is non-zonal:
 * azure.microsoft.com/updates/zone-behavior-change/). "Ours" means carrying the
 * owner tag of the request that created it. An address known only by its id (test cleanup) can be observed
 * and deleted, not created; it is deleted after the NIC using it (Azure refuses to delete an address in use).
 */
import type { PublicIPAddress } from '@azure/arm-network';
import type { AzureClients } from '../clients.ts';
import { parseArmId } from '../arm-id.ts';
import { managedTags, type ExternalResource } from '../external-resource.ts';
import { getOrUndefined, ownedResource, startOperation } from './observe.ts';

export const PUBLIC_IP_ROLE = 'PublicIpAddress';

export async function getPublicIpAddress(az: AzureClients, publicIpId: string): Promise<PublicIPAddress | undefined> {
  const id = parseArmId(publicIpId);
  return getOrUndefined(() => az.network.publicIPAddresses.get(id.resourceGroup, id.name));
}

/**
 * A failover's public IP address for `owner` in `location` (zonal in `zone` when the VM is); without `location`
 * (cleanup) it can be observed and deleted.
 */
export function publicIpAddressResource(az: AzureClients, publicIpId: string, owner: string, location?: string, zone?: string): ExternalResource<PublicIPAddress> {
  const { resourceGroup, name } = parseArmId(publicIpId);
  const create = (where: string) =>
    startOperation(
      az.network.publicIPAddresses.createOrUpdate(resourceGroup, name, {
        location: where,
        ...(zone ? { zones: [zone] } : {}),
        tags: managedTags(owner),
        sku: { name: 'Standard', tier: 'Regional' },
        publicIPAllocationMethod: 'Static',
        publicIPAddressVersion: 'IPv4',
      }),
    );
  return ownedResource({
    role: PUBLIC_IP_ROLE,
    id: publicIpId,
    owner,
    get: () => getOrUndefined(() => az.network.publicIPAddresses.get(resourceGroup, name)),
    ...(location ? { create: () => create(location) } : {}),
    remove: () => az.network.publicIPAddresses.delete(resourceGroup, name),
  });
}
