/**
 * One step of convergence for one Azure resource, in the terms a reconciler reports: ready (carry on),
 * or a readiness to record and when to look again.
 */
import type { Readiness } from '../runtime/conditions.ts';
import { classifyAzureError } from '../azure/errors.ts';
import { ensureResource, type ExternalResource, type ResourceRecord } from '../azure/external-resource.ts';
import type { ResourceLedger } from './resource-ledger.ts';

/** How soon to look again at a resource ARM is still creating. */
export const CREATING_POLL_MS = 2_000;

export type StepResult<T> = { done: true; resource: T } | { done: false; readiness: Readiness; requeueAfterMs?: number };

export async function convergeResource<T>(
  resource: ExternalResource<T>,
  ledger: ResourceLedger,
  persist: () => Promise<void>,
): Promise<StepResult<T>> {
  const outcome = await ensureResource(resource, ledger.get(resource.role), async (pending: ResourceRecord) => {
    ledger.set(pending);
    await persist();
  });
  switch (outcome.state) {
    case 'ready':
      ledger.set(outcome.record);
      return { done: true, resource: outcome.resource };
    case 'creating':
    case 'updating':
      ledger.set(outcome.record);
      return {
        done: false,
        readiness: { state: 'progressing', reason: `${outcome.state === 'creating' ? 'Creating' : 'Updating'}${resource.role}`, message: `${outcome.state} ${resource.id}` },
        requeueAfterMs: CREATING_POLL_MS,
      };
    case 'missing':
      return { done: false, readiness: { state: 'stalled', reason: `${resource.role}NotFound`, message: outcome.message }, requeueAfterMs: 60_000 };
    case 'failed':
      ledger.set(outcome.record);
      return { done: false, readiness: { state: 'stalled', reason: `${resource.role}Failed`, message: outcome.message }, requeueAfterMs: 60_000 };
  }
}

/**
 * What an Azure error means for the object's conditions. Fatal errors (the request is wrong) stall until
 * the user changes something; retryable and unknown ones are shown while the controller backs off.
 */
export function readinessForAzureError(error: unknown, action: string): { readiness: Readiness; retry: boolean } {
  const c = classifyAzureError(error);
  const detail = `${action}: ${c.code ? `${c.code}: ` : ''}${c.message}`;
  if (c.class === 'fatal') return { readiness: { state: 'stalled', reason: 'AzureRequestRejected', message: detail }, retry: false };
  return { readiness: { state: 'progressing', reason: c.class === 'retryable' ? 'AzureRetrying' : 'AzureError', message: detail }, retry: true };
}
