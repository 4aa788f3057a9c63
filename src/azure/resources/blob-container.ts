/**
 * A blob container in a cache or target storage account (the VM's cache container, its replica container)
 * as an ExternalResource. Created through ARM, not the blob data plane, so the operator needs no data
 * rights on the accounts. Containers carry no tags, so observe reports them as managed.
 */
import type { BlobContainer } from '@azure/arm-storage';
import type { AzureClients } from '../clients.ts';
import { resourceId } from '../arm-id.ts';
import type { ExternalResource, Observation } from '../external-resource.ts';
import { deleteIgnoringNotFound, getOrUndefined } from './observe.ts';

/** A private blob container, created through ARM (management plane: no data-plane rights needed). */
export function blobContainerResource(az: AzureClients, role: string, resourceGroup: string, account: string, container: string): ExternalResource<BlobContainer> {
  return {
    role,
    id: resourceId(az.subscriptionId, resourceGroup, 'Microsoft.Storage', 'storageAccounts', account, 'blobServices', 'default', 'containers', container),
    manage: true,
    async observe(): Promise<Observation<BlobContainer>> {
      const found = await getOrUndefined(() => az.storage.blobContainers.get(resourceGroup, account, container));
      if (!found) return { exists: false };
      return { exists: true, ready: true, upToDate: true, managedTag: true, resource: found };
    },
    async create() {
      await az.storage.blobContainers.create(resourceGroup, account, container, { publicAccess: 'None' });
    },
    async update() {},
    async delete() {
      await deleteIgnoringNotFound(() => az.storage.blobContainers.delete(resourceGroup, account, container));
    },
  };
}
