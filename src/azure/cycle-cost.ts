/**
 * What one VM-cycle of the datapath costs in ARM requests, and whether a fleet's intervals fit the ARM
 * budget (arm-budget.ts) — the arithmetic the operator reports as `IntervalInfeasible` on a
 * ReplicationPolicy and the datapath follows when it spaces cycles.
 *
 * A steady-state cycle of a VM with D disks (src/datapath/restore-points.ts, worker-capture.ts):
 *   reads    GET the new restore point (absent: it is created), GET the collection (restore points no
 *            longer needed), GET the superseded restore point before removing it, plus the polls of the
 *            long-running operations (one per Retry-After the service asks for; none when it answers at once)
 *   writes   PUT the restore point, POST grant access per disk, POST revoke access per disk of the old one
 *   deletes  DELETE the superseded restore point
 * Counted by test/integration/arm-budget.test.ts with the sandbox's arm-stats, and listed in the README.
 *
 * Fair stretching: when the fleet needs more of a kind per second than the budget refills, every VM's
 * interval is multiplied by the same factor (demand / refill of the scarcest kind), so the fleet fits and
 * no VM is starved for another's sake.
 */
import type { ReplicatedVM, ReplicationPolicySpec } from '../api/types.ts';
import { formatDuration, parseDuration } from '../util/duration.ts';
import { ARM_OPERATION_KINDS, type ArmBudgetLimits, type ArmOperationKind } from './arm-budget.ts';

export type CycleCost = Readonly<Record<ArmOperationKind, number>>;

/** ARM requests of one steady-state VM-cycle with `disks` disks (see the header); polls not included. */
export function cycleCost(disks: number): CycleCost {
  const d = Math.max(1, disks);
  return { reads: 3, writes: 1 + 2 * d, deletes: 1 };
}

/** One VM's share of the demand: its cycle's cost and its interval. */
export interface VmDemand {
  cost: CycleCost;
  intervalMs: number;
}

/** Whether a VM's cycles cost anything: it is not being deleted and has not failed over. */
export function costsCycles(vm: ReplicatedVM): boolean {
  return !vm.metadata.deletionTimestamp && vm.status?.phase !== 'FailedOver';
}

/** The disks a VM's cycle covers: those registered, else (not yet enabled) its OS disk alone. */
export const cycleDisks = (vm: ReplicatedVM): number => vm.status?.disks?.length || 1;

/** A VM's demand at its policy's interval (the API's default 5m when the policy is unknown) or `intervalMs`. */
export function demandOf(vm: ReplicatedVM, policy: ReplicationPolicySpec | undefined, intervalMs?: number): VmDemand {
  return { cost: cycleCost(cycleDisks(vm)), intervalMs: intervalMs ?? parseDuration(policy?.recoveryPointInterval ?? '5m') };
}

export interface Stretch {
  /** How much every interval is multiplied by (1: the fleet fits). */
  factor: number;
  /** The scarcest kind: the one whose demand over refill is highest. */
  kind: ArmOperationKind;
  /** Requests per second of that kind the fleet needs at its intervals, and the budget's refill. */
  demandPerSecond: number;
  refillPerSecond: number;
}

/** The fleet's stretch factor against the budget (no budget, no VM: 1). */
export function stretchOf(demands: readonly VmDemand[], budget: ArmBudgetLimits | undefined): Stretch {
  let worst: Stretch = { factor: 1, kind: 'writes', demandPerSecond: 0, refillPerSecond: budget?.writes.refillPerSecond ?? 0 };
  if (!budget) return worst;
  let worstRatio = -1;
  for (const kind of ARM_OPERATION_KINDS) {
    const demandPerSecond = precise(demands.reduce((sum, d) => sum + d.cost[kind] / (d.intervalMs / 1000), 0));
    const refillPerSecond = budget[kind].refillPerSecond;
    const ratio = precise(demandPerSecond / refillPerSecond);
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = { factor: Math.max(1, ratio), kind, demandPerSecond, refillPerSecond };
    }
  }
  return worst;
}

/** What a policy reports about its interval and the budget. */
export interface Feasibility {
  feasible: boolean;
  /** The interval the policy's VMs get: the policy's, stretched by the fleet's factor. */
  effectiveIntervalMs: number;
  /** The arithmetic, for the condition's message. */
  message: string;
}

/**
 * Whether the policy's interval fits the budget, with the arithmetic: its VMs × the calls per VM-cycle
 * against the budget per interval, for the scarcest kind of the whole fleet (`fleet`: every VM of the
 * subscription, the policy's own included).
 */
export function policyFeasibility(intervalMs: number, own: readonly CycleCost[], fleet: readonly VmDemand[], budget: ArmBudgetLimits | undefined): Feasibility {
  const interval = formatDuration(intervalMs);
  if (!budget) return { feasible: true, effectiveIntervalMs: intervalMs, message: 'no ARM budget is configured' };
  if (own.length === 0) return { feasible: true, effectiveIntervalMs: intervalMs, message: 'no ReplicatedVM uses the policy' };
  const stretch = stretchOf(fleet, budget);
  const { kind } = stretch;
  const perCycle = own.reduce((sum, c) => sum + c[kind], 0);
  const average = own.length ? perCycle / own.length : 0;
  const perInterval = (stretch.refillPerSecond * intervalMs) / 1000;
  const others = fleet.length - own.length;
  const fleetPart = others > 0 ? `; with the other ${others} VM(s) of the subscription the fleet needs ${fmt(stretch.demandPerSecond)} ${kind}/s` : '';
  const arithmetic = `${own.length} VM(s) × ${fmt(average)} ${kind} per VM-cycle = ${fmt(perCycle)} ${kind} every ${interval}${fleetPart}; the ARM budget allows ${fmt(perInterval)} ${kind} per ${interval} (${fmt(stretch.refillPerSecond)}/s)`;
  if (stretch.factor <= 1) return { feasible: true, effectiveIntervalMs: intervalMs, message: `${arithmetic}: the interval fits` };
  const effectiveIntervalMs = Math.ceil(intervalMs * stretch.factor);
  return { feasible: false, effectiveIntervalMs, message: `recoveryPointInterval ${interval} cannot be met: ${arithmetic}; every VM's cycles are stretched to ${formatDuration(effectiveIntervalMs)}` };
}

/** Rounded to a billionth: sums of fractions should not make 1.25 into 1.2499999999999998. */
const precise = (n: number): number => Math.round(n * 1e9) / 1e9;

const fmt = (n: number): string => String(Math.round(n * 100) / 100);
