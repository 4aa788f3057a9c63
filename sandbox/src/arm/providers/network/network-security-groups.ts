// Microsoft.Network/networkSecurityGroups: user rules plus Azure's six default rules; the NICs and subnets
// using a group are computed, and a group in use cannot be deleted. A rule's source/destination application
// security groups (SecurityRulePropertiesFormat in networkSecurityGroup.json, 2024-05-01) must exist in the
// group's region (else InvalidResourceReference, as for a NIC's).
import type { ArmEngine, TypeHandler } from '../../engine.ts';
import { etag, normLocation } from '../../engine.ts';
import { badRequest } from '../../errors.ts';
import { idKey } from '../../paths.ts';
import type { Json } from '../../store.ts';
import { clone, isObj, lroDelete, lroPut, newResource, putCompleter, ref, trackedBody, uuid } from '../common.ts';
import { ASG, NIC, NS, NSG, VNET, invalidRef, removeCompleter } from './shared.ts';

const DEFAULT_RULES: [string, string, string, number, string, string, string][] = [
  ['AllowVnetInBound', 'Allow inbound traffic from all VMs in VNET', 'Inbound', 65000, 'Allow', 'VirtualNetwork', 'VirtualNetwork'],
  ['AllowAzureLoadBalancerInBound', 'Allow inbound traffic from azure load balancer', 'Inbound', 65001, 'Allow', 'AzureLoadBalancer', '*'],
  ['DenyAllInBound', 'Deny all inbound traffic', 'Inbound', 65500, 'Deny', '*', '*'],
  ['AllowVnetOutBound', 'Allow outbound traffic from all VMs to all VMs in VNET', 'Outbound', 65000, 'Allow', 'VirtualNetwork', 'VirtualNetwork'],
  ['AllowInternetOutBound', 'Allow outbound traffic from all VMs to Internet', 'Outbound', 65001, 'Allow', '*', 'Internet'],
  ['DenyAllOutBound', 'Deny all outbound traffic', 'Outbound', 65500, 'Deny', '*', '*'],
];

function securityRule(engine: ArmEngine, location: string, nsgId: string, collection: string, r: Json): Json {
  const p = isObj(r.properties) ? r.properties : {};
  if (typeof r.name !== 'string' || !r.name) throw badRequest('InvalidRequestFormat', 'Security rule name is required.');
  const priority = Number(p.priority);
  if (collection === 'securityRules' && (!Number.isInteger(priority) || priority < 100 || priority > 4096)) {
    throw badRequest(
      'SecurityRuleInvalidPriority',
      `Security rule ${r.name} has invalid priority ${String(p.priority)}. Value provided: ${String(p.priority)} Allowed range 100-4096.`,
    );
  }
  if (!['Inbound', 'Outbound'].includes(p.direction)) {
    throw badRequest('SecurityRuleInvalidDirection', `Security rule ${r.name} has invalid direction ${String(p.direction)}.`);
  }
  if (!['Allow', 'Deny'].includes(p.access)) {
    throw badRequest('SecurityRuleInvalidAccess', `Security rule ${r.name} has invalid access ${String(p.access)}.`);
  }
  for (const key of ['sourceApplicationSecurityGroups', 'destinationApplicationSecurityGroups']) {
    const groups: unknown = p[key];
    if (!Array.isArray(groups)) continue;
    for (const g of groups as Json[]) {
      const found = typeof g?.id === 'string' ? engine.store.get(g.id) : undefined;
      if (!found || found.type !== ASG || normLocation(found.body.location) !== location) throw invalidRef(String(g?.id), `${nsgId}/${collection}/${r.name}`);
    }
  }
  return {
    id: `${nsgId}/${collection}/${r.name}`,
    name: r.name,
    etag: etag(),
    type: `${NSG}/${collection}`,
    properties: { protocol: '*', sourcePortRange: '*', destinationPortRange: '*', ...clone(p), priority, provisioningState: 'Succeeded' },
  };
}

function networkSecurityGroupHandler(): TypeHandler {
  const h: TypeHandler = {
    type: NSG,
    tracked: true,
    subscriptionList: true,
    render(e, r) {
      const out = clone(r.body);
      const k = idKey(r.id);
      const nics = e.store.ofType(NIC).filter((n) => n.body.properties.networkSecurityGroup && idKey(n.body.properties.networkSecurityGroup.id) === k);
      if (nics.length) out.properties.networkInterfaces = nics.map((n) => ref(n.id));
      const subnets = e.store
        .ofType(VNET)
        .flatMap((v) => v.body.properties.subnets as Json[])
        .filter((s) => s.properties.networkSecurityGroup && idKey(s.properties.networkSecurityGroup.id) === k);
      if (subnets.length) out.properties.subnets = subnets.map((s) => ref(s.id));
      return out;
    },
    async put(e, ctx, target) {
      const req = ctx.body;
      const props = isObj(req.properties) ? req.properties : {};
      const rules: Json[] = Array.isArray(props.securityRules) ? props.securityRules : [];
      const body = trackedBody(target, NSG, req);
      body.etag = etag();
      body.properties = {
        provisioningState: 'Updating',
        resourceGuid: target.existing?.body.properties.resourceGuid ?? uuid(),
        securityRules: rules.map((r) => securityRule(e, body.location, target.id, 'securityRules', r)),
        defaultSecurityRules: DEFAULT_RULES.map(([name, description, direction, priority, access, src, dst]) =>
          securityRule(e, body.location, target.id, 'defaultSecurityRules', {
            name,
            properties: {
              description,
              protocol: '*',
              sourcePortRange: '*',
              destinationPortRange: '*',
              sourceAddressPrefix: src,
              destinationAddressPrefix: dst,
              access,
              priority,
              direction,
            },
          }),
        ),
      };
      return lroPut(e, ctx, { res: newResource(target, NSG, body), created: !target.existing, kind: 'networkSecurityGroups.put', ns: NS });
    },
    async delete(e, ctx, res) {
      const rendered = h.render(e, res);
      const user = rendered.properties.networkInterfaces?.[0]?.id ?? rendered.properties.subnets?.[0]?.id;
      if (user) {
        throw badRequest(
          'InUseNetworkSecurityGroupCannotBeDeleted',
          `Network security group ${res.id} cannot be deleted because it is in use by the following resources: ${user}. In order to delete the Network security group, remove the association with the resource(s).`,
        );
      }
      return lroDelete(e, ctx, { res, kind: 'networkSecurityGroups.delete', ns: NS });
    },
  };
  return h;
}

export function registerNetworkSecurityGroups(engine: ArmEngine): void {
  engine.registerType(networkSecurityGroupHandler());
  engine.registerCompleter('networkSecurityGroups.put', putCompleter());
  engine.registerCompleter('networkSecurityGroups.delete', removeCompleter);
}
