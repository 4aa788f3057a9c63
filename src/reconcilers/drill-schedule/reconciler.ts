/**
 * DrillSchedule: proves on a schedule that a ReplicatedVM can be recovered.
 *
 * A pass observes the schedule and its run under way (status.currentRun), decides, acts one step, and
 * records status:
 *   - a run under way: past its timeout it is Failed and goes to cleanup; otherwise its step runs
 *     (run-steps.ts), and steps that finish at once chain within the pass;
 *   - a finished run (cleanup done): it becomes status.lastRun and the head of status.history;
 *   - no run: one starts when due (schedule.ts: the run-now annotation or a passed cron time), else the
 *     next cron time is recorded in status.nextRunAt and the key looks again then.
 * Every piece of a run's state is in status, so a run survives an operator restart; deterministic names
 * (<schedule>-<run id> for the FailoverRequest, the same for the probe Job) make each create idempotent.
 */
import type { DrillCurrentRun, DrillRun, DrillSchedule } from '../../api/types.ts';
import type { ReconcileContext, ReconcileResult, Reconciler } from '../../runtime/controller.ts';
import { StatusWriter } from '../../runtime/status-writer.ts';
import { formatDuration, parseDuration } from '../../util/duration.ts';
import { RUN_STEPS, drillTarget, failed, verificationKey, type DrillDeps, type StepOutcome } from './run-steps.ts';
import { cronOf, dueRun, nextRun, RUN_NOW_ANNOTATION, type Due } from './schedule.ts';

export { RUN_NOW_ANNOTATION } from './schedule.ts';
export type { DrillDeps } from './run-steps.ts';

const DEFAULT_TIMEOUT = '30m';
const DEFAULT_HISTORY = 10;
/** An idle schedule looks again at its next run, or after this long at the latest. */
const MAX_IDLE_REQUEUE_MS = 60 * 60_000;

const STEP_TEXT: Record<DrillCurrentRun['step'], string> = {
  FailingOver: 'failing over',
  Verifying: 'verifying the disks',
  Probing: 'waiting for the probe Job',
  CleaningUp: 'cleaning up',
};

export class DrillScheduleReconciler implements Reconciler<DrillSchedule> {
  private readonly deps: DrillDeps;
  private readonly writer: StatusWriter<DrillSchedule>;

  constructor(deps: DrillDeps) {
    this.deps = deps;
    this.writer = new StatusWriter(deps.schedules);
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  async reconcile(ds: DrillSchedule, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const run = ds.status?.currentRun;
    if (run) return this.advance(ds, run, ctx);
    const cron = cronOf(ds.spec);
    if ('error' in cron) return this.writer.stall(ds, { reason: 'InvalidSchedule', message: cron.error }, ctx.events, { nextRunAt: undefined });
    const now = this.now();
    const due = dueRun(ds, cron, now);
    if (due) return this.start(ds, due, ctx);
    const next = ds.spec.suspend ? null : nextRun(cron, new Date(Math.max(now.getTime(), Date.parse(ds.status?.lastScheduleTime ?? '') || 0)));
    const message = ds.spec.suspend ? 'suspended: no scheduled run starts' : next ? `next run at ${next.toISOString()}` : 'the schedule fires no more';
    await this.writer.record(ds, { state: 'ready', reason: ds.spec.suspend ? 'Suspended' : 'Scheduled', message }, { nextRunAt: next?.toISOString() });
    return next ? { requeueAfterMs: Math.min(MAX_IDLE_REQUEUE_MS, Math.max(1_000, next.getTime() - now.getTime())) } : undefined;
  }

  /** Starts a run: recorded first, so its FailoverRequest is created under a name status already holds. */
  private async start(ds: DrillSchedule, due: Due, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const now = this.now();
    const run: DrillCurrentRun = { id: runIdAt(now), trigger: due.trigger, startedAt: now.toISOString(), step: 'FailingOver' };
    const fields = {
      currentRun: run,
      ...(due.trigger === 'RunNow' ? { runNowHandled: ds.metadata.annotations?.[RUN_NOW_ANNOTATION] } : {}),
      ...(due.scheduledAt ? { lastScheduleTime: due.scheduledAt.toISOString() } : {}),
    };
    await this.writer.record(ds, running(run), fields);
    ctx.events.record(ds, 'Normal', 'DrillStarted', `drill ${run.id} of ${drillTarget(ds)} started (${due.trigger === 'RunNow' ? 'run-now annotation' : 'schedule'})`);
    return this.advance(ds, run, ctx);
  }

  /** Runs the run's steps until one has to wait; records each change. */
  private async advance(ds: DrillSchedule, run: DrillCurrentRun, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const timeoutMs = parseDuration(ds.spec.timeout ?? DEFAULT_TIMEOUT);
    for (;;) {
      const elapsed = this.now().getTime() - Date.parse(run.startedAt);
      let outcome: StepOutcome;
      if (run.step !== 'CleaningUp' && elapsed >= timeoutMs) {
        this.deps.verifications.forget(verificationKey(ds, run.id));
        outcome = failed(run, `timed out after ${formatDuration(timeoutMs)} while ${STEP_TEXT[run.step]}${run.message ? ` (${run.message})` : ''}`);
      } else {
        outcome = await RUN_STEPS[run.step]({ deps: this.deps, ds, run });
      }
      if ('finished' in outcome) return this.finish(ds, run, ctx);
      const changed = JSON.stringify(outcome.run) !== JSON.stringify(run);
      if (changed) await this.writer.record(ds, running(outcome.run), { currentRun: outcome.run });
      if (outcome.requeueAfterMs !== undefined || !changed) {
        const left = run.step === 'CleaningUp' ? Infinity : Math.max(1, timeoutMs - elapsed);
        return { requeueAfterMs: Math.min(outcome.requeueAfterMs ?? 2_000, left) };
      }
      run = outcome.run;
    }
  }

  /** Cleanup is done: the run becomes lastRun and the head of history. */
  private async finish(ds: DrillSchedule, run: DrillCurrentRun, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const result = run.result ?? 'Failed';
    const lastRun: DrillRun = {
      id: run.id,
      trigger: run.trigger,
      startedAt: run.startedAt,
      finishedAt: this.now().toISOString(),
      result,
      ...(run.message ? { message: run.message } : {}),
      ...(run.recoveryPointName ? { recoveryPointName: run.recoveryPointName } : {}),
      ...(run.rpoSeconds !== undefined ? { rpoSeconds: run.rpoSeconds } : {}),
      ...(run.rtoSeconds !== undefined ? { rtoSeconds: run.rtoSeconds } : {}),
      verifiedBytes: run.verifiedBytes ?? 0,
      targetVirtualMachineIds: run.targetVirtualMachineIds ?? [],
    };
    const history = [lastRun, ...(ds.status?.history ?? [])].slice(0, ds.spec.historyLimit ?? DEFAULT_HISTORY);
    await this.writer.record(ds, { state: 'ready', reason: `Drill${result}`, message: `drill ${run.id} ${result.toLowerCase()}` }, { currentRun: undefined, lastRun, history });
    const text = `drill ${run.id} of ${drillTarget(ds)} ${result.toLowerCase()}${run.message ? `: ${run.message}` : ''}`;
    ctx.events.record(ds, result === 'Passed' ? 'Normal' : 'Warning', `Drill${result}`, text);
    ctx.log.info(text, { namespace: ds.metadata.namespace, name: ds.metadata.name });
    return { requeueAfterMs: 1 };
  }
}

const running = (run: DrillCurrentRun) => ({ state: 'progressing', reason: 'Running', message: `drill ${run.id}: ${STEP_TEXT[run.step]}` }) as const;

/** A run's id from its start: 20261203t154500 (UTC; lower case, as names need). */
export function runIdAt(at: Date): string {
  return at.toISOString().slice(0, 19).replace(/[-:]/g, '').toLowerCase();
}
