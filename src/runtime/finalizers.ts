/**
 * Finalizers, written through merge patches guarded by resourceVersion (a stale object fails with a
 * conflict and is retried, instead of overwriting someone else's finalizer list).
 */
import { OPERATOR_FIELD_MANAGER } from '../api/contract.ts';
import { refOf, type CustomObject, type CustomResourceClient } from '../kube/custom-resources.ts';

export const FINALIZER = 'siterecovery.io/finalizer';

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
