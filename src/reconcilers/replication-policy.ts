/**
 * ReplicationPolicy: checks the policy (the API server already refused malformed ones), reports Ready
 * with a readable summary, and keeps a policy that ReplicatedVMs still use from being deleted.
 */
import type { ReplicatedVM, ReplicationPolicy } from '../api/types.ts';
import type { Readiness } from '../runtime/conditions.ts';
import type { ReconcileContext, ReconcileResult, Reconciler } from '../runtime/controller.ts';
import { addFinalizer, isDeleting, removeFinalizer } from '../runtime/finalizers.ts';
import { StatusWriter } from '../runtime/status-writer.ts';
import type { CustomResourceClient } from '../kube/custom-resources.ts';
import { formatDuration } from '../util/duration.ts';
import { policyTimes } from '../api/policy-times.ts';

export class ReplicationPolicyReconciler implements Reconciler<ReplicationPolicy> {
  private readonly policies: CustomResourceClient<ReplicationPolicy>;
  private readonly listVms: (namespace: string) => readonly ReplicatedVM[];
  private readonly status: StatusWriter<ReplicationPolicy>;

  constructor(policies: CustomResourceClient<ReplicationPolicy>, listVms: (namespace: string) => readonly ReplicatedVM[]) {
    this.policies = policies;
    this.listVms = listVms;
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
    try {
      readiness = { state: 'ready', reason: 'Valid', message: summarize(policy) };
    } catch (error) {
      readiness = { state: 'stalled', reason: 'InvalidPolicy', message: error instanceof Error ? error.message : String(error) };
    }
    await this.status.record(policy, readiness, { replicatedVMCount: users.length });
  }
}

/** e.g. "crash-consistent every 5m, kept 24h; app-consistent every 4h; RPO warning 15m, critical 1h" */
export function summarize(policy: ReplicationPolicy): string {
  const t = policyTimes(policy.spec);
  const app = t.appConsistentIntervalMs !== undefined ? `app-consistent every ${formatDuration(t.appConsistentIntervalMs)}` : 'app-consistent off';
  return `crash-consistent every ${formatDuration(t.intervalMs)}, kept ${formatDuration(t.retentionMs)}; ${app}; RPO warning ${formatDuration(t.warningMs)}, critical ${formatDuration(t.criticalMs)}`;
}
