/**
 * The one contract every Azure resource the operator manages keeps (after Crossplane's external client):
 * observe, create, update, delete — each idempotent and non-blocking. `create` and `delete` only start
 * the ARM operation (long-running operations are never awaited by a worker); the next reconcile observes
 * provisioningState until the resource is ready or gone.
 *
 * Every resource has a name the operator derives deterministically, so re-issuing a create after a crash
 * is the same idempotent PUT and can never make a second resource. The "pending" mark recorded before a
 * create exists so that a resource found after a crash is known to be the operator's own (and so may be
 * deleted later), while one that existed before is adopted and never deleted.
 */
import { done, stalled, waiting, type Step } from '../runtime/step.ts';
import type { ResourceRecord, ResourceRecords } from './resource-ledger.ts';

export const MANAGED_BY_TAG = 'siterecovery-managed-by';
export const MANAGED_BY_VALUE = 'site-recovery-operator';
export const OWNER_TAG = 'siterecovery-owner';

export function managedTags(owner: string): Record<string, string> {
  return { [MANAGED_BY_TAG]: MANAGED_BY_VALUE, [OWNER_TAG]: owner };
}

export function hasManagedTag(tags: Record<string, string> | undefined): boolean {
  return tags?.[MANAGED_BY_TAG] === MANAGED_BY_VALUE;
}

export type Observation<T> =
  | { exists: false }
  | {
      exists: true;
      /** provisioningState Succeeded (or the type has none). */
      ready: boolean;
      /** provisioningState Failed: the create or update did not work. */
      failed?: boolean;
      /** Matches what is desired (only meaningful for resources the operator manages). */
      upToDate: boolean;
      /** Carries the operator's managed-by tag. */
      managedTag: boolean;
      resource: T;
      /** An operation the operator started on it still runs: look again after this long (its Retry-After). */
      retryAfterMs?: number;
    };

export interface ExternalResource<T> {
  /** What it is for, e.g. TargetStorageAccount; names the status entry. */
  readonly role: string;
  readonly id: string;
  /** False for resources the user named: observe only, never create, update or delete. */
  readonly manage: boolean;
  observe(): Promise<Observation<T>>;
  create(): Promise<void>;
  update(current: T): Promise<void>;
  delete(): Promise<void>;
}

/**
 * Drives one resource one step towards existing and up to date, recording in `ledger` what it is (created
 * by the operator, adopted, or pending creation). `persist` must durably write the ledger: it is called
 * with the pending mark in place before a create is sent (and throws if it cannot).
 */
export async function convergeResource<T>(resource: ExternalResource<T>, ledger: ResourceRecords, persist: () => Promise<void>): Promise<Step<T>> {
  let previous = ledger.get(resource.role, resource.id);
  let observation = await resource.observe();
  if (!observation.exists) {
    if (!resource.manage) return stalled(`${resource.role}NotFound`, `${resource.role} ${resource.id} does not exist`);
    const record: ResourceRecord = { role: resource.role, id: resource.id, created: true, pending: true };
    if (!previous?.pending) {
      ledger.set(record);
      await persist();
    }
    await resource.create();
    // Many ARM creates finish at once (synchronous PUTs); look again rather than waiting a whole poll.
    observation = await resource.observe();
    if (!observation.exists || !observation.ready) {
      ledger.set(record);
      return waiting(`Creating${resource.role}`, `creating ${resource.id}`, observation.exists ? observation.retryAfterMs : undefined);
    }
    previous = record;
  }
  const created = resource.manage && (previous?.created === true || (previous === undefined && observation.managedTag) || previous?.pending === true);
  ledger.set({ role: resource.role, id: resource.id, created });
  if (observation.failed) return stalled(`${resource.role}Failed`, `${resource.role} ${resource.id} is in provisioningState Failed`);
  if (!observation.ready) return waiting(`Creating${resource.role}`, `creating ${resource.id}`, observation.retryAfterMs);
  if (resource.manage && created && !observation.upToDate) {
    await resource.update(observation.resource);
    return waiting(`Updating${resource.role}`, `updating ${resource.id}`);
  }
  return done(undefined, observation.resource);
}

/** Deletes a resource the operator created; adopted ones are left alone. Returns true once it is gone. */
export async function removeResource<T>(resource: ExternalResource<T>, record: ResourceRecord | undefined): Promise<boolean> {
  if (!record?.created || !resource.manage) return true;
  const observation = await resource.observe();
  if (!observation.exists) return true;
  if (!observation.managedTag) return true; // someone replaced it with their own: never delete what is not ours
  await resource.delete();
  return false;
}
