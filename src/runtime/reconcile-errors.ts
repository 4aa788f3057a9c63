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

/** An error with the CamelCase reason a condition shows for it. */
abstract class ReasonedError extends Error {
  readonly reason: string;

  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.reason = reason;
  }
}

export class TerminalError extends ReasonedError {}

export class RetryableError extends ReasonedError {}

export function isTerminal(error: unknown): error is TerminalError {
  return error instanceof TerminalError;
}
