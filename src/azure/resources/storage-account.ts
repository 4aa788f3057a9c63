/**
 * The cache (source region) and target (target region) storage accounts of replication as
 * ExternalResources, tagged as ours, with safe defaults: StorageV2, HTTPS only, TLS 1.2, no public blob
 * access, no shared key (every data access is Entra ID: the processes' own tokens; docs/security.md). An
 * adopted account (spec.cacheStorageAccountId, targetStorageAccountId) is used as it is. Creation is a long-running operation started here and observed through provisioningState.
 */
import type { StorageAccount } from '@azure/arm-storage';
import type { AzureClients } from '../clients.ts';
import { resourceId } from '../arm-id.ts';
import { hasManagedTag, managedTags, type ExternalResource, type Observation } from '../external-resource.ts';
import { deleteIgnoringNotFound, getOrUndefined, provisioningReady, startOperation } from './observe.ts';

export interface StorageAccountSpec {
  resourceGroup: string;
  name: string;
  location: string;
  owner: string;
  /** Standard_LRS for cache accounts; replica accounts may use Premium_LRS. */
  sku?: string;
}

export function storageAccountResource(az: AzureClients, role: string, spec: StorageAccountSpec, manage = true): ExternalResource<StorageAccount> {
  return {
    role,
    id: resourceId(az.subscriptionId, spec.resourceGroup, 'Microsoft.Storage', 'storageAccounts', spec.name),
    manage,
    async observe(): Promise<Observation<StorageAccount>> {
      const account = await getOrUndefined(() => az.storage.storageAccounts.getProperties(spec.resourceGroup, spec.name));
      if (!account) return { exists: false };
      return { exists: true, ...provisioningReady(account.provisioningState), upToDate: true, managedTag: hasManagedTag(account.tags), resource: account };
    },
    async create() {
      await startOperation(
        az.storage.storageAccounts.create(spec.resourceGroup, spec.name, {
          location: spec.location,
          sku: { name: spec.sku ?? 'Standard_LRS' },
          kind: 'StorageV2',
          tags: managedTags(spec.owner),
          allowBlobPublicAccess: false,
          allowSharedKeyAccess: false,
          minimumTlsVersion: 'TLS1_2',
          enableHttpsTrafficOnly: true,
        }),
      );
    },
    async update() {},
    async delete() {
      await deleteIgnoringNotFound(() => az.storage.storageAccounts.delete(spec.resourceGroup, spec.name));
    },
  };
}
