// beginGetAccess / endGetAccess: a SAS URL to a disk's, snapshot's or disk restore point's content (Read,
// or Write while a disk is ready for upload), shared by the three types that export their data this way.
import type { ArmEngine, Reply, RequestContext } from '../../engine.ts';
import { conflict, invalidParameter } from '../../errors.ts';
import type { Json, StoredOperation, StoredResource } from '../../store.ts';
import { isObj, lroAction } from '../common.ts';
import { DISK, NS, isReady, notAllowed, notFoundRef, vmOfDisk } from './shared.ts';

export async function grantAccess(engine: ArmEngine, ctx: RequestContext, res: StoredResource, kind: string): Promise<Reply> {
  const body = isObj(ctx.body) ? ctx.body : {};
  const access = String(body.access ?? '');
  const duration = Number(body.durationInSeconds);
  if (!['Read', 'Write', 'None'].includes(access)) {
    throw invalidParameter(`The value '${access}' of parameter 'access' is not valid. Valid values are None, Read and Write.`, 'grantAccessData.access');
  }
  if (!Number.isInteger(duration) || duration <= 0) {
    throw invalidParameter("Required parameter 'durationInSeconds' must be a positive integer.", 'grantAccessData.durationInSeconds');
  }
  if (!isReady(res)) {
    throw conflict('Conflict', `Resource ${res.id} is not ready (provisioningState ${res.body.properties?.provisioningState}).`);
  }
  if (res.type === DISK) {
    const vm = vmOfDisk(engine, res.id);
    if (vm && vm.internal.powerState !== 'deallocated' && vm.internal.powerState !== 'stopped') {
      throw notAllowed(`Access not permitted because disk ${res.body.name} is currently attached to running VM ${vm.id}.`);
    }
    if (access === 'Write' && !res.internal.upload) {
      throw notAllowed(`Write access can only be granted to disk ${res.body.name} while it is ready for upload (createOption Upload).`);
    }
  } else if (access === 'Write') {
    throw notAllowed(`Write access cannot be granted to ${res.type.split('/').pop()} ${res.body.name}.`);
  }
  return lroAction(engine, ctx, { res, kind, ns: NS, params: { access, duration } });
}

/** Completer of beginGetAccess for disks, snapshots and disk restore points. */
export async function grantCompleter(engine: ArmEngine, op: StoredOperation): Promise<Json> {
  const res = engine.store.get(op.resourceId);
  if (!res) throw notFoundRef(op.resourceId);
  const { access, duration } = op.params as { access: string; duration: number };
  if (access === 'None') {
    delete res.internal.sas;
    engine.store.save();
    return { accessSAS: '' };
  }
  const sas = await engine.disks.sasUrl(res.id, access === 'Write' ? 'Write' : 'Read', duration);
  res.internal.sas = { access, expiresAt: new Date(Date.now() + duration * 1000).toISOString() };
  engine.store.save();
  return { accessSAS: sas };
}

export async function revokeCompleter(engine: ArmEngine, op: StoredOperation): Promise<void> {
  const res = engine.store.get(op.resourceId);
  if (!res) return;
  if (res.internal.sas && res.internal.upload) delete res.internal.upload; // upload finished
  delete res.internal.sas;
  engine.store.save();
}
