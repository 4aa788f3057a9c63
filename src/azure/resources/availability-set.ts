/**
 * The target availability set of a replicated VM (DESIGN §2: a target availability set matching the
 * source's fault and update domains), as an ExternalResource: observe / create / delete through ARM,
 * tagged as ours so that deleting replication removes only what the operator created. Created once and
 * never updated (the domain counts of an existing set cannot change).
 */
import type { AvailabilitySet } from '@azure/arm-compute';
import type { AzureClients } from '../clients.ts';
import { resourceId } from '../arm-id.ts';
import { hasManagedTag, managedTags, type ExternalResource, type Observation } from '../external-resource.ts';
import { deleteIgnoringNotFound, getOrUndefined } from './observe.ts';

export interface AvailabilitySetSpec {
  resourceGroup: string;
  name: string;
  location: string;
  owner: string;
  faultDomains: number;
  updateDomains: number;
}

export function availabilitySetResource(az: AzureClients, role: string, spec: AvailabilitySetSpec, manage = true): ExternalResource<AvailabilitySet> {
  return {
    role,
    id: resourceId(az.subscriptionId, spec.resourceGroup, 'Microsoft.Compute', 'availabilitySets', spec.name),
    manage,
    async observe(): Promise<Observation<AvailabilitySet>> {
      const set = await getOrUndefined(() => az.compute.availabilitySets.get(spec.resourceGroup, spec.name));
      if (!set) return { exists: false };
      return { exists: true, ready: true, upToDate: true, managedTag: hasManagedTag(set.tags), resource: set };
    },
    async create() {
      await az.compute.availabilitySets.createOrUpdate(spec.resourceGroup, spec.name, {
        location: spec.location,
        platformFaultDomainCount: spec.faultDomains,
        platformUpdateDomainCount: spec.updateDomains,
        sku: { name: 'Aligned' },
        tags: managedTags(spec.owner),
      });
    },
    async update() {},
    async delete() {
      await deleteIgnoringNotFound(() => az.compute.availabilitySets.delete(spec.resourceGroup, spec.name));
    },
  };
}
