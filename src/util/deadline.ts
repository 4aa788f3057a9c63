/**
 * A deadline for one awaited operation: `withDeadline` runs `work` with a signal that aborts when the
 * caller's signal does or when `ms` have passed, and reports the second case as a DeadlineExceededError
 * (name TimeoutError, code ETIMEDOUT: a transient failure to retry, never mistaken for a stop). Used where
 * one operation is many requests — a long-running operation's polls, a wait for another attempt's
 * restore point — each request already having its own timeout.
 */

export class DeadlineExceededError extends Error {
  override readonly name = 'TimeoutError';
  readonly code = 'ETIMEDOUT';
}

export async function withDeadline<T>(signal: AbortSignal, ms: number, what: string, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const deadline = AbortSignal.timeout(ms);
  try {
    return await work(AbortSignal.any([signal, deadline]));
  } catch (error) {
    if (deadline.aborted && !signal.aborted) throw new DeadlineExceededError(`${what}: not finished within ${ms / 1000}s`, { cause: error });
    throw error;
  }
}
