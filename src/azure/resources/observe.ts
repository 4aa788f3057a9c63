/**
 * Shared helpers for the ARM resource adapters of this folder: a GET that answers undefined for 404, a
 * delete that treats 404 as done, a long-running operation started without waiting (the next reconcile
 * observes its provisioningState instead of a pass blocking on it), and provisioningState read as ready
 * or failed. Kept here so every adapter observes Azure the same way.
 */
import { isAzureNotFound } from '../errors.ts';
import { OWNER_TAG, type ExternalResource, type Observation } from '../external-resource.ts';
import type { OperationStatus } from '../operation-polls.ts';

/** GET that answers undefined for 404 instead of throwing. */
export async function getOrUndefined<T>(get: () => Promise<T>): Promise<T | undefined> {
  try {
    return await get();
  } catch (error) {
    if (isAzureNotFound(error)) return undefined;
    throw error;
  }
}

/** Starts a long-running operation and returns once ARM accepted it, without waiting for it to finish. */
export async function startOperation(poller: { submitted(): Promise<void> }): Promise<void> {
  await poller.submitted();
}

/** Deletes, treating 404 as success. */
export async function deleteIgnoringNotFound(remove: () => Promise<unknown>): Promise<void> {
  try {
    await remove();
  } catch (error) {
    if (!isAzureNotFound(error)) throw error;
  }
}

export function provisioningReady(state: string | undefined): { ready: boolean; failed: boolean } {
  return { ready: state === undefined || state === 'Succeeded', failed: state === 'Failed' || state === 'Canceled' };
}

/** Whether a resource carries the owner tag of `owner` (it was created for that object, not another). */
export function taggedFor(tags: Record<string, string> | undefined, owner: string): boolean {
  return tags?.[OWNER_TAG] === owner;
}

/**
 * A resource one object creates for itself (a failover's disk, NIC or VM) under the contract: observed
 * through `get`, ours when it carries `owner`'s tag, created by `create` (absent when the resource is
 * known only by its id: observe and delete only), deleted through `remove`, never updated in place.
 */
export function ownedResource<T extends { provisioningState?: string; tags?: Record<string, string> }>(parts: {
  role: string;
  id: string;
  owner: string;
  get: () => Promise<T | undefined>;
  create?: () => Promise<void>;
  remove: () => { submitted(): Promise<void> };
  /** The operation last started on it, if one is followed (AzureClients.operationStatus). */
  operation?: () => Promise<OperationStatus | undefined>;
}): ExternalResource<T> {
  return {
    role: parts.role,
    id: parts.id,
    manage: true,
    async observe(): Promise<Observation<T>> {
      // The operation first (polled only once its Retry-After has passed), then the resource it acts on.
      const operation = await parts.operation?.();
      const resource = await parts.get();
      if (!resource) return { exists: false };
      const state = provisioningReady(resource.provisioningState);
      const running = operation?.running === true && !state.failed;
      return {
        exists: true,
        ...state,
        ready: state.ready && !running,
        upToDate: true,
        managedTag: taggedFor(resource.tags, parts.owner),
        resource,
        ...(running && operation.retryAfterMs !== undefined ? { retryAfterMs: operation.retryAfterMs } : {}),
      };
    },
    async create() {
      if (!parts.create) throw new Error(`${parts.role} ${parts.id} is known only by its id here: it cannot be created`);
      await parts.create();
    },
    async update() {},
    delete: () => deleteIgnoringNotFound(() => startOperation(parts.remove())),
  };
}
