/**
 * Errors a reconciler throws to tell the controller how to go on (after controller-runtime's
 * `reconcile.TerminalError`):
 *
 * - TerminalError: retrying cannot help (the request is wrong, a person must change something). The
 *   controller does not back off and retry; it looks again only at the next resync or event. The
 *   reconciler has recorded Stalled with `reason` before throwing.
 * - RetryableError: a transient failure with the reason and message to show while the controller backs
 *   off and retries.
 */

export class TerminalError extends Error {
  readonly reason: string;

  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TerminalError';
    this.reason = reason;
  }
}

export class RetryableError extends Error {
  readonly reason: string;

  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RetryableError';
    this.reason = reason;
  }
}

export function isTerminal(error: unknown): error is TerminalError {
  return error instanceof TerminalError;
}
