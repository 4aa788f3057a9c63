// What the ARM emulator was asked: calls per operation key, a bounded log of recent requests, and the
// totals `sandbox arm-stats` prints — reads, writes, deletes and throttled answers (429), overall, by
// operation and by client. A client is the first product token of the request's User-Agent (our
// components set `site-recovery-operator`, `site-recovery-datapath`, `site-recovery-cli` as the SDK's
// userAgentPrefix, see src/azure/clients.ts); a request without one counts under `unknown`.
import { kindOf } from './throttling.ts';
import type { OperationKind } from './throttling.ts';

export interface RequestRecord {
  method: string;
  path: string;
  operation: string;
  status: number;
  time: string;
  /** The request's User-Agent header, when it had one. */
  userAgent?: string | undefined;
}

export interface KindCounts {
  reads: number;
  writes: number;
  deletes: number;
  /** Answers with 429 (throttled by the buckets, or an injected throttle fault). */
  throttled: number;
}

export interface OperationCounts {
  calls: number;
  throttled: number;
}

/** `sandbox arm-stats`: the JSON it prints. */
export interface ArmStatsSummary extends KindCounts {
  total: number;
  byOperation: Record<string, OperationCounts>;
  byClient: Record<string, KindCounts>;
}

const zero = (): KindCounts => ({ reads: 0, writes: 0, deletes: 0, throttled: 0 });

/** The client a User-Agent names: its first product token without the version (see the header). */
export function clientOf(userAgent: string | undefined): string {
  const first = userAgent?.trim().split(/\s+/)[0];
  return first ? first.split('/')[0]! : 'unknown';
}

function add(c: KindCounts, kind: OperationKind, status: number): void {
  c[kind]++;
  if (status === 429) c.throttled++;
}

/** Per-operation call counters, the totals of the header, and a bounded log of recent requests. */
export class ArmStats {
  private counts = new Map<string, OperationCounts>();
  private overall = zero();
  private clients = new Map<string, KindCounts>();
  private calls = 0;
  private log: RequestRecord[] = [];
  private readonly maxLog: number;

  constructor(maxLog = 5000) {
    this.maxLog = maxLog;
  }

  record(r: RequestRecord): void {
    const op = this.counts.get(r.operation) ?? { calls: 0, throttled: 0 };
    op.calls++;
    if (r.status === 429) op.throttled++;
    this.counts.set(r.operation, op);
    const kind = kindOf(r.method);
    add(this.overall, kind, r.status);
    const client = clientOf(r.userAgent);
    const c = this.clients.get(client) ?? zero();
    add(c, kind, r.status);
    this.clients.set(client, c);
    this.calls++;
    this.log.push(r);
    if (this.log.length > this.maxLog) this.log.splice(0, this.log.length - this.maxLog);
  }

  /** Calls of one operation key, e.g. `PUT Microsoft.Compute/virtualMachines`, `POST Microsoft.Compute/disks/beginGetAccess`. */
  count(operation: string): number {
    const k = operation.toLowerCase();
    let n = 0;
    for (const [op, c] of this.counts) if (op.toLowerCase() === k) n += c.calls;
    return n;
  }

  /** All counters: operation key -> calls. */
  byOperation(): Record<string, number> {
    return Object.fromEntries([...this.counts].map(([op, c]) => [op, c.calls]));
  }

  /** Reads, writes, deletes and throttled answers, overall, by operation and by client (`sandbox arm-stats`). */
  summary(): ArmStatsSummary {
    return {
      ...this.overall,
      total: this.calls,
      byOperation: Object.fromEntries([...this.counts].map(([op, c]) => [op, { ...c }])),
      byClient: Object.fromEntries([...this.clients].map(([client, c]) => [client, { ...c }])),
    };
  }

  /** Recent requests (oldest first), optionally filtered. */
  requests(filter?: { method?: string; operation?: string; path?: string | RegExp }): RequestRecord[] {
    return this.log.filter(
      (r) =>
        (!filter?.method || r.method === filter.method.toUpperCase()) &&
        (!filter?.operation || r.operation.toLowerCase() === filter.operation.toLowerCase()) &&
        (!filter?.path ||
          (typeof filter.path === 'string' ? r.path.toLowerCase().includes(filter.path.toLowerCase()) : filter.path.test(r.path))),
    );
  }

  /** Requests in the log (the most recent, at most `maxLog`). */
  get total(): number {
    return this.log.length;
  }

  reset(): void {
    this.counts = new Map();
    this.overall = zero();
    this.clients = new Map();
    this.calls = 0;
    this.log = [];
  }
}
