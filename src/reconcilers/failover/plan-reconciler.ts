/**
 * A plan failover: a FailoverRequest with spec.recoveryPlanName. It fails every VM of the RecoveryPlan
 * over by creating one ordinary FailoverRequest per VM (owned by this one, labelled with its name), group
 * by group, so each VM's failover — steps, points, cleanup, commit and re-protect — is the single-VM
 * procedure, not a copy of it. Between groups it runs the plan's actions: Jobs (`plan-jobs.ts`) and manual
 * approvals (the annotation siterecovery.io/approve-<action> on this request).
 *
 * A pass: observe (the plan, the member requests from the cache, the Jobs), decide (`plan-decide.ts`,
 * pure), act (create the member requests and Jobs it asks for), record status.groups / status.members,
 * the phase and the Succeeded condition. Afterwards commit, re-protect and cleanup set on this request are
 * set on every member request (`plan-after.ts`). Deleting a Test plan failover deletes its member
 * requests (each cleans up its test VM) and Jobs, and waits until they are gone.
 */
import type { FailoverRequest, FailoverRequestStatus, PlanMemberStatus, RecoveryPlan, RecoveryPlanAction } from '../../api/types.ts';
import { isConflict } from '../../kube/errors.ts';
import { jobOutcome } from '../../kube/jobs.ts';
import type { ConditionInput, Readiness } from '../../runtime/conditions.ts';
import type { ReconcileContext, ReconcileResult, Reconciler } from '../../runtime/controller.ts';
import { addFinalizer, isDeleting, removeFinalizer } from '../../runtime/finalizers.ts';
import { StatusWriter } from '../../runtime/status-writer.ts';
import { POLL_MS } from '../../runtime/step.ts';
import { afterPlanFailover, removePlanFailover } from './plan-after.ts';
import { decidePlan, type PlanAct, type PlanDecision, type WorkState } from './plan-decide.ts';
import { actionJob } from './plan-jobs.ts';
import { actionJobName, APPROVE_ANNOTATION_PREFIX, memberFailoverName, PLAN_FAILOVER_LABEL, planFailoverLabelValue, planMembers, planRefusal } from './plan-members.ts';
import { memberRecoveryPoints } from './plan-points.ts';
import { memberRequests, memberStatus, memberWork, type PlanFailoverDeps } from './plan-state.ts';

export type { PlanFailoverDeps } from './plan-state.ts';

/** One pass's view: the request, its plan, and the status being written. */
interface PlanPass {
  fo: FailoverRequest;
  plan: RecoveryPlan;
  namespace: string;
  children: Map<string, FailoverRequest>;
  members: PlanMemberStatus[];
}

export class PlanFailoverReconciler implements Reconciler<FailoverRequest> {
  private readonly deps: PlanFailoverDeps;
  private readonly writer: StatusWriter<FailoverRequest>;

  constructor(deps: PlanFailoverDeps) {
    this.deps = deps;
    this.writer = new StatusWriter(deps.failovers);
  }

  async reconcile(fo: FailoverRequest, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    if (isDeleting(fo)) {
      if (await removePlanFailover(this.deps, fo)) return { requeueAfterMs: POLL_MS };
      return removeFinalizer(this.deps.failovers, fo);
    }
    fo = await addFinalizer(this.deps.failovers, fo);
    const phase = fo.status?.phase ?? 'Pending';
    // A Test's cleanup applies whatever the phase (no further member starts); commit and re-protect after success.
    if (fo.spec.type === 'Test' && fo.spec.cleanup) return afterPlanFailover(this.deps, this.writer, fo, ctx);
    if (phase === 'Failed') return;
    if (phase !== 'Pending' && phase !== 'Running') return afterPlanFailover(this.deps, this.writer, fo, ctx);
    const namespace = fo.metadata.namespace ?? 'default';
    const plan = await this.deps.plans.get({ namespace, name: fo.spec.recoveryPlanName ?? '' });
    if (!plan) return this.fail(fo, 'RecoveryPlanNotFound', `RecoveryPlan ${fo.spec.recoveryPlanName} does not exist`, ctx);
    const refusal = planRefusal(plan);
    if (refusal) return this.fail(fo, 'InvalidRecoveryPlan', refusal, ctx);
    const members = fo.status?.members ?? planMembers(plan, this.deps.listVms(namespace));
    if (!members.length) return this.fail(fo, 'EmptyRecoveryPlan', `RecoveryPlan ${plan.metadata.name} has no ReplicatedVMs`, ctx);
    if (phase === 'Pending') ctx.events.record(fo, 'Normal', 'Started', `${fo.spec.type} failover of plan ${plan.metadata.name}: ${members.length} VM(s) in ${plan.spec.groups.length} group(s)`);
    const children = memberRequests(fo, this.deps.listFailovers(namespace));
    const pass: PlanPass = { fo, plan, namespace, children, members: members.map((m) => memberStatus(m, children.get(m.replicatedVMName))) };
    const decision = decidePlan({
      groups: plan.spec.groups,
      members: pass.members,
      onVMFailure: plan.spec.onVMFailure ?? 'Stop',
      parallelism: plan.spec.parallelism ?? 20,
      member: (name) => memberWork(children.get(name)),
      action: await this.actionStates(pass),
      previous: fo.status?.groups ?? [],
      now: new Date().toISOString(),
      jobName: (group, action) => actionJobName(fo.metadata.name ?? '', group, action),
    });
    await this.act(pass, decision.acts);
    return this.record(pass, decision, ctx);
  }

  /** Where each action is: its Job's outcome, or whether it was approved. */
  private async actionStates(pass: PlanPass): Promise<(group: string, action: RecoveryPlanAction) => WorkState> {
    const name = pass.fo.metadata.name ?? '';
    const jobs = new Map((await this.deps.jobs.list(pass.namespace, `${PLAN_FAILOVER_LABEL}=${planFailoverLabelValue(name)}`)).map((j) => [j.metadata?.name, jobOutcome(j)]));
    const annotations = pass.fo.metadata.annotations ?? {};
    return (group, action) => {
      if (action.manualApproval) return APPROVE_ANNOTATION_PREFIX + action.name in annotations ? 'Succeeded' : 'WaitingForApproval';
      const outcome = jobs.get(actionJobName(name, group, action.name));
      return outcome === undefined ? 'NotStarted' : outcome;
    };
  }

  /** Creates the member requests and Jobs the decision asks for. */
  private async act(pass: PlanPass, acts: readonly PlanAct[]): Promise<void> {
    const starting = acts.flatMap((a) => (a.kind === 'startMember' ? [a.replicatedVMName] : []));
    const points = starting.length ? await memberRecoveryPoints(this.deps, pass.fo, pass.members, starting) : new Map<string, string>();
    for (const act of acts) {
      if (act.kind === 'startMember') await this.createMember(pass, act.replicatedVMName, points.get(act.replicatedVMName));
      else await this.deps.jobs.create(pass.namespace, actionJob({ planFailover: pass.fo, group: act.group, stage: act.stage, action: act.action, members: pass.members.filter((m) => m.group === act.group) }));
    }
  }

  private async createMember(pass: PlanPass, replicatedVMName: string, recoveryPoint: string | undefined): Promise<void> {
    const { fo } = pass;
    const { type, finalSyncTimeout, testVirtualNetworkId, shutdownSource } = fo.spec;
    const name = memberFailoverName(fo.metadata.name ?? '', replicatedVMName);
    const spec: FailoverRequest['spec'] = { replicatedVMName, type, ...(recoveryPoint ? { recoveryPoint } : {}), ...(finalSyncTimeout ? { finalSyncTimeout } : {}), ...(testVirtualNetworkId ? { testVirtualNetworkId } : {}), ...(shutdownSource !== undefined ? { shutdownSource } : {}) };
    const metadata = { name, labels: { [PLAN_FAILOVER_LABEL]: planFailoverLabelValue(fo.metadata.name ?? '') }, ownerReferences: [{ apiVersion: fo.apiVersion, kind: fo.kind, name: fo.metadata.name ?? '', uid: fo.metadata.uid ?? '', controller: true }] };
    try {
      await this.deps.failovers.create(pass.namespace, { metadata, spec });
    } catch (error) {
      if (!isConflict(error)) throw error;
    }
  }

  private async record(pass: PlanPass, decision: PlanDecision, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const { fo } = pass;
    const fields: FailoverRequestStatus = { phase: decision.outcome, groups: decision.groups, members: pass.members, startTime: fo.status?.startTime ?? new Date().toISOString() };
    if (decision.outcome === 'Running') {
      const current = decision.groups.find((g) => g.phase !== 'Succeeded' && g.phase !== 'Failed');
      await this.writer.record(fo, { state: 'progressing', reason: 'Running', message: current ? `group ${current.name}: ${current.message ?? current.phase}` : 'running' }, fields);
      return { requeueAfterMs: POLL_MS };
    }
    fields.completionTime = new Date().toISOString();
    if (decision.outcome === 'Failed') return this.fail(fo, 'PlanStopped', `stopped (onVMFailure Stop): ${decision.failures.join(', ')} failed; see status.groups and status.members`, ctx, fields);
    const reason = decision.failures.length ? 'SucceededWithFailures' : 'Succeeded';
    const message = decision.failures.length ? `every group ran; ${decision.failures.join(', ')} failed (onVMFailure Continue)` : `${pass.members.length} VM(s) running`;
    await this.writer.record(fo, { state: 'ready', reason, message }, fields, { type: 'Succeeded', status: 'True', reason, message });
    ctx.events.record(fo, decision.failures.length ? 'Warning' : 'Normal', reason, `plan ${pass.plan.metadata.name}: ${message}`);
  }

  private async fail(fo: FailoverRequest, reason: string, message: string, ctx: ReconcileContext, fields: FailoverRequestStatus = {}): Promise<void> {
    const readiness: Readiness = { state: 'stalled', reason, message };
    const condition: ConditionInput = { type: 'Succeeded', status: 'False', reason, message };
    await this.writer.record(fo, readiness, { ...fields, phase: 'Failed', completionTime: fields.completionTime ?? new Date().toISOString() }, condition);
    ctx.events.record(fo, 'Warning', reason, message);
  }
}
