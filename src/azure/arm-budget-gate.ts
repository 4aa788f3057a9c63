/**
 * A process's share of the ARM budget (arm-budget.ts), enforced on its own requests: one token bucket per
 * kind of operation (reads, writes, deletes) holding budget / members tokens and refilled at refill /
 * members per second, and a pipeline policy that makes every ARM request — each attempt of it, as ARM
 * counts attempts, and every long-running operation's poll — wait for a token before it is sent. So the
 * datapath's replicas together stay inside the subscription's buckets and wait their turn instead of
 * colliding into 429s, after which the SDK's retries would all come back after the same Retry-After and
 * collide again (`npm run bench -- arm-throttling`).
 *
 * `members` is the number of live datapath replicas (src/datapath/membership.ts); the datapath sets it at
 * every membership tick. A bucket shrunk by a new member keeps at most its new size. Every bucket holds at
 * least one token, so a tiny share still lets requests through one at a time.
 *
 * The buckets are `limiter`'s TokenBucket (a well-kept npm package; since 4.0 waiting requests are served
 * first come, first served with one timer per bucket, so a VM's calls are not overtaken by later ones).
 * It takes no AbortSignal: a request whose caller gives up while it waits stops waiting at once, and the
 * token it was queued for is spent anyway when it comes (the budget errs on the safe side).
 */
import type { PipelinePolicy, PipelineRequest } from '@azure/core-rest-pipeline';
import { TokenBucket } from 'limiter';
import { armBudgetWaitSeconds } from '../runtime/metrics.ts';
import { ARM_OPERATION_KINDS, armOperationKind, scaleBudget, type ArmBudgetLimits, type ArmOperationKind } from './arm-budget.ts';

/** What a request may be cancelled by: a DOM AbortSignal, or the SDK's AbortSignalLike. */
type AbortSignalLike = NonNullable<PipelineRequest['abortSignal']>;

export class ArmBudgetGate {
  /** The whole budget (of every member together). */
  readonly limits: ArmBudgetLimits;
  private memberCount = 1;
  private readonly buckets: Record<ArmOperationKind, TokenBucket>;

  constructor(limits: ArmBudgetLimits, members = 1) {
    this.limits = limits;
    this.memberCount = Math.max(1, members);
    const share = this.share;
    const bucket = (kind: ArmOperationKind) => {
      const b = new TokenBucket({ bucketSize: Math.max(1, share[kind].size), tokensPerInterval: share[kind].refillPerSecond, interval: 1000 });
      b.content = b.bucketSize; // a new replica starts with its share of the burst
      return b;
    };
    this.buckets = { reads: bucket('reads'), writes: bucket('writes'), deletes: bucket('deletes') };
  }

  get members(): number {
    return this.memberCount;
  }

  /** This process's share: the budget / members. */
  get share(): ArmBudgetLimits {
    return scaleBudget(this.limits, 1 / this.memberCount);
  }

  /** Resizes the buckets for `members` live replicas (at least 1). */
  setMembers(members: number): void {
    const next = Math.max(1, Math.floor(members));
    if (next === this.memberCount) return;
    this.memberCount = next;
    const share = this.share;
    for (const kind of ARM_OPERATION_KINDS) {
      const b = this.buckets[kind];
      b.drip(); // what accrued so far, at the old rate
      b.bucketSize = Math.max(1, share[kind].size);
      b.tokensPerInterval = share[kind].refillPerSecond;
      b.content = Math.min(b.content, b.bucketSize);
    }
  }

  /** Tokens left now (whole), per kind. */
  remaining(kind: ArmOperationKind): number {
    const b = this.buckets[kind];
    b.drip();
    return Math.floor(b.content);
  }

  /** Waits for a token of `kind`; rejects with the signal's reason when it aborts first. Returns the milliseconds waited. */
  async take(kind: ArmOperationKind, signal?: AbortSignalLike): Promise<number> {
    // Always through the queue (never tryRemoveTokens, which would overtake requests already waiting).
    const started = performance.now();
    await untilAborted(this.buckets[kind].removeTokens(1), signal);
    const waited = performance.now() - started;
    if (waited >= 1) armBudgetWaitSeconds.inc({ kind }, waited / 1000);
    return waited;
  }
}

/** `work`, or a rejection as soon as `signal` aborts (the work itself goes on). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignalLike | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function abortReason(signal: AbortSignalLike): Error {
  const reason = (signal as { reason?: unknown }).reason;
  if (reason instanceof Error) return reason;
  const error = new Error('The operation was aborted while waiting for an ARM budget token');
  error.name = 'AbortError';
  return error;
}

/** Every ARM request (each attempt) waits for a token of its kind from `gate`. */
export function armBudgetPolicy(gate: ArmBudgetGate): PipelinePolicy {
  return {
    name: 'siteRecoveryArmBudget',
    async sendRequest(request, next) {
      await gate.take(armOperationKind(request.method), request.abortSignal);
      return next(request);
    },
  };
}
