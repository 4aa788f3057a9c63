/**
 * How far apart a replica spaces each VM's cycles so that its VMs stay within its share of the ARM
 * budget (src/azure/arm-budget-gate.ts: the budget / live members). Every VM's interval — its policy's,
 * or the replica's `cycleIntervalMs` — is multiplied by one factor: what the replica's VMs need per second
 * of the scarcest kind of request over what its share refills (src/azure/cycle-cost.ts), at least 1. One
 * factor for all, so the fleet is slowed evenly: no VM waits for another's cycles, none is starved. The
 * gate still makes calls wait for a token, so a burst (every VM due at once) queues instead of colliding
 * with ARM's 429s; the spacing keeps the queue from growing without end.
 *
 * The operator reports the same arithmetic, fleet-wide, as `IntervalInfeasible` on the ReplicationPolicy.
 */
import type { ReplicatedVM } from '../api/types.ts';
import type { ArmBudgetLimits } from '../azure/arm-budget.ts';
import { demandOf, stretchOf, type Stretch } from '../azure/cycle-cost.ts';
import { createLogger } from '../util/logger.ts';
import { cycleStretch } from './metrics.ts';

const log = createLogger('datapath-pacing');

export class Pacing {
  private current: Stretch = { factor: 1, kind: 'writes', demandPerSecond: 0, refillPerSecond: 0 };

  /** The factor every owned VM's interval is multiplied by (≥ 1). */
  get factor(): number {
    return this.current.factor;
  }

  /**
   * Recomputes the factor for the VMs this replica owns, each at `intervalOf(vm)` milliseconds, against
   * `share` (undefined: no budget, no stretching).
   */
  update(vms: Iterable<ReplicatedVM>, intervalOf: (vm: ReplicatedVM) => number, share: ArmBudgetLimits | undefined): void {
    const demands = [...vms].map((vm) => demandOf(vm, undefined, intervalOf(vm)));
    const next = stretchOf(demands, share);
    const changed = Math.abs(next.factor - this.current.factor) > 0.01;
    this.current = next;
    cycleStretch.set(next.factor);
    if (!changed) return;
    const detail = { vms: demands.length, kind: next.kind, demandPerSecond: round(next.demandPerSecond), refillPerSecond: round(next.refillPerSecond) };
    if (next.factor > 1) log.warn('the VMs here need more ARM requests than this replica\'s share of the budget: stretching every VM\'s interval', { factor: round(next.factor), ...detail });
    else log.info('the VMs here fit this replica\'s share of the ARM budget: intervals as the policies ask', detail);
  }
}

const round = (n: number): number => Math.round(n * 100) / 100;
