// Microsoft.Compute/restorePointCollections: the container of a VM's restore points, in the VM's location.
// Deleting it deletes its restore points and their disk restore points' content.
import type { ArmEngine, RequestContext, TypeHandler } from '../../engine.ts';
import { normLocation } from '../../engine.ts';
import { invalidParameter } from '../../errors.ts';
import { idKey } from '../../paths.ts';
import type { Json, StoredResource } from '../../store.ts';
import { assertNotBusy, clone, deleteCompleter, isObj, lroDelete, newResource, trackedBody, uuid } from '../common.ts';
import { purgeRestorePoint, renderRp } from './restore-points.ts';
import { NS, RP, RPC, VM, notFoundRef, propertyChange } from './shared.ts';

function renderRpc(engine: ArmEngine, r: StoredResource, ctx?: RequestContext): Json {
  const out = clone(r.body);
  if (/restorePoints/i.test(ctx?.query.get('$expand') ?? '')) {
    out.properties.restorePoints = engine.store.children(r.id, RP).map((rp) => renderRp(engine, rp));
  }
  return out;
}

function restorePointCollectionHandler(): TypeHandler {
  return {
    type: RPC,
    tracked: true,
    subscriptionList: true,
    render: renderRpc,
    async put(e, ctx, target) {
      const req = ctx.body;
      const props = isObj(req.properties) ? req.properties : {};
      const existing = target.existing;
      const location = normLocation(req.location);
      const srcId: unknown = props.source?.id ?? existing?.body.properties.source.id;
      if (typeof srcId !== 'string') throw invalidParameter("Required parameter 'source.id' is missing (null).", 'source.id');
      if (existing && idKey(srcId) !== idKey(existing.body.properties.source.id)) throw propertyChange('source.id');
      let source = existing?.body.properties.source;
      if (!existing) {
        const vm = e.store.get(srcId);
        if (!vm || vm.type !== VM) throw notFoundRef(srcId);
        if (vm.body.location !== location) {
          throw invalidParameter(`Restore point collection must be in the location of its source VM ('${vm.body.location}').`, 'location');
        }
        source = { id: vm.id, location: vm.body.location };
      }
      const body = trackedBody(target, RPC, req);
      body.properties = {
        source,
        provisioningState: 'Succeeded',
        restorePointCollectionId: existing?.body.properties.restorePointCollectionId ?? uuid(),
      };
      const res = newResource(target, RPC, body);
      e.store.put(res);
      e.store.save();
      return { status: existing ? 200 : 201, body: renderRpc(e, res, ctx) };
    },
    async delete(e, ctx, res) {
      for (const rp of e.store.children(res.id, RP)) assertNotBusy(e, rp.id);
      return lroDelete(e, ctx, { res, kind: 'restorePointCollections.delete', ns: NS });
    },
    async purge(e, res) {
      for (const rp of e.store.children(res.id, RP)) await purgeRestorePoint(e, rp);
    },
  };
}

/** Registers restore point collections and the completer of their deletion. */
export function registerRestorePointCollections(engine: ArmEngine): void {
  engine.registerType(restorePointCollectionHandler());
  engine.registerCompleter(
    'restorePointCollections.delete',
    deleteCompleter(async (e, rpc) => {
      for (const rp of e.store.children(rpc.id, RP)) {
        await purgeRestorePoint(e, rp);
        e.store.delete(rp.id);
      }
    }),
  );
}
