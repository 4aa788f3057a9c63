/**
 * The ARM request budget: how many reads, writes and deletes the product may send to Azure Resource
 * Manager, as token buckets (a size, refilled at a rate per second), and how it is configured.
 *
 * ARM throttles "per subscription, per service principal, and per operation type" in each region with a
 * token bucket: reads 250 refilled at 25 per second, writes 200 at 10/s, deletes 200 at 10/s (the defaults
 * here; https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/request-limits-and-throttling,
 * "Regional throttling and token bucket algorithm"). GET and HEAD are reads, DELETE deletes, PUT, PATCH and
 * POST writes; the status polls of a long-running operation are reads. One datapath deployment runs under
 * one principal, against one subscription, through the ARM region nearest to it: one budget, shared by its
 * replicas (arm-budget-gate.ts); the operator uses the same figures to tell whether a policy's interval
 * fits (cycle-cost.ts).
 *
 * Configured as `reads=250@25,writes=200@10,deletes=200@10` (size @ refill per second; a kind left out
 * keeps its default) or `off`: `--arm-budget`, SITE_RECOVERY_ARM_BUDGET, the chart's `azure.armBudget`.
 * When the operator uses the same principal, give the datapath less than the whole bucket so the
 * operator's drift checks and failovers have room.
 */

export type ArmOperationKind = 'reads' | 'writes' | 'deletes';

export const ARM_OPERATION_KINDS: readonly ArmOperationKind[] = ['reads', 'writes', 'deletes'];

export interface BucketLimit {
  /** Tokens the bucket holds when full (the burst). */
  size: number;
  /** Tokens added per second. */
  refillPerSecond: number;
}

export type ArmBudgetLimits = Readonly<Record<ArmOperationKind, BucketLimit>>;

/** ARM's published buckets per subscription, region and principal (see the header). */
export const ARM_PUBLISHED_BUCKETS: ArmBudgetLimits = {
  reads: { size: 250, refillPerSecond: 25 },
  writes: { size: 200, refillPerSecond: 10 },
  deletes: { size: 200, refillPerSecond: 10 },
};

/** The kind of operation ARM counts a request as. */
export function armOperationKind(method: string): ArmOperationKind {
  const m = method.toUpperCase();
  if (m === 'GET' || m === 'HEAD') return 'reads';
  return m === 'DELETE' ? 'deletes' : 'writes';
}

/** Every bucket multiplied by `factor` (a replica's share: 1 / members; a test's scale). */
export function scaleBudget(limits: ArmBudgetLimits, factor: number): ArmBudgetLimits {
  const scale = (b: BucketLimit): BucketLimit => ({ size: b.size * factor, refillPerSecond: b.refillPerSecond * factor });
  return { reads: scale(limits.reads), writes: scale(limits.writes), deletes: scale(limits.deletes) };
}

const ENTRY = /^(reads|writes|deletes)=(\d+(?:\.\d+)?)@(\d+(?:\.\d+)?)$/;

/**
 * Parses `reads=250@25,writes=200@10,deletes=200@10` (any subset; the rest keep ARM's published values)
 * or `off` (undefined: no budget). Throws a message a person understands on anything else.
 */
export function parseArmBudget(text: string): ArmBudgetLimits | undefined {
  const trimmed = text.trim();
  if (trimmed === 'off') return undefined;
  const limits: Record<ArmOperationKind, BucketLimit> = { ...ARM_PUBLISHED_BUCKETS };
  for (const part of trimmed.split(',').map((p) => p.trim()).filter(Boolean)) {
    const match = ENTRY.exec(part);
    if (!match) throw new Error(`invalid ARM budget "${part}" (expected e.g. reads=250@25,writes=200@10,deletes=200@10: bucket size @ refill per second, or off)`);
    const size = Number(match[2]);
    const refillPerSecond = Number(match[3]);
    if (!(size >= 1) || !(refillPerSecond > 0)) throw new Error(`invalid ARM budget "${part}": the bucket must hold at least 1 token and refill at more than 0 per second`);
    limits[match[1] as ArmOperationKind] = { size, refillPerSecond };
  }
  return limits;
}

/** The budget an Azure configuration asks for: its own, else ARM's published buckets; `off`: none. */
export function budgetLimitsOf(config: { armBudget?: ArmBudgetLimits | 'off' }): ArmBudgetLimits | undefined {
  if (config.armBudget === 'off') return undefined;
  return config.armBudget ?? ARM_PUBLISHED_BUCKETS;
}

/** The inverse of parseArmBudget (for logs and messages). */
export function formatArmBudget(limits: ArmBudgetLimits | undefined): string {
  if (!limits) return 'off';
  return ARM_OPERATION_KINDS.map((k) => `${k}=${round(limits[k].size)}@${round(limits[k].refillPerSecond)}`).join(',');
}

const round = (n: number): number => Math.round(n * 1000) / 1000;
