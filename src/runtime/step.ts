/**
 * The one answer every step of every reconciler gives to "is this done yet?" (after controller-runtime's
 * four reconcile outcomes and Crossplane's linear managed reconciler):
 *
 * - done:    the step reached its goal; carry on with the next (with what it produced, if anything);
 * - waiting: Azure or another writer is still working; record the reason and look again after
 *            `requeueAfterMs` (a long-running operation is polled this way, never awaited by a worker);
 * - stalled: a person must act (a refusal, a missing or failed resource); record the reason, do not retry
 *            until something changes.
 *
 * Transient errors are not a step outcome: they are thrown, and the work queue retries with backoff.
 */

export type Step<T = undefined> =
  | { state: 'done'; value: T; message?: string }
  | { state: 'waiting'; reason: string; message: string; requeueAfterMs: number }
  | { state: 'stalled'; reason: string; message: string };

/** How soon to look again at an Azure resource that is still being created, updated or deleted. */
export const POLL_MS = 2_000;

/** How soon to look again at something stalled, in case what blocked it changed outside Kubernetes. */
export const STALLED_RECHECK_MS = 60_000;

export function done(message?: string): Step;
export function done<T>(message: string | undefined, value: T): Step<T>;
export function done<T>(message?: string, value?: T): Step<T | undefined> {
  return { state: 'done', value, ...(message !== undefined ? { message } : {}) };
}

export function waiting(reason: string, message: string, requeueAfterMs = POLL_MS): { state: 'waiting'; reason: string; message: string; requeueAfterMs: number } {
  return { state: 'waiting', reason, message, requeueAfterMs };
}

export function stalled(reason: string, message: string): { state: 'stalled'; reason: string; message: string } {
  return { state: 'stalled', reason, message };
}

/** The sooner of two requeue delays (undefined: none asked yet). */
export function soonest(a: number | undefined, b: number): number {
  return a === undefined ? b : Math.min(a, b);
}

/** A step that did not finish, seen as the step of another type (its value never exists). */
export type Unfinished = Exclude<Step<never>, { state: 'done' }>;
