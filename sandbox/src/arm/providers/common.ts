// Shared mechanics of resource handlers: tracked-resource bodies, LRO PUT / DELETE / POST replies.
import crypto from 'node:crypto';
import type { ArmEngine, Completer, Reply, RequestContext, Target } from '../engine.ts';
import { normLocation } from '../engine.ts';
import { anotherOperationInProgress } from '../errors.ts';
import type { Json, StoredOperation, StoredResource } from '../store.ts';

export const clone = <T>(v: T): T => (v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T));

export const uuid = (): string => crypto.randomUUID();

/** Skeleton of a tracked resource body. */
export function trackedBody(target: Target, type: string, req: Json): Json {
  const body: Json = { id: target.id, name: target.name, type, location: normLocation(req.location) };
  if (req.tags && typeof req.tags === 'object') body.tags = clone(req.tags);
  return body;
}

export function newResource(target: Target, type: string, body: Json, internal: Json = {}): StoredResource {
  return { id: target.id, type, resourceGroup: target.rg, body, internal };
}

export function assertNotBusy(engine: ArmEngine, id: string): void {
  const op = engine.busyOp(id);
  if (op) throw anotherOperationInProgress(id, op.kind);
}

/**
 * Stores `res` (provisioningState already Creating/Updating) and starts `kind`; answers 201 (created) /
 * 200 with Azure-AsyncOperation while running, or the final state when the operation completed at once.
 */
export async function lroPut(
  engine: ArmEngine,
  ctx: RequestContext,
  args: { res: StoredResource; created: boolean; kind: string; ns: string; location?: boolean; params?: Json },
): Promise<Reply> {
  engine.store.put(args.res);
  engine.store.save();
  const op = await engine.startOperation({
    kind: args.kind,
    ns: args.ns,
    location: args.res.body.location,
    resourceId: args.res.id,
    params: args.params,
  });
  const h = engine.handler(args.res.type)!;
  if (op.status !== 'InProgress') {
    engine.throwIfFailed(op);
    const now = engine.store.get(args.res.id) ?? args.res;
    return { status: args.created ? 201 : 200, body: h.render(engine, now, ctx) };
  }
  return {
    status: args.created ? 201 : 200,
    body: h.render(engine, args.res, ctx),
    headers: engine.asyncHeaders(op, ctx, { azureAsync: true, location: args.location ?? false }),
  };
}

/** Starts a delete operation: 202 + Location (+ Azure-AsyncOperation), or 200 when done at once. */
export async function lroDelete(
  engine: ArmEngine,
  ctx: RequestContext,
  args: { res: StoredResource; kind: string; ns: string; azureAsync?: boolean; params?: Json },
): Promise<Reply> {
  assertNotBusy(engine, args.res.id);
  if (args.res.body.properties) args.res.body.properties.provisioningState = 'Deleting';
  const reply = await lroAction(engine, ctx, args);
  // A delete that finished at once answers 200 without a body.
  return reply.status === 200 ? { status: 200 } : reply;
}

/** Starts a POST action: 202 + Location (+ Azure-AsyncOperation), or 200 with the result when done at once. */
export async function lroAction(
  engine: ArmEngine,
  ctx: RequestContext,
  args: { res: StoredResource; kind: string; ns: string; azureAsync?: boolean; params?: Json },
): Promise<Reply> {
  assertNotBusy(engine, args.res.id);
  const op = await engine.startOperation({
    kind: args.kind,
    ns: args.ns,
    location: args.res.body.location ?? 'global',
    resourceId: args.res.id,
    params: args.params,
  });
  if (op.status !== 'InProgress') {
    engine.throwIfFailed(op);
    return op.result === undefined ? { status: 200 } : { status: 200, body: op.result };
  }
  return { status: 202, headers: engine.asyncHeaders(op, ctx, { azureAsync: args.azureAsync ?? true, location: true }) };
}

/** Completer for a PUT: runs `work`, then marks the resource Succeeded (Failed if work throws). */
export function putCompleter(
  work?: (engine: ArmEngine, res: StoredResource, op: StoredOperation) => Promise<void>,
): Completer {
  return async (engine, op) => {
    const res = engine.store.get(op.resourceId);
    if (!res) return;
    try {
      if (work) await work(engine, res, op);
      res.body.properties.provisioningState = 'Succeeded';
    } catch (e) {
      res.body.properties.provisioningState = 'Failed';
      throw e;
    } finally {
      engine.store.save();
    }
  };
}

/** Completer for a DELETE: runs `work` (cleanup) and removes the resource. */
export function deleteCompleter(
  work?: (engine: ArmEngine, res: StoredResource, op: StoredOperation) => Promise<void>,
): Completer {
  return async (engine, op) => {
    const res = engine.store.get(op.resourceId);
    if (!res) return;
    try {
      if (work) await work(engine, res, op);
      engine.store.delete(res.id);
    } catch (e) {
      if (res.body.properties) res.body.properties.provisioningState = 'Succeeded';
      throw e;
    } finally {
      engine.store.save();
    }
  };
}

export const ref = (id: string): { id: string } => ({ id });

export const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
