/**
 * ReplicationPolicy: checks the policy (the API server already refused malformed ones), reports Ready
 * with a readable summary, keeps a policy that ReplicatedVMs still use from being deleted, and says
 * whether its interval fits the ARM budget (src/azure/cycle-cost.ts): the condition `IntervalFeasible`
 * (True, reason WithinBudget; False, reason IntervalInfeasible, with the arithmetic — the policy's VMs ×
 * calls per VM-cycle against the budget per interval — and the interval every VM's cycles are stretched
 * to, which `status.effectiveRecoveryPointInterval` also shows). The fleet, counted from the informer
 * cache, is every replicating VM of the subscription: they all share one budget.
 */
import type { ReplicatedVM, ReplicationPolicy } from '../api/types.ts';
import type { ArmBudgetLimits } from '../azure/arm-budget.ts';
import { costsCycles, cycleCost, cycleDisks, policyFeasibility, type VmDemand } from '../azure/cycle-cost.ts';
import type { ConditionInput, Readiness } from '../runtime/conditions.ts';
import type { ReconcileContext, ReconcileResult, Reconciler } from '../runtime/controller.ts';
import { addFinalizer, isDeleting, removeFinalizer } from '../runtime/finalizers.ts';
import { StatusWriter } from '../runtime/status-writer.ts';
import type { CustomResourceClient } from '../kube/custom-resources.ts';
import { formatDuration } from '../util/duration.ts';
import { policyTimes } from '../api/policy-times.ts';

export const INTERVAL_FEASIBLE_CONDITION = 'IntervalFeasible';
export const INTERVAL_INFEASIBLE_REASON = 'IntervalInfeasible';
export const WITHIN_BUDGET_REASON = 'WithinBudget';

/** The ARM budget and the fleet that shares it (every replicating VM, with its policy's interval). */
export interface IntervalBudget {
  limits: ArmBudgetLimits | undefined;
  fleet(): VmDemand[];
}

export class ReplicationPolicyReconciler implements Reconciler<ReplicationPolicy> {
  private readonly policies: CustomResourceClient<ReplicationPolicy>;
  private readonly listVms: (namespace: string) => readonly ReplicatedVM[];
  private readonly budget: IntervalBudget | undefined;
  private readonly status: StatusWriter<ReplicationPolicy>;

  constructor(policies: CustomResourceClient<ReplicationPolicy>, listVms: (namespace: string) => readonly ReplicatedVM[], budget?: IntervalBudget) {
    this.policies = policies;
    this.listVms = listVms;
    this.budget = budget;
    this.status = new StatusWriter(policies);
  }

  async reconcile(policy: ReplicationPolicy, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const namespace = policy.metadata.namespace ?? 'default';
    const users = this.listVms(namespace).filter((vm) => vm.spec.policyRef.name === policy.metadata.name);

    if (isDeleting(policy)) {
      if (users.length === 0) return removeFinalizer(this.policies, policy);
      const names = users.map((u) => u.metadata.name).join(', ');
      await this.status.record(policy, { state: 'stalled', reason: 'InUse', message: `the policy is used by ReplicatedVM ${names}; it is deleted once none uses it` }, { replicatedVMCount: users.length });
      ctx.events.record(policy, 'Warning', 'InUse', `deletion waits: used by ${names}`);
      return;
    }
    policy = await addFinalizer(this.policies, policy);

    let readiness: Readiness;
    let interval: { condition: ConditionInput; effective: string } | undefined;
    try {
      readiness = { state: 'ready', reason: 'Valid', message: summarize(policy) };
      interval = this.intervalCondition(policy, users);
    } catch (error) {
      readiness = { state: 'stalled', reason: 'InvalidPolicy', message: error instanceof Error ? error.message : String(error) };
    }
    const wasInfeasible = policy.status?.conditions?.some((c) => c.type === INTERVAL_FEASIBLE_CONDITION && c.status === 'False');
    const fields = { replicatedVMCount: users.length, ...(interval ? { effectiveRecoveryPointInterval: interval.effective } : {}) };
    await this.status.record(policy, readiness, fields, ...(interval ? [interval.condition] : []));
    if (interval?.condition.status === 'False' && !wasInfeasible) ctx.events.record(policy, 'Warning', INTERVAL_INFEASIBLE_REASON, interval.condition.message ?? '');
  }

  /** IntervalFeasible from the budget and the fleet; undefined when no budget is known (nothing to say). */
  private intervalCondition(policy: ReplicationPolicy, users: readonly ReplicatedVM[]): { condition: ConditionInput; effective: string } | undefined {
    if (!this.budget) return undefined;
    const { intervalMs } = policyTimes(policy.spec);
    const own = users.filter(costsCycles).map((vm) => cycleCost(cycleDisks(vm)));
    const result = policyFeasibility(intervalMs, own, this.budget.fleet(), this.budget.limits);
    const condition: ConditionInput = result.feasible
      ? { type: INTERVAL_FEASIBLE_CONDITION, status: 'True', reason: WITHIN_BUDGET_REASON, message: result.message }
      : { type: INTERVAL_FEASIBLE_CONDITION, status: 'False', reason: INTERVAL_INFEASIBLE_REASON, message: result.message };
    return { condition, effective: formatDuration(result.effectiveIntervalMs) };
  }
}

/** e.g. "crash-consistent every 5m, kept 24h; app-consistent every 4h; RPO warning 15m, critical 1h" */
export function summarize(policy: ReplicationPolicy): string {
  const t = policyTimes(policy.spec);
  const app = t.appConsistentIntervalMs !== undefined ? `app-consistent every ${formatDuration(t.appConsistentIntervalMs)}` : 'app-consistent off';
  return `crash-consistent every ${formatDuration(t.intervalMs)}, kept ${formatDuration(t.retentionMs)}; ${app}; RPO warning ${formatDuration(t.warningMs)}, critical ${formatDuration(t.criticalMs)}`;
}
