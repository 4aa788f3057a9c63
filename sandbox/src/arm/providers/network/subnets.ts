// Microsoft.Network/virtualNetworks/subnets: the child resource view of a subnet stored in its virtual
// network's body; PUT and DELETE change that body (with the network's location for the operation).
import type { ArmEngine, RequestContext, Target, TypeHandler } from '../../engine.ts';
import { parseCidr } from '../../ipv4.ts';
import { parentId } from '../../paths.ts';
import type { Json } from '../../store.ts';
import { assertNotBusy, lroDelete, uuid } from '../common.ts';
import { NS, SUBNET, findSubnet } from './shared.ts';
import { assertSubnetUnused, buildSubnet, checkSubnetOverlaps, renderSubnet, subnetView } from './subnet-rules.ts';

function subnetHandler(): TypeHandler {
  const h: TypeHandler = {
    type: SUBNET,
    tracked: false,
    render: (e, r) => renderSubnet(e, r.body),
    get(_e, _ctx, target: Target) {
      const vnet = target.parent!;
      const s = (vnet.body.properties.subnets as Json[]).find((x) => String(x.name).toLowerCase() === target.name.toLowerCase());
      return s ? subnetView(vnet, s) : undefined;
    },
    list: (_e, _ctx, parent) => (parent!.body.properties.subnets as Json[]).map((s) => subnetView(parent!, s)),
    async put(e, ctx: RequestContext, target) {
      const vnet = target.parent!;
      assertNotBusy(e, vnet.id);
      const spaces = (vnet.body.properties.addressSpace.addressPrefixes as string[]).map((p) => parseCidr(p)!);
      const prev = target.existing?.body;
      const s = buildSubnet(e, vnet.id, { ...ctx.body, name: target.name }, spaces, prev);
      s.properties.resourceGuid ??= uuid();
      const others = (vnet.body.properties.subnets as Json[]).filter((x) => x !== prev);
      checkSubnetOverlaps([...others, s]);
      s.properties.provisioningState = 'Updating';
      vnet.body.properties.subnets = prev
        ? (vnet.body.properties.subnets as Json[]).map((x) => (x === prev ? s : x))
        : [...others, s];
      e.store.save();
      const op = await e.startOperation({ kind: 'subnets.put', ns: NS, location: vnet.body.location, resourceId: s.id });
      const status = prev ? 200 : 201;
      if (op.status !== 'InProgress') {
        e.throwIfFailed(op);
        return { status, body: renderSubnet(e, s) };
      }
      return { status, body: renderSubnet(e, s), headers: e.asyncHeaders(op, ctx, { azureAsync: true, location: false }) };
    },
    async delete(e, ctx, res) {
      assertSubnetUnused(e, res.body);
      const vnet = e.store.get(parentId(res.id)!)!;
      return lroDelete(e, ctx, { res: { ...res, body: { ...res.body, location: vnet.body.location } }, kind: 'subnets.delete', ns: NS });
    },
  };
  return h;
}

export function registerSubnets(engine: ArmEngine): void {
  engine.registerType(subnetHandler());
  engine.registerCompleter('subnets.put', async (e, op) => {
    const found = findSubnet(e, op.resourceId);
    if (found) found.subnet.properties.provisioningState = 'Succeeded';
    e.store.save();
  });
  engine.registerCompleter('subnets.delete', async (e, op) => {
    const found = findSubnet(e, op.resourceId);
    if (found) {
      found.vnet.body.properties.subnets = (found.vnet.body.properties.subnets as Json[]).filter((s) => s !== found.subnet);
    }
    e.store.save();
  });
}
