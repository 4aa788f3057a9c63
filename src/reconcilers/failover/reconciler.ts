/**
 * FailoverRequest: brings one protected VM up in its target region from a recovery point.
 *
 *   scopes     (namespaced tenancy) the request's ids, then its VM's, inside the namespace's Azure scopes
 *              (../tenancy.ts), before anything else;
 *   validate   the VM is protected; no other real failover of it is under way; a named point is its own;
 *              a Test has a test network (`validate.ts`);
 *   failover   the steps of `procedures.ts`, run by `engine.ts` on one pass (`state.ts`); RTO recorded;
 *   commit     on request (Planned/Unplanned): Committed; then re-protect when asked for (Reprotected).
 *
 * Every step is idempotent (deterministic names, a resource recorded before it is created) and resumes
 * after an operator restart from status.steps. A Test never touches the source or replication; deleting
 * it (or cleanup: true) removes everything it created (`cleanup.ts`). Planned/Unplanned move the
 * ReplicatedVM to FailedOver (computed by its reconciler from this object); deleting them never undoes a
 * failover.
 *
 * A pass observes the request, decides which procedure applies (failover, re-protect, cleanup, nothing),
 * runs it and records the outcome: phase, the Succeeded / Committed / Reprotected conditions, an event.
 */
import type { FailoverRequest, ReplicatedVM } from '../../api/types.ts';
import { isTrue, type ConditionInput } from '../../runtime/conditions.ts';
import type { ReconcileContext, ReconcileResult, Reconciler } from '../../runtime/controller.ts';
import { addFinalizer, isDeleting, removeFinalizer } from '../../runtime/finalizers.ts';
import { formatDuration } from '../../util/duration.ts';
import { cleanUp } from './cleanup.ts';
import { runProcedure } from './engine.ts';
import { replacesSeed } from './names.ts';
import { failoverStepsFor, REPROTECT_STEPS, stepsFor } from './procedures.ts';
import { FailoverPass, hasVm, type FailoverDeps, type ProcedurePass } from './state.ts';
import { validate } from './validate.ts';
import { failoverAzureIds, tenancyRefusal } from '../tenancy.ts';

/**
 * A source VM with a system-assigned identity fails over to a VM with a new one: Azure ties that identity
 * to the VM resource, so its principal (and every role assignment made to it) stays with the source VM.
 */
export const NEW_PRINCIPAL = 'SystemAssignedIdentityCreated';
const newPrincipalMessage = (principalId: string) =>
  `the failed-over VM has a new system-assigned identity, principal ${principalId}: the role assignments of the source VM's principal are not copied; grant this principal what the VM needs`;

export { DEFAULT_FAILOVER_OPTIONS, type FailoverDeps, type FailoverOptions } from './state.ts';

export class FailoverRequestReconciler implements Reconciler<FailoverRequest> {
  private readonly deps: FailoverDeps;

  constructor(deps: FailoverDeps) {
    this.deps = deps;
  }

  async reconcile(fo: FailoverRequest, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    if (isDeleting(fo)) {
      if (fo.spec.type === 'Test') {
        const result = await cleanUp(this.pass(fo), ctx);
        if (result) return result;
      }
      return removeFinalizer(this.deps.failovers, fo);
    }
    fo = await addFinalizer(this.deps.failovers, fo);
    const phase = fo.status?.phase ?? 'Pending';
    if (fo.spec.type === 'Test' && fo.spec.cleanup) {
      if (phase === 'CleanedUp') return;
      return (await cleanUp(this.pass(fo), ctx)) ?? undefined;
    }
    if (phase === 'Failed' || phase === 'CleanedUp') return;
    if (phase === 'Succeeded' || phase === 'Committed') return this.afterFailover(fo, ctx);

    const own = this.outsideScopes(fo, undefined);
    if (own) return this.fail(this.pass(fo), own.reason, own.message, ctx);
    const vm = await this.deps.vms.get({ namespace: fo.metadata.namespace ?? 'default', name: fo.spec.replicatedVMName ?? '' });
    if (!vm) return this.fail(this.pass(fo), 'ReplicatedVMNotFound', `ReplicatedVM ${fo.spec.replicatedVMName} does not exist`, ctx);
    const outside = this.outsideScopes(fo, vm);
    if (outside) return this.fail(this.pass(fo, vm), outside.reason, outside.message, ctx);
    const replaces = replacesSeed(vm);
    const pass = this.pass(fo, vm, replaces) as ProcedurePass;
    if (phase === 'Pending') {
      const refusal = await validate(this.deps, fo, vm);
      if (refusal) return this.fail(pass, refusal.reason, refusal.message, ctx);
      ctx.events.record(fo, 'Normal', 'Started', `${fo.spec.type} failover of ${vm.metadata.name} to ${vm.spec.targetLocation} started`);
    }
    pass.status.phase = 'Running';
    const outcome = await runProcedure(pass, failoverStepsFor(fo.spec, { replacesVirtualMachine: replaces }));
    if (outcome.state === 'stalled') return this.fail(pass, outcome.reason, outcome.message, ctx);
    if (outcome.state === 'waiting') return { requeueAfterMs: outcome.requeueAfterMs };
    return this.succeed(pass, ctx);
  }

  /** Namespaced tenancy: the refusal of the request's (and its VM's) Azure ids, if any. */
  private outsideScopes(fo: FailoverRequest, vm: ReplicatedVM | undefined): { reason: string; message: string } | undefined {
    return tenancyRefusal(this.deps.scopes, fo.metadata.namespace ?? 'default', failoverAzureIds(fo, vm, this.deps.az.subscriptionId));
  }

  /**
   * The pass over `fo`. Its step list has the failback step when the failover replaces the VM's seed:
   * by default as status.steps recorded it (after the failover, or without the VM).
   */
  private pass(fo: FailoverRequest, vm?: ReplicatedVM, replacesVirtualMachine = Boolean(fo.status?.steps?.some((s) => s.name === 'ReplaceVirtualMachine'))): FailoverPass {
    return new FailoverPass(this.deps, fo, vm, stepsFor(fo.spec, { replacesVirtualMachine }));
  }

  /** After success: commit, and (after commit) re-protect. */
  private async afterFailover(fo: FailoverRequest, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const reprotecting = fo.spec.reprotect && (fo.spec.commit || fo.status?.phase === 'Committed') && !isTrue(fo.status?.conditions, 'Reprotected');
    const vm = reprotecting ? await this.deps.vms.get({ namespace: fo.metadata.namespace ?? 'default', name: fo.spec.replicatedVMName ?? '' }) : undefined;
    const pass = this.pass(fo, vm);
    if (fo.spec.commit && pass.status.phase === 'Succeeded') {
      pass.status.phase = 'Committed';
      const committed = { type: 'Committed', status: 'True', reason: 'Committed', message: 'failover committed' } as const;
      await pass.save({ state: 'ready', reason: committed.reason, message: committed.message }, committed);
      ctx.events.record(fo, 'Normal', 'Committed', 'failover committed');
    }
    if (reprotecting && pass.status.phase === 'Committed') return this.reprotect(pass, ctx);
  }

  /**
   * Re-protect, on the pass of a committed request: the steps of REPROTECT_STEPS, reported in the
   * Reprotected condition (Ready stays about the failover). Reprotected=True once the VM is protected
   * back to its original region.
   */
  private async reprotect(pass: FailoverPass, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const { fo } = pass;
    const reprotected = (status: 'True' | 'False', reason: string, message: string): ConditionInput => ({ type: 'Reprotected', status, reason, message });
    if (!hasVm(pass)) {
      await pass.save(undefined, reprotected('False', 'ReplicatedVMNotFound', `ReplicatedVM ${fo.spec.replicatedVMName} no longer exists: re-protect needs it to know the original VM and its network mapping`));
      return;
    }
    const { vm } = pass;
    const outside = this.outsideScopes(fo, vm);
    if (outside) {
      await pass.save(undefined, reprotected('False', outside.reason, outside.message));
      ctx.events.record(fo, 'Warning', outside.reason, outside.message);
      return;
    }
    if (pass.steps.next(REPROTECT_STEPS) === 'DeallocateSourceVirtualMachine' && pass.steps.get('DeallocateSourceVirtualMachine').state === 'Pending') {
      ctx.events.record(fo, 'Normal', 'Reprotecting', `re-protecting ${vm.metadata.name}: replicating back to ${vm.status?.sourceLocation ?? 'the original region'}`);
    }
    const outcome = await runProcedure(pass, REPROTECT_STEPS, (message) => reprotected('False', 'Reprotecting', message));
    if (outcome.state === 'stalled') {
      await pass.save(undefined, reprotected('False', outcome.reason, outcome.message));
      ctx.events.record(fo, 'Warning', outcome.reason, outcome.message);
      return;
    }
    if (outcome.state === 'waiting') return { requeueAfterMs: outcome.requeueAfterMs };
    const message = `ReplicatedVM ${pass.status.reverseReplicatedVMName} protects the VM back to ${vm.status?.sourceLocation ?? 'its original region'}; fail back with a FailoverRequest on it`;
    await pass.save(undefined, reprotected('True', 'Reprotected', message));
    ctx.events.record(fo, 'Normal', 'Reprotected', message);
  }

  private async succeed(pass: ProcedurePass, ctx: ReconcileContext): Promise<void> {
    const { fo, vm, status } = pass;
    const now = new Date();
    const rtoSeconds = Math.round((now.getTime() - new Date(String(fo.metadata.creationTimestamp)).getTime()) / 1000);
    status.phase = 'Succeeded';
    status.completionTime = now.toISOString();
    status.rtoSeconds = rtoSeconds;
    status.rto = formatDuration(rtoSeconds * 1000);
    const message = `${status.targetVirtualMachineId} is running`;
    await pass.save({ state: 'ready', reason: 'Succeeded', message }, { type: 'Succeeded', status: 'True', reason: 'Succeeded', message });
    ctx.events.record(fo, 'Normal', 'Succeeded', `${vm.metadata.name} is running in ${vm.spec.targetLocation} from ${status.recoveryPointName} (RTO ${formatDuration(rtoSeconds * 1000)})`);
    if (status.targetPrincipalId) ctx.events.record(fo, 'Normal', NEW_PRINCIPAL, newPrincipalMessage(status.targetPrincipalId));
  }

  private async fail(pass: FailoverPass, reason: string, message: string, ctx: ReconcileContext): Promise<void> {
    pass.status.phase = 'Failed';
    pass.status.completionTime = new Date().toISOString();
    await pass.save({ state: 'stalled', reason, message }, { type: 'Succeeded', status: 'False', reason, message });
    ctx.events.record(pass.fo, 'Warning', reason, message);
  }
}
