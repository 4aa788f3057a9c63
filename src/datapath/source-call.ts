/**
 * Marking the calls that only the source region answers (restore points and grants on the source VM's
 * collection, reads of its SAS exports, the cache account), and telling a failure nobody answered from an
 * answer. The rule built on it, and what status says: source-region.ts. Apart from it so that the
 * callers (restore-points.ts, the capture, the session) need nothing of the worker.
 */
import { isUnanswered } from '../azure/errors.ts';

const STARTED = Symbol('sourceRegionCallStarted');

/** Marks the failures of `call` as those of a call to the source region (the error object is kept). */
export async function inSourceRegion<T>(call: () => Promise<T>): Promise<T> {
  const startedAt = Date.now();
  try {
    return await call();
  } catch (error) {
    if (error && typeof error === 'object' && Object.isExtensible(error) && !(STARTED in error)) Object.defineProperty(error, STARTED, { value: startedAt });
    throw error;
  }
}

export function sourceCallStart(error: unknown): number | undefined {
  return error && typeof error === 'object' && STARTED in error ? (error as { [STARTED]: number })[STARTED] : undefined;
}

/** Nobody answered: no HTTP status (timeout, deadline, reset, refused), a 5xx or a 408 (azure/errors.ts). */
export const unanswered = isUnanswered;
