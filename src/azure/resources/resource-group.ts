/**
 * The target resource group of a replicated VM (default `<source resource group>-asr`) as an
 * ExternalResource, tagged as ours. Its deletion is a long-running operation that is started, not awaited;
 * the reconcilers delete a group only when they created it and it is empty (resourceGroupIsEmpty), so
 * nothing a user put there is ever destroyed with it.
 */
import type { ResourceGroup } from '@azure/arm-resources';
import type { AzureClients } from '../clients.ts';
import { resourceGroupId } from '../arm-id.ts';
import { hasManagedTag, managedTags, type ExternalResource, type Observation } from '../external-resource.ts';
import { deleteIgnoringNotFound, getOrUndefined, provisioningReady, startOperation } from './observe.ts';

export function resourceGroupResource(az: AzureClients, role: string, name: string, location: string, owner: string, manage = true): ExternalResource<ResourceGroup> {
  return {
    role,
    id: resourceGroupId(az.subscriptionId, name),
    manage,
    async observe(): Promise<Observation<ResourceGroup>> {
      const group = await getOrUndefined(() => az.resources.resourceGroups.get(name));
      if (!group) return { exists: false };
      const state = provisioningReady(group.properties?.provisioningState);
      return { exists: true, ...state, upToDate: true, managedTag: hasManagedTag(group.tags), resource: group };
    },
    async create() {
      await az.resources.resourceGroups.createOrUpdate(name, { location, tags: managedTags(owner) });
    },
    async update() {},
    async delete() {
      await deleteIgnoringNotFound(() => startOperation(az.resources.resourceGroups.delete(name)));
    },
  };
}

/** True when the resource group holds no resources (so deleting it destroys nothing else). */
export async function resourceGroupIsEmpty(az: AzureClients, name: string): Promise<boolean> {
  for await (const _resource of az.resources.resources.listByResourceGroup(name)) return false;
  return true;
}
