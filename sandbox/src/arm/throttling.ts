// ARM's request throttling, as `sandbox up --arm-throttling` enforces it: token buckets per subscription,
// region, principal and kind of operation, the remaining-requests headers on every answer, and 429 with
// Retry-After and ARM's error body when a bucket is empty. Off unless turned on; scriptable at run time
// through the control endpoint /_sandbox/throttling (../throttle.ts).
//
// What is emulated, and the sources:
//  - Buckets. "Microsoft migrated Azure subscriptions to an updated throttling architecture starting in
//    2024. Throttling limits are now applied per region rather than per instance of Azure Resource Manager"
//    with a token bucket algorithm: per subscription, reads 250 tokens refilled at 25/s, deletes 200 at
//    10/s, writes 200 at 10/s, the same for a tenant. "Subscription limits apply per subscription, per
//    service principal, and per operation type. There are also global subscription limits that are
//    equivalent to 15 times the individual service principal limits for each operation type. The global
//    limits apply across all service principals." A request is throttled when any of them is exceeded.
//    (https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/request-limits-and-throttling,
//    "Regional throttling and token bucket algorithm".) `scale` multiplies bucket sizes and refill rates
//    (0.01: reads 2.5 refilled at 0.25/s) so that a test reaches the limits with a few calls.
//  - Region: the sandbox has one ARM front, so every request lands in the same region (`region` option,
//    default `local`); it is part of each bucket's key as it is in Azure.
//  - Principal: the bearer token's `oid` (else `appid`, `sub`) claim when it is a JWT, else the token
//    itself (hashed): one principal per credential, as ARM counts them.
//  - Kind: GET and HEAD are reads, DELETE deletes, PUT, PATCH and POST writes (the same page: "Read
//    requests return a value in the header for the number of remaining read requests. Write requests
//    include a value for the number of remaining write requests"). Operation status polls are reads.
//  - Headers: `x-ms-ratelimit-remaining-subscription-{reads,writes,deletes}` (the principal's bucket) and
//    `x-ms-ratelimit-remaining-subscription-global-{reads,writes,deletes}` (the subscription-wide one), or
//    `x-ms-ratelimit-remaining-tenant-*` for tenant-level requests (same page, "Remaining requests").
//  - 429: "you receive the HTTP status code 429 Too many requests. The response includes a Retry-After
//    value, which specifies the number of seconds your application should wait" (same page, "Error
//    code"); the body is what ARM answers since the token buckets, code SubscriptionRequestsThrottled and
//    "Number of 'read' requests for subscription '…' actor '…' exceeded. Please try again after '1'
//    seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional
//    information." (as reported from Azure in https://github.com/velero-io/velero/issues/9171). A
//    throttled request changes nothing and takes no token.
// The bucket is hand-written (a few lines) because the emulator needs its state — tokens left for the
// headers, time to the next token for Retry-After — under an injectable clock, which rate limiters built
// to delay callers do not expose.
import crypto from 'node:crypto';
import { ArmError } from './errors.ts';

export type OperationKind = 'reads' | 'writes' | 'deletes';

export const OPERATION_KINDS: readonly OperationKind[] = ['reads', 'writes', 'deletes'];

/** ARM's published buckets per principal (see the header): size and refill per second. */
export const ARM_BUCKETS: Readonly<Record<OperationKind, { size: number; refillPerSecond: number }>> = {
  reads: { size: 250, refillPerSecond: 25 },
  writes: { size: 200, refillPerSecond: 10 },
  deletes: { size: 200, refillPerSecond: 10 },
};

/** The subscription-wide (global) limit is this many times a principal's (see the header). */
export const GLOBAL_FACTOR = 15;

export interface ThrottlingConfig {
  enabled: boolean;
  /** Multiplies bucket sizes and refill rates (default 1). */
  scale: number;
  /** Region of the sandbox's one ARM front (default `local`). */
  region: string;
}

export const kindOf = (method: string): OperationKind => {
  const m = method.toUpperCase();
  if (m === 'GET' || m === 'HEAD') return 'reads';
  return m === 'DELETE' ? 'deletes' : 'writes';
};

/** The principal of a bearer token (see the header). */
export function principalOf(authorization: string | undefined): string {
  const token = /^Bearer\s+(\S+)/i.exec(authorization ?? '')?.[1] ?? '';
  const payload = token.split('.')[1];
  if (payload) {
    try {
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
      const id = claims.oid ?? claims.appid ?? claims.sub;
      if (typeof id === 'string' && id) return id;
    } catch {
      // not a JWT: the token itself names the principal
    }
  }
  return crypto.createHash('sha256').update(token).digest('hex').slice(0, 16);
}

/** A token bucket that refills continuously; `now` in milliseconds. */
export class TokenBucket {
  readonly size: number;
  readonly refillPerSecond: number;
  private tokens: number;
  private at: number;

  constructor(size: number, refillPerSecond: number, now: number) {
    this.size = size;
    this.refillPerSecond = refillPerSecond;
    this.tokens = size;
    this.at = now;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.size, this.tokens + ((now - this.at) / 1000) * this.refillPerSecond);
    this.at = now;
  }

  /** Tokens left (whole), after refilling to `now`. */
  remaining(now: number): number {
    this.refill(now);
    return Math.floor(this.tokens);
  }

  /** Whole seconds until one token is there (at least 1 when empty). */
  secondsToNextToken(now: number): number {
    this.refill(now);
    if (this.tokens >= 1) return 0;
    return Math.max(1, Math.ceil((1 - this.tokens) / this.refillPerSecond));
  }

  take(now: number): void {
    this.refill(now);
    this.tokens -= 1;
  }
}

export interface ThrottleRequest {
  method: string;
  /** Subscription of the request; undefined for tenant-level requests. */
  subscriptionId: string | undefined;
  authorization: string | undefined;
}

export type ThrottleDecision =
  | { throttled: false; kind: OperationKind; headers: Record<string, string> }
  | { throttled: true; kind: OperationKind; error: ArmError };

/** The buckets of one ARM front, created on first use. */
export class ArmThrottling {
  config: ThrottlingConfig;
  private buckets = new Map<string, TokenBucket>();
  private readonly now: () => number;

  constructor(config: Partial<ThrottlingConfig> = {}, now: () => number = () => performance.now()) {
    this.config = { enabled: config.enabled ?? false, scale: config.scale ?? 1, region: config.region ?? 'local' };
    this.now = now;
  }

  /** Changes the configuration; the buckets start full again. */
  configure(change: Partial<ThrottlingConfig>): ThrottlingConfig {
    if (change.scale !== undefined && !(Number.isFinite(change.scale) && change.scale > 0)) throw new Error(`scale must be a positive number, got ${change.scale}`);
    this.config = { ...this.config, ...change };
    this.buckets = new Map();
    return this.config;
  }

  private bucket(key: string, kind: OperationKind, factor: number, now: number): TokenBucket {
    let b = this.buckets.get(key);
    if (!b) {
      const { size, refillPerSecond } = ARM_BUCKETS[kind];
      const s = this.config.scale * factor;
      b = new TokenBucket(size * s, refillPerSecond * s, now);
      this.buckets.set(key, b);
    }
    return b;
  }

  /** Takes a token from the principal's and the global bucket, or says why not; undefined when off. */
  admit(req: ThrottleRequest): ThrottleDecision | undefined {
    if (!this.config.enabled) return undefined;
    const kind = kindOf(req.method);
    const now = this.now();
    const scope = req.subscriptionId ? `subscription/${req.subscriptionId.toLowerCase()}` : 'tenant';
    const actor = principalOf(req.authorization);
    const base = `${scope}|${this.config.region}|${kind}`;
    const own = this.bucket(`${base}|${actor}`, kind, 1, now);
    const global = req.subscriptionId ? this.bucket(`${base}|*`, kind, GLOBAL_FACTOR, now) : undefined;
    const wait = Math.max(own.secondsToNextToken(now), global?.secondsToNextToken(now) ?? 0);
    if (wait > 0) return { throttled: true, kind, error: throttledError(kind, req.subscriptionId, actor, wait) };
    own.take(now);
    global?.take(now);
    const prefix = req.subscriptionId ? 'x-ms-ratelimit-remaining-subscription' : 'x-ms-ratelimit-remaining-tenant';
    const headers: Record<string, string> = { [`${prefix}-${kind}`]: String(own.remaining(now)) };
    if (global) headers[`${prefix}-global-${kind}`] = String(global.remaining(now));
    return { throttled: false, kind, headers };
  }
}

const KIND_WORD: Record<OperationKind, string> = { reads: 'read', writes: 'write', deletes: 'delete' };

/** ARM's 429 (see the header). */
export function throttledError(kind: OperationKind, subscriptionId: string | undefined, actor: string, retryAfterSeconds: number): ArmError {
  const scope = subscriptionId ? `subscription '${subscriptionId}'` : 'tenant';
  return new ArmError(
    429,
    subscriptionId ? 'SubscriptionRequestsThrottled' : 'TenantRequestsThrottled',
    `Number of '${KIND_WORD[kind]}' requests for ${scope} actor '${actor}' exceeded. Please try again after '${retryAfterSeconds}' seconds after additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information.`,
    { headers: { 'Retry-After': String(retryAfterSeconds) } },
  );
}
