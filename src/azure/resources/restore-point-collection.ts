/**
 * The restore point collection of a source VM, in the source VM's region, as an ExternalResource: the
 * operator creates it when replication is enabled; the datapath creates each cycle's VM restore point in it
 * (agentless change capture, DESIGN §2) and removes the ones no longer needed as a diff base.
 */
import type { RestorePointCollection } from '@azure/arm-compute';
import type { AzureClients } from '../clients.ts';
import { resourceId } from '../arm-id.ts';
import { hasManagedTag, managedTags, type ExternalResource, type Observation } from '../external-resource.ts';
import { deleteIgnoringNotFound, getOrUndefined, provisioningReady, startOperation } from './observe.ts';

export interface RestorePointCollectionSpec {
  resourceGroup: string;
  name: string;
  /** Must be the source VM's region. */
  location: string;
  sourceVirtualMachineId: string;
  owner: string;
}

/** The collection the datapath creates each cycle's VM restore point in (change capture). */
export function restorePointCollectionResource(az: AzureClients, role: string, spec: RestorePointCollectionSpec): ExternalResource<RestorePointCollection> {
  return {
    role,
    id: resourceId(az.subscriptionId, spec.resourceGroup, 'Microsoft.Compute', 'restorePointCollections', spec.name),
    manage: true,
    async observe(): Promise<Observation<RestorePointCollection>> {
      const collection = await getOrUndefined(() => az.compute.restorePointCollections.get(spec.resourceGroup, spec.name));
      if (!collection) return { exists: false };
      return { exists: true, ...provisioningReady(collection.provisioningState), upToDate: true, managedTag: hasManagedTag(collection.tags), resource: collection };
    },
    async create() {
      await az.compute.restorePointCollections.createOrUpdate(spec.resourceGroup, spec.name, {
        location: spec.location,
        source: { id: spec.sourceVirtualMachineId },
        tags: managedTags(spec.owner),
      });
    },
    async update() {},
    async delete() {
      await deleteIgnoringNotFound(() => startOperation(az.compute.restorePointCollections.delete(spec.resourceGroup, spec.name)));
    },
  };
}
