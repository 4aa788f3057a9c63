// Microsoft.Network/virtualNetworks: address space (CIDR prefixes that must not overlap) and the subnets
// carried in the body; a subnet still used by a NIC cannot be removed, nor the network that holds it.
import type { ArmEngine, TypeHandler } from '../../engine.ts';
import { etag } from '../../engine.ts';
import { badRequest } from '../../errors.ts';
import { overlaps, parseCidr } from '../../ipv4.ts';
import { idKey } from '../../paths.ts';
import type { Json } from '../../store.ts';
import { clone, isObj, lroDelete, lroPut, newResource, putCompleter, trackedBody, uuid } from '../common.ts';
import { NS, VNET, removeCompleter } from './shared.ts';
import { assertSubnetUnused, buildSubnet, checkSubnetOverlaps, renderSubnet } from './subnet-rules.ts';

function virtualNetworkHandler(): TypeHandler {
  const h: TypeHandler = {
    type: VNET,
    tracked: true,
    subscriptionList: true,
    render(e, r) {
      const out = clone(r.body);
      out.properties.subnets = (r.body.properties.subnets as Json[]).map((s) => renderSubnet(e, s));
      return out;
    },
    async put(e, ctx, target) {
      const req = ctx.body;
      const props = isObj(req.properties) ? req.properties : {};
      const prefixes: unknown[] = props.addressSpace?.addressPrefixes ?? [];
      if (!Array.isArray(prefixes) || prefixes.length === 0) {
        throw badRequest('InvalidRequestFormat', 'Virtual network address space must contain at least one address prefix.');
      }
      const spaces = prefixes.map((p) => {
        const c = typeof p === 'string' ? parseCidr(p) : undefined;
        if (!c) {
          throw badRequest(
            'InvalidAddressPrefixFormat',
            `Address prefix ${String(p)} of resource ${target.id} is not formatted correctly. It should follow CIDR notation, for example 10.0.0.0/24.`,
          );
        }
        return c;
      });
      for (let i = 0; i < spaces.length; i++) {
        for (let j = i + 1; j < spaces.length; j++) {
          if (overlaps(spaces[i]!, spaces[j]!)) {
            throw badRequest('VnetAddressSpacesOverlap', `Address spaces ${String(prefixes[i])} and ${String(prefixes[j])} of virtual network ${target.name} overlap.`);
          }
        }
      }
      const prev = target.existing;
      const prevSubnets: Json[] = prev?.body.properties.subnets ?? [];
      const reqSubnets: Json[] = Array.isArray(props.subnets) ? props.subnets : [];
      const subnets = reqSubnets.map((s) =>
        buildSubnet(e, target.id, s, spaces, prevSubnets.find((p) => String(p.name).toLowerCase() === String(s?.name).toLowerCase())),
      );
      checkSubnetOverlaps(subnets);
      for (const old of prevSubnets) {
        if (!subnets.some((s) => idKey(s.id) === idKey(old.id))) assertSubnetUnused(e, old);
      }
      for (const s of subnets) s.properties.resourceGuid ??= uuid();
      const body = trackedBody(target, VNET, req);
      body.etag = etag();
      body.properties = {
        provisioningState: 'Updating',
        resourceGuid: prev?.body.properties.resourceGuid ?? uuid(),
        addressSpace: { addressPrefixes: clone(prefixes) },
        subnets,
        virtualNetworkPeerings: [],
        enableDdosProtection: Boolean(props.enableDdosProtection),
      };
      if (props.dhcpOptions) body.properties.dhcpOptions = clone(props.dhcpOptions);
      return lroPut(e, ctx, { res: newResource(target, VNET, body), created: !prev, kind: 'virtualNetworks.put', ns: NS });
    },
    async delete(e, ctx, res) {
      for (const s of res.body.properties.subnets as Json[]) assertSubnetUnused(e, s);
      return lroDelete(e, ctx, { res, kind: 'virtualNetworks.delete', ns: NS });
    },
  };
  return h;
}

export function registerVirtualNetworks(engine: ArmEngine): void {
  engine.registerType(virtualNetworkHandler());
  engine.registerCompleter('virtualNetworks.put', putCompleter());
  engine.registerCompleter('virtualNetworks.delete', removeCompleter);
}
