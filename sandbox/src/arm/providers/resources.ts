// Microsoft.Resources/resourceGroups.
import type { ArmEngine, RequestContext, TypeHandler } from '../engine.ts';
import { normLocation } from '../engine.ts';
import { ArmError } from '../errors.ts';
import type { StoredResource } from '../store.ts';
import { clone, isObj, lroDelete } from './common.ts';

export const RESOURCE_GROUP = 'Microsoft.Resources/resourceGroups';

/** Order in which a resource group's resources are removed (dependents first). */
const DELETE_ORDER = [
  'microsoft.compute/virtualmachines',
  'microsoft.compute/restorepointcollections/restorepoints',
  'microsoft.compute/restorepointcollections',
  'microsoft.network/networkinterfaces',
  'microsoft.compute/snapshots',
  'microsoft.compute/disks',
  'microsoft.compute/availabilitysets',
  'microsoft.network/virtualnetworks',
  'microsoft.network/networksecuritygroups',
  'microsoft.storage/storageaccounts',
];

export function registerResources(engine: ArmEngine): void {
  const render = (_e: ArmEngine, r: StoredResource) => clone(r.body);
  const handler: TypeHandler = {
    type: RESOURCE_GROUP,
    tracked: true,
    render,
    list: (e) => e.store.ofType(RESOURCE_GROUP),
    async put(e, ctx, target) {
      const req = ctx.body;
      if (!isObj(req) || !req.location) {
        throw new ArmError(400, 'LocationRequired', 'The location property is required for this definition.');
      }
      const location = normLocation(req.location);
      const existing = target.existing;
      if (existing) {
        if (existing.body.properties.provisioningState === 'Deleting') {
          throw new ArmError(409, 'ResourceGroupBeingDeleted', `The resource group '${existing.body.name}' is in deprovisioning state and cannot perform this operation.`);
        }
        if (existing.body.location !== location) {
          throw new ArmError(
            409,
            'InvalidResourceGroupLocation',
            `Invalid resource group location '${location}'. The Resource group already exists in location '${existing.body.location}'.`,
          );
        }
        existing.body.tags = isObj(req.tags) ? clone(req.tags) : undefined;
        if (req.managedBy) existing.body.managedBy = req.managedBy;
        e.store.save();
        return { status: 200, body: render(e, existing) };
      }
      if (!/^[-\w._()]{1,90}$/.test(target.name) || target.name.endsWith('.')) {
        throw new ArmError(400, 'InvalidResourceGroup', `The provided resource group name '${target.name}' has these invalid characters. The name can only be a letter, digit, '-', '.', '(', ')' or '_'.`);
      }
      const body = {
        id: target.id,
        name: target.name,
        type: RESOURCE_GROUP,
        location,
        ...(isObj(req.tags) ? { tags: clone(req.tags) } : {}),
        ...(req.managedBy ? { managedBy: req.managedBy } : {}),
        properties: { provisioningState: 'Succeeded' },
      };
      const res: StoredResource = { id: target.id, type: RESOURCE_GROUP, resourceGroup: target.name, body, internal: {} };
      e.store.put(res);
      e.store.save();
      return { status: 201, body: render(e, res) };
    },
    async patch(e, ctx: RequestContext, res) {
      if (isObj(ctx.body) && isObj(ctx.body.tags)) res.body.tags = clone(ctx.body.tags);
      e.store.save();
      return { status: 200, body: render(e, res) };
    },
    async delete(e, ctx, res) {
      if (res.body.properties.provisioningState === 'Deleting') {
        // Already being deleted: report the running operation again.
        const op = [...e.store.operations.values()].find((o) => o.status === 'InProgress' && o.resourceId === res.id);
        if (op) return { status: 202, headers: e.asyncHeaders(op, ctx, { azureAsync: false, location: true }) };
      }
      return lroDelete(e, ctx, { res, kind: 'resourceGroups.delete', ns: 'Microsoft.Resources', azureAsync: false });
    },
  };
  engine.registerType(handler);

  engine.registerCompleter('resourceGroups.delete', async (e, op) => {
    const rg = e.store.get(op.resourceId);
    if (!rg) return;
    // The group's own resources: of its subscription (a group of the same name in another subscription is another group).
    const prefix = `${rg.id.toLowerCase()}/`;
    const members = e.store.all().filter((r) => r.type !== RESOURCE_GROUP && r.id.toLowerCase().startsWith(prefix));
    const rank = (t: string): number => {
      const i = DELETE_ORDER.indexOf(t.toLowerCase());
      return i < 0 ? DELETE_ORDER.length : i;
    };
    members.sort((a, b) => rank(a.type) - rank(b.type));
    for (const r of members) {
      await e.handler(r.type)?.purge?.(e, r);
      e.store.delete(r.id);
    }
    e.store.delete(rg.id);
    e.store.save();
  });
}
