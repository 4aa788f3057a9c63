// Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints: read-only, created by their
// restore point; exported through beginGetAccess like disks and snapshots.
import type { ArmEngine, TypeHandler } from '../../engine.ts';
import { parentId } from '../../paths.ts';
import type { StoredResource } from '../../store.ts';
import { clone, lroAction } from '../common.ts';
import { grantAccess, grantCompleter, revokeCompleter } from './disk-access.ts';
import { DRP, NS } from './shared.ts';

function diskRestorePointHandler(): TypeHandler {
  return {
    type: DRP,
    tracked: false,
    render: (_e, r) => {
      const out = clone(r.body);
      if (r.internal.sas) out.properties.diskRestorePointState = 'ActiveSAS';
      return out;
    },
    actions: {
      begingetaccess: { method: 'POST', run: (e, ctx, res) => grantAccess(e, ctx, withLocation(e, res), 'diskRestorePoints.beginGetAccess') },
      endgetaccess: {
        method: 'POST',
        run: (e, ctx, res) => lroAction(e, ctx, { res: withLocation(e, res), kind: 'diskRestorePoints.endGetAccess', ns: NS }),
      },
    },
  };
}

/** Disk restore points have no location of their own: operations use the collection's. */
function withLocation(engine: ArmEngine, drp: StoredResource): StoredResource {
  const rpcId = parentId(parentId(drp.id)!)!;
  const location = engine.store.get(rpcId)?.body.location ?? 'global';
  // Same object identity matters for internal state updates: only body is wrapped.
  return { ...drp, body: { ...drp.body, location } };
}

/** Registers disk restore points and the completers of their SAS export. */
export function registerDiskRestorePoints(engine: ArmEngine): void {
  engine.registerType(diskRestorePointHandler());
  engine.registerCompleter('diskRestorePoints.beginGetAccess', grantCompleter);
  engine.registerCompleter('diskRestorePoints.endGetAccess', async (e, op) => revokeCompleter(e, op));
}
