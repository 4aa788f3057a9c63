/**
 * Route tables: the mirror of a source subnet's route table that a NetworkMapping keeps in its target
 * resource group (the target subnet gets the same user-defined routes), as an ExternalResource — observe /
 * create / update / delete through ARM, tagged as ours. The mirror holds the source table's routes (name,
 * address prefix, next hop) and its BGP propagation setting; when the source routes change, the next pass
 * sees the mirror out of date and updates it. getRouteTable reads any table (the source, one a mapping names).
 */
import type { Route, RouteTable } from '@azure/arm-network';
import type { AzureClients } from '../clients.ts';
import { parseArmId, resourceId } from '../arm-id.ts';
import { hasManagedTag, managedTags, type ExternalResource, type Observation } from '../external-resource.ts';
import { deleteIgnoringNotFound, getOrUndefined, provisioningReady, startOperation } from './observe.ts';

export type MirroredRoute = Pick<Route, 'name' | 'addressPrefix' | 'nextHopType' | 'nextHopIpAddress'>;

export async function getRouteTable(az: AzureClients, routeTableId: string): Promise<RouteTable | undefined> {
  const id = parseArmId(routeTableId);
  return getOrUndefined(() => az.network.routeTables.get(id.resourceGroup, id.name));
}

/** The routes of `table` as a mirror carries them: what each route does, not its ids or state, by name. */
export function mirroredRoutes(table: RouteTable): MirroredRoute[] {
  return (table.routes ?? [])
    .map((r) => ({ name: r.name, addressPrefix: r.addressPrefix, nextHopType: r.nextHopType, ...(r.nextHopIpAddress ? { nextHopIpAddress: r.nextHopIpAddress } : {}) }))
    .sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''));
}

export interface RouteTableMirrorSpec {
  resourceGroup: string;
  name: string;
  location: string;
  owner: string;
  routes: MirroredRoute[];
  disableBgpRoutePropagation: boolean;
}

export function routeTableResource(az: AzureClients, role: string, spec: RouteTableMirrorSpec): ExternalResource<RouteTable> {
  const put = () =>
    startOperation(
      az.network.routeTables.createOrUpdate(spec.resourceGroup, spec.name, {
        location: spec.location,
        tags: managedTags(spec.owner),
        routes: spec.routes,
        disableBgpRoutePropagation: spec.disableBgpRoutePropagation,
      }),
    );
  return {
    role,
    id: resourceId(az.subscriptionId, spec.resourceGroup, 'Microsoft.Network', 'routeTables', spec.name),
    manage: true,
    async observe(): Promise<Observation<RouteTable>> {
      const table = await getOrUndefined(() => az.network.routeTables.get(spec.resourceGroup, spec.name));
      if (!table) return { exists: false };
      const upToDate = JSON.stringify(mirroredRoutes(table)) === JSON.stringify(spec.routes) && Boolean(table.disableBgpRoutePropagation) === spec.disableBgpRoutePropagation;
      return { exists: true, ...provisioningReady(table.provisioningState), upToDate, managedTag: hasManagedTag(table.tags), resource: table };
    },
    create: put,
    update: put,
    async delete() {
      await deleteIgnoringNotFound(() => startOperation(az.network.routeTables.delete(spec.resourceGroup, spec.name)));
    },
  };
}
