// Microsoft.Network/applicationSecurityGroups: a named group of NIC IP configurations that security rules can
// name (NetworkInterfaceIPConfigurationPropertiesFormat.applicationSecurityGroups). Shapes from
// ApplicationSecurityGroup in specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/
// applicationSecurityGroup.json (Azure/azure-rest-api-specs): a tracked resource with a resourceGuid.
import type { ArmEngine, TypeHandler } from '../../engine.ts';
import { etag, normLocation } from '../../engine.ts';
import type { Json } from '../../store.ts';
import { clone, lroDelete, lroPut, newResource, putCompleter, trackedBody, uuid } from '../common.ts';
import { ASG, NS, invalidRef, removeCompleter } from './shared.ts';

function applicationSecurityGroupHandler(): TypeHandler {
  return {
    type: ASG,
    tracked: true,
    subscriptionList: true,
    render: (_e, r) => clone(r.body),
    async put(e, ctx, target) {
      const body = trackedBody(target, ASG, ctx.body);
      body.etag = etag();
      body.properties = { provisioningState: 'Updating', resourceGuid: target.existing?.body.properties.resourceGuid ?? uuid() };
      return lroPut(e, ctx, { res: newResource(target, ASG, body), created: !target.existing, kind: 'applicationSecurityGroups.put', ns: NS });
    },
    async delete(e, ctx, res) {
      return lroDelete(e, ctx, { res, kind: 'applicationSecurityGroups.delete', ns: NS });
    },
  };
}

/** The application security groups a NIC IP configuration names, each existing in the NIC's region (else InvalidResourceReference). */
export function applicationSecurityGroupsOf(engine: ArmEngine, nicId: string, location: string, cp: Json): string[] | undefined {
  const groups: unknown = cp.applicationSecurityGroups;
  if (!Array.isArray(groups) || groups.length === 0) return undefined;
  return groups.map((g: Json) => {
    const found = typeof g?.id === 'string' ? engine.store.get(g.id) : undefined;
    if (!found || found.type !== ASG || normLocation(found.body.location) !== location) throw invalidRef(String(g?.id), nicId);
    return found.id;
  });
}

export function registerApplicationSecurityGroups(engine: ArmEngine): void {
  engine.registerType(applicationSecurityGroupHandler());
  engine.registerCompleter('applicationSecurityGroups.put', putCompleter());
  engine.registerCompleter('applicationSecurityGroups.delete', removeCompleter);
}
