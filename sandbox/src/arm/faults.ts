// Runtime fault injection: the next N requests matching a rule are answered with a fault instead of
// being processed (nothing changes in the emulated state).

export type FaultKind =
  /** 429 TooManyRequests with Retry-After (what ARM throttling returns). */
  | 'throttle'
  /** 500 InternalServerError (or `status`/`code` given). */
  | 'error'
  /** 409 Conflict (AnotherOperationInProgress-style; retryable). */
  | 'conflict'
  /** The connection is destroyed without a response. */
  | 'drop'
  /** The response is held for `delayMs` (forever when absent, until the client gives up) and then processed. */
  | 'hang';

export interface FaultRule {
  kind: FaultKind;
  /** HTTP method to match (any when absent). */
  method?: string;
  /** Matches the request path (case-insensitive substring, or a RegExp). Any when absent. */
  path?: string | RegExp;
  /** Matches the operation key as counted in stats (e.g. `PUT Microsoft.Compute/virtualMachines`). */
  operation?: string;
  /** How many matching requests get the fault (default 1). */
  count?: number;
  retryAfterSeconds?: number;
  status?: number;
  code?: string;
  message?: string;
  delayMs?: number;
}

export interface ActiveFault extends FaultRule {
  id: number;
  remaining: number;
  /** Requests this fault was applied to. */
  hits: number;
}

export class FaultInjector {
  private rules: ActiveFault[] = [];
  private nextId = 1;

  /** Adds a rule; returns it (its `remaining`/`hits` update as it fires). */
  inject(rule: FaultRule): ActiveFault {
    const f: ActiveFault = { ...rule, id: this.nextId++, remaining: rule.count ?? 1, hits: 0 };
    this.rules.push(f);
    return f;
  }

  remove(id: number): void {
    this.rules = this.rules.filter((r) => r.id !== id);
  }

  clear(): void {
    this.rules = [];
  }

  list(): ActiveFault[] {
    return this.rules.map((r) => ({ ...r }));
  }

  /** Takes one shot of the first rule matching the request, if any. */
  take(method: string, path: string, operation: string): ActiveFault | undefined {
    for (const r of this.rules) {
      if (r.remaining <= 0) continue;
      if (r.method && r.method.toUpperCase() !== method.toUpperCase()) continue;
      if (r.operation && r.operation.toLowerCase() !== operation.toLowerCase()) continue;
      if (r.path !== undefined) {
        const ok = typeof r.path === 'string' ? path.toLowerCase().includes(r.path.toLowerCase()) : r.path.test(path);
        if (!ok) continue;
      }
      r.remaining--;
      r.hits++;
      if (r.remaining <= 0) this.rules = this.rules.filter((x) => x !== r);
      return { ...r };
    }
    return undefined;
  }
}

// Request statistics moved to stats.ts; re-exported for existing imports.
export { ArmStats } from './stats.ts';
export type { RequestRecord } from './stats.ts';
