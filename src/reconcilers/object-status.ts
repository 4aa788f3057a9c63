/**
 * Writing what a reconciler owns, and nothing else: status through server-side apply under the
 * operator's field manager (skipped when nothing changed, so a resync writes nothing), and finalizers
 * through merge patches guarded by resourceVersion.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Condition } from '../api/types.ts';
import { refOf, type CustomObject, type CustomResourceClient } from '../kube/custom-resources.ts';

export const OPERATOR_FIELD_MANAGER = 'site-recovery-operator';
export const FINALIZER = 'siterecovery.io/finalizer';

/** Condition types the operator writes; other writers (the datapath) own the rest. */
export const OPERATOR_CONDITIONS = new Set(['Ready', 'Reconciling', 'Stalled', 'ReplicationEnabled', 'Succeeded', 'Committed', 'Reprotected']);

type Status = Record<string, unknown> & { conditions?: Condition[] };

/** True when applying `desired` would change nothing the operator owns. */
export function statusUnchanged(current: Status | undefined, desired: Status): boolean {
  const now = current ?? {};
  for (const [key, value] of Object.entries(desired)) {
    if (key === 'conditions') continue;
    if (!isDeepStrictEqual(now[key], value)) return false;
  }
  const mine = (list: Condition[] | undefined) => (list ?? []).filter((c) => OPERATOR_CONDITIONS.has(c.type)).sort((a, b) => a.type.localeCompare(b.type));
  return isDeepStrictEqual(mine(now.conditions), mine(desired.conditions));
}

export async function applyStatus<T extends CustomObject>(client: CustomResourceClient<T>, object: T, desired: Status): Promise<T> {
  if (statusUnchanged(object.status as Status | undefined, desired)) return object;
  const conditions = (desired.conditions ?? []).filter((c) => OPERATOR_CONDITIONS.has(c.type));
  return client.applyStatus(refOf(object), { ...desired, conditions }, OPERATOR_FIELD_MANAGER);
}

export function isDeleting(object: CustomObject): boolean {
  return Boolean(object.metadata.deletionTimestamp);
}

export function hasFinalizer(object: CustomObject, finalizer = FINALIZER): boolean {
  return (object.metadata.finalizers ?? []).includes(finalizer);
}

export async function addFinalizer<T extends CustomObject>(client: CustomResourceClient<T>, object: T, finalizer = FINALIZER): Promise<T> {
  if (hasFinalizer(object, finalizer)) return object;
  const finalizers = [...(object.metadata.finalizers ?? []), finalizer];
  return client.mergePatch(refOf(object), { metadata: { finalizers, resourceVersion: object.metadata.resourceVersion } }, OPERATOR_FIELD_MANAGER);
}

export async function removeFinalizer<T extends CustomObject>(client: CustomResourceClient<T>, object: T, finalizer = FINALIZER): Promise<void> {
  if (!hasFinalizer(object, finalizer)) return;
  const finalizers = (object.metadata.finalizers ?? []).filter((f) => f !== finalizer);
  await client.mergePatch(refOf(object), { metadata: { finalizers, resourceVersion: object.metadata.resourceVersion } }, OPERATOR_FIELD_MANAGER);
}

/** Status fields the datapath writes (under its own field manager); the operator never sends them. */
export const DATAPATH_STATUS_KEYS = new Set(['replication', 'initialSync', 'rpoSeconds', 'rpo', 'lastRecoveryPoint', 'lastAppConsistentRecoveryPoint', 'health']);

/**
 * The part of `status` the operator owns. Server-side apply removes fields a manager stops sending, so
 * every operator write starts from this and changes only what it means to change.
 */
export function operatorOwnedStatus(status: object | undefined): Status {
  const out: Status = {};
  for (const [key, value] of Object.entries(status ?? {})) {
    if (DATAPATH_STATUS_KEYS.has(key)) continue;
    out[key] = key === 'conditions' ? (value as Condition[]).filter((c) => OPERATOR_CONDITIONS.has(c.type)) : value;
  }
  return out;
}
