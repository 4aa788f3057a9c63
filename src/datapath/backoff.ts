/**
 * How long a failing VM waits before it tries again: exponential backoff with jitter, capped, reset by a
 * success. A VM whose Azure is gone (its source VM or its cache account deleted) fails every attempt, and
 * every attempt spends ARM calls from the replica's share of the subscription's budget (arm-budget-gate.ts)
 * that its healthy VMs need; retried at a fixed short delay, a few such VMs starved the rest. Doubling the
 * wait after each failure up to `maxMs` (default 5 minutes) makes a VM that stays broken cost a few calls
 * per `maxMs`; the jitter ("equal jitter": half the delay fixed, half random, as in the AWS Architecture
 * Blog's "Exponential Backoff And Jitter") keeps VMs that broke together (a region outage) from retrying in
 * step.
 *
 * The datapath backs off between sessions (a session that cannot open: the cache account or the VM's
 * registration gone) and inside a session (a capture or apply that fails: the source VM deleted, its
 * region down), each capped at `retryMaxMs` and at a few cycle spacings (the VM's interval, stretched to
 * the budget): a VM that stays broken spends one attempt's calls per few intervals, far fewer than a
 * healthy VM's cycles, and one whose Azure comes back is replicating again within a few intervals
 * (vm-worker.ts).
 *
 * No retry library in package.json fits: `limiter` is a rate limiter, and the SDK's retry policies apply
 * to one HTTP request, not to a loop of sessions. The arithmetic is these few lines.
 */

export const DEFAULT_RETRY_MAX_MS = 5 * 60_000;

export class Backoff {
  private failures = 0;
  private readonly baseMs: number;
  /** The cap, read at each failure (it may follow something that changes, such as the VM's interval). */
  private readonly maxMs: () => number;
  private readonly random: () => number;

  constructor(baseMs: number, maxMs: () => number = () => DEFAULT_RETRY_MAX_MS, random: () => number = Math.random) {
    this.baseMs = baseMs;
    this.maxMs = maxMs;
    this.random = random;
  }

  /** Failures in a row so far. */
  get attempts(): number {
    return this.failures;
  }

  /** Counts a failure; returns how long to wait before the next attempt. */
  fail(): number {
    this.failures += 1;
    // 2 ** n overflows to Infinity long after the cap: clamp the exponent, then the delay.
    const ceiling = Math.min(Math.max(this.baseMs, this.maxMs()), this.baseMs * 2 ** Math.min(this.failures - 1, 40));
    return Math.round(ceiling / 2 + this.random() * (ceiling / 2));
  }

  /** A success: the next failure starts again from the base delay. */
  reset(): void {
    this.failures = 0;
  }
}
