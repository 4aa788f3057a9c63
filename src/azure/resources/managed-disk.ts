/**
 * A managed disk of a failed-over VM, imported from a recovery point's replica blob snapshot, through the
 * observe / create / update / delete contract (`external-resource.ts`), with the disk type asked for and,
 * for the OS disk, the generation and (Trusted Launch) security type the VM it is attached to needs; a disk
 * whose source has a customer-managed key is encrypted with the target disk encryption set.
 *
 * The failover derives the disk's name (per request, so a failback beside an earlier failover's disks
 * never collides): a create re-sent after a crash is the same PUT. "Ours" means carrying the owner tag of
 * the request that imported it. A disk known only by its id (test cleanup) can be observed and deleted,
 * not created.
 */
import type { Disk, KnownDiskStorageAccountTypes } from '@azure/arm-compute';
import type { AzureClients } from '../clients.ts';
import { parseArmId } from '../arm-id.ts';
import { managedTags, type ExternalResource } from '../external-resource.ts';
import { getOrUndefined, ownedResource, startOperation } from './observe.ts';

/** Where a disk is imported from, and where it goes. */
export interface DiskImport {
  location: string;
  /** The replica blob snapshot: `<blobUrl>?snapshot=<timestamp>`. */
  sourceUri: string;
  storageAccountId: string;
  osType?: 'Linux' | 'Windows';
  zone?: string;
  /** The managed disk SKU (Premium_LRS, Standard_LRS, ...). */
  diskType: string;
  /** An OS disk's generation: V2 for a Gen2 VM (Trusted Launch needs it). */
  hyperVGeneration?: 'V1' | 'V2';
  /** An OS disk of a Trusted Launch VM is imported with securityProfile.securityType TrustedLaunch. */
  trustedLaunch?: boolean;
  /** Encrypt with this disk encryption set (a customer-managed key in the target region). */
  diskEncryptionSetId?: string;
}

export const DISK_ROLE = 'Disk';

const isZoneRedundant = (diskType: string): boolean => diskType.endsWith('_ZRS');

export function managedDiskResource(az: AzureClients, diskId: string, owner: string, source?: DiskImport): ExternalResource<Disk> {
  const { resourceGroup, name } = parseArmId(diskId);
  const create = async (from: DiskImport) => {
    await startOperation(
      az.compute.disks.createOrUpdate(resourceGroup, name, {
        location: from.location,
        tags: managedTags(owner),
        sku: { name: from.diskType as KnownDiskStorageAccountTypes },
        // A zone-redundant disk (…_ZRS) is created in no zone and attaches to a VM in any zone
        // (learn.microsoft.com/azure/virtual-machines/disks-deploy-zrs); a locally redundant one in the VM's.
        ...(from.zone && !isZoneRedundant(from.diskType) ? { zones: [from.zone] } : {}),
        ...(from.osType ? { osType: from.osType } : {}),
        ...(from.hyperVGeneration ? { hyperVGeneration: from.hyperVGeneration } : {}),
        ...(from.trustedLaunch ? { securityProfile: { securityType: 'TrustedLaunch' } } : {}),
        ...(from.diskEncryptionSetId ? { encryption: { type: 'EncryptionAtRestWithCustomerKey', diskEncryptionSetId: from.diskEncryptionSetId } } : {}),
        // No diskSizeGB: an imported disk takes the size of its source blob (a size here would be a resize).
        // storageAccountId is the full ARM id of the account holding the blob ("Required if createOption is Import.
        // The Azure Resource Manager identifier of the storage account containing the blob to import as a disk",
        // https://learn.microsoft.com/en-us/python/api/azure-mgmt-compute/azure.mgmt.compute.models.creationdata):
        // it may be in another subscription than the disk's (a VM failing over into spec.targetSubscriptionId
        // imports from the replica account of the source's subscription).
        creationData: { createOption: 'Import', sourceUri: from.sourceUri, storageAccountId: from.storageAccountId },
      }),
    );
  };
  return ownedResource({
    role: DISK_ROLE,
    id: diskId,
    owner,
    get: () => getOrUndefined(() => az.compute.disks.get(resourceGroup, name)),
    ...(source ? { create: () => create(source) } : {}),
    remove: () => az.compute.disks.delete(resourceGroup, name),
    operation: () => az.operationStatus(diskId),
  });
}
