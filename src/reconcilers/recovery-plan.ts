/**
 * RecoveryPlan: reports whether the plan could fail over now — its members (named or selected) exist and
 * are Protected — in status and the Ready condition. The plan itself creates nothing and holds no
 * finalizer: a FailoverRequest with spec.recoveryPlanName runs it (src/reconcilers/failover/plan-*.ts).
 */
import type { RecoveryPlan, ReplicatedVM } from '../api/types.ts';
import type { CustomResourceClient } from '../kube/custom-resources.ts';
import type { Readiness } from '../runtime/conditions.ts';
import type { Reconciler } from '../runtime/controller.ts';
import { StatusWriter } from '../runtime/status-writer.ts';
import { planMembers, planRefusal } from './failover/plan-members.ts';

export class RecoveryPlanReconciler implements Reconciler<RecoveryPlan> {
  private readonly listVms: (namespace: string) => readonly ReplicatedVM[];
  private readonly status: StatusWriter<RecoveryPlan>;

  constructor(plans: CustomResourceClient<RecoveryPlan>, listVms: (namespace: string) => readonly ReplicatedVM[]) {
    this.listVms = listVms;
    this.status = new StatusWriter(plans);
  }

  async reconcile(plan: RecoveryPlan): Promise<void> {
    const vms = this.listVms(plan.metadata.namespace ?? 'default');
    const members = planMembers(plan, vms);
    const byName = new Map(vms.map((vm) => [vm.metadata.name, vm]));
    const missing = members.filter((m) => !byName.has(m.replicatedVMName)).map((m) => m.replicatedVMName);
    const notProtected = members.flatMap((m) => {
      const phase = byName.get(m.replicatedVMName)?.status?.phase;
      return byName.has(m.replicatedVMName) && phase !== 'Protected' ? [`${m.replicatedVMName}: ${phase ?? 'Pending'}`] : [];
    });
    await this.status.record(plan, readinessOf(plan, members.length, missing, notProtected), {
      groupCount: plan.spec.groups.length,
      memberCount: members.length,
      protectedCount: members.length - missing.length - notProtected.length,
      missing,
      notProtected,
    });
  }
}

function readinessOf(plan: RecoveryPlan, count: number, missing: readonly string[], notProtected: readonly string[]): Readiness {
  const refusal = planRefusal(plan);
  if (refusal) return { state: 'stalled', reason: 'InvalidRecoveryPlan', message: refusal };
  if (count === 0) return { state: 'stalled', reason: 'NoMembers', message: 'no ReplicatedVM is named or selected by the plan' };
  if (missing.length) return { state: 'stalled', reason: 'MembersMissing', message: `ReplicatedVM ${missing.join(', ')} does not exist` };
  if (notProtected.length) return { state: 'progressing', reason: 'MembersNotProtected', message: `not protected yet: ${notProtected.join(', ')}` };
  return { state: 'ready', reason: 'Protected', message: `${count} VM(s) in ${plan.spec.groups.length} group(s), all protected` };
}
