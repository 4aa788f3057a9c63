/**
 * Shared helpers for the ARM resource adapters of this folder: a GET that answers undefined for 404, a
 * delete that treats 404 as done, a long-running operation started without waiting (the next reconcile
 * observes its provisioningState instead of a pass blocking on it), and provisioningState read as ready
 * or failed. Kept here so every adapter observes Azure the same way.
 */
import { isAzureNotFound } from '../errors.ts';

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
