// Microsoft.Network/routeTables: user-defined routes that subnets are associated with (SubnetPropertiesFormat.routeTable).
// Shapes from RouteTable / RouteTablePropertiesFormat / Route / RoutePropertiesFormat / RouteNextHopType in
// specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/routeTable.json (Azure/azure-rest-api-specs):
// a tracked resource whose routes (addressPrefix, nextHopType one of VirtualNetworkGateway | VnetLocal | Internet |
// VirtualAppliance | None, nextHopIpAddress "only allowed in routes where the next hop type is VirtualAppliance") are
// carried in its body, with disableBgpRoutePropagation and a read-only `subnets` (computed here from the networks,
// never stored twice). A route table in use by a subnet cannot be deleted (InUseRouteTableCannotBeDeleted).
import type { ArmEngine, TypeHandler } from '../../engine.ts';
import { etag } from '../../engine.ts';
import { badRequest } from '../../errors.ts';
import { parseCidr } from '../../ipv4.ts';
import { idKey } from '../../paths.ts';
import type { Json } from '../../store.ts';
import { clone, isObj, lroDelete, lroPut, newResource, putCompleter, ref, trackedBody, uuid } from '../common.ts';
import { NS, ROUTE_TABLE, VNET, removeCompleter } from './shared.ts';

const NEXT_HOP_TYPES = ['VirtualNetworkGateway', 'VnetLocal', 'Internet', 'VirtualAppliance', 'None'];

function route(tableId: string, r: Json): Json {
  const p = isObj(r.properties) ? r.properties : {};
  if (typeof r.name !== 'string' || !r.name) throw badRequest('InvalidRequestFormat', 'Route name is required.');
  if (typeof p.addressPrefix !== 'string' || !parseCidr(p.addressPrefix)) {
    throw badRequest('InvalidAddressPrefixFormat', `Address prefix ${String(p.addressPrefix)} of resource ${tableId}/routes/${r.name} is not formatted correctly. It should follow CIDR notation, for example 10.0.0.0/24.`);
  }
  if (!NEXT_HOP_TYPES.includes(p.nextHopType)) throw badRequest('InvalidRequestFormat', `Route ${r.name} has invalid next hop type ${String(p.nextHopType)}.`);
  if (p.nextHopIpAddress && p.nextHopType !== 'VirtualAppliance') {
    throw badRequest('RouteNextHopIpAddressNotAllowed', `Route ${r.name} has a next hop IP address, which is only allowed when the next hop type is VirtualAppliance.`);
  }
  if (!p.nextHopIpAddress && p.nextHopType === 'VirtualAppliance') {
    throw badRequest('InvalidRequestFormat', `Route ${r.name} has next hop type VirtualAppliance and no next hop IP address.`);
  }
  return {
    id: `${tableId}/routes/${r.name}`,
    name: r.name,
    etag: etag(),
    type: `${ROUTE_TABLE}/routes`,
    properties: { addressPrefix: p.addressPrefix, nextHopType: p.nextHopType, ...(p.nextHopIpAddress ? { nextHopIpAddress: p.nextHopIpAddress } : {}), hasBgpOverride: false, provisioningState: 'Succeeded' },
  };
}

/** The subnets (of every network) associated with route table `id`. */
function subnetsUsing(e: ArmEngine, id: string): Json[] {
  const k = idKey(id);
  return e.store
    .ofType(VNET)
    .flatMap((v) => v.body.properties.subnets as Json[])
    .filter((s) => s.properties.routeTable && idKey(s.properties.routeTable.id) === k);
}

function routeTableHandler(): TypeHandler {
  return {
    type: ROUTE_TABLE,
    tracked: true,
    subscriptionList: true,
    render(e, r) {
      const out = clone(r.body);
      const subnets = subnetsUsing(e, r.id);
      if (subnets.length) out.properties.subnets = subnets.map((s) => ref(s.id));
      return out;
    },
    async put(e, ctx, target) {
      const props = isObj(ctx.body.properties) ? ctx.body.properties : {};
      const routes: Json[] = Array.isArray(props.routes) ? props.routes : [];
      const body = trackedBody(target, ROUTE_TABLE, ctx.body);
      body.etag = etag();
      body.properties = {
        provisioningState: 'Updating',
        resourceGuid: target.existing?.body.properties.resourceGuid ?? uuid(),
        disableBgpRoutePropagation: Boolean(props.disableBgpRoutePropagation),
        routes: routes.map((r) => route(target.id, r)),
      };
      return lroPut(e, ctx, { res: newResource(target, ROUTE_TABLE, body), created: !target.existing, kind: 'routeTables.put', ns: NS });
    },
    async delete(e, ctx, res) {
      const user = subnetsUsing(e, res.id)[0];
      if (user) {
        throw badRequest(
          'InUseRouteTableCannotBeDeleted',
          `Route table ${res.id} is in use and cannot be deleted. In order to delete the route table, remove the association with the subnet(s): ${user.id}.`,
        );
      }
      return lroDelete(e, ctx, { res, kind: 'routeTables.delete', ns: NS });
    },
  };
}

export function registerRouteTables(engine: ArmEngine): void {
  engine.registerType(routeTableHandler());
  engine.registerCompleter('routeTables.put', putCompleter());
  engine.registerCompleter('routeTables.delete', removeCompleter);
}
