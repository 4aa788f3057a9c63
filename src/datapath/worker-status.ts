/**
 * Status and health of one replicated VM as this replica sees it, written to the ReplicatedVM with
 * server-side apply under the datapath's own field manager (the operator owns the other fields): owner,
 * cycle, backlog, the newest points, health, initial-sync progress, the Replicating condition and, in a source-region
 * outage, SourceRegionUnavailable (source-region.ts), the churn anomaly and its condition (worker-churn.ts),
 * plus the matching metrics. Also where the worker's
 * loops record an error they will retry (metric, log, event, and the health turning Critical once a stage
 * keeps failing — unless the source region is unavailable: then the RPO thresholds decide) and clear it
 * once the stage succeeds.
 *
 * Status carries no age that changes with every write: the RPO is the age of lastRecoveryPoint.time, which
 * readers compute (printer column, CLI, the RPO metric at scrape). So the status is written only when a
 * field a user sees has changed (a point sealed, a cycle queued, health crossing a threshold), or at the
 * slow heartbeat — a quiet fleet makes no API-server writes, and no watch events for the operator.
 */
import type { Condition, ReplicatedVMStatus } from '../api/types.ts';
import { refOf } from '../kube/custom-resources.ts';
import { setCondition, type ConditionInput } from '../runtime/conditions.ts';
import { errorKind, errorMessage } from './errors.ts';
import { healthOf } from './health.ts';
import { cycleBytes, type JournalState } from './journal.ts';
import * as metrics from './metrics.ts';
import { DATAPATH_FIELD_MANAGER } from '../api/contract.ts';
import { noteSourceFailure, noteSourceReachable, outageMessage, reportedOutage, sourceRegionCondition } from './source-region.ts';
import { churnStatus } from './worker-churn.ts';
import type { VmContext } from './worker-context.ts';

/** The fields the datapath owns, written with server-side apply under its own field manager. */
function statusFields(ctx: VmContext, now = Date.now()): Partial<ReplicatedVMStatus> {
  const state = ctx.state;
  const times = ctx.times;
  const lastPoint = state?.lastPoint;
  const rpoMs = lastPoint ? Math.max(0, now - Date.parse(lastPoint.time)) : undefined; // for health only
  const outage = reportedOutage(ctx, now);
  const broken = !outage && ctx.failing !== undefined && now - ctx.failing.since > Math.max(3 * ctx.intervalMs, 30_000);
  const health = healthOf(rpoMs, broken, times);
  const pendingBytes = (state?.pending ?? []).reduce((n, p) => n + cycleBytes(p), 0);
  const labels = ctx.labels;
  metrics.backlogBytes.set(labels, pendingBytes);
  metrics.backlogCycles.set(labels, state?.pending.length ?? 0);

  const fields: Partial<ReplicatedVMStatus> = {
    replication: {
      owner: ctx.deps.identity,
      ...(state && state.sealed > 0 ? { cycle: state.sealed } : {}),
      bytesReplicated: state?.bytesReplicated ?? 0,
      ...(lastPoint ? { lastCycleTime: lastPoint.time } : {}),
      pendingCycles: state?.pending.length ?? 0,
      pendingBytes,
      ...(state?.syncNow ? { syncNow: state.syncNow } : {}),
    },
    health,
  };
  if (state?.initialSync) {
    const sync = state.initialSync;
    const done = Boolean(sync.completionTime);
    const total = done ? sync.bytesTotal : Math.max(sync.bytesTotal, ctx.progress.planned);
    // Capture (source → cache) and apply (cache → replica) each count for half of the way.
    const percent = done ? 100 : total > 0 ? Math.min(99, Math.floor((100 * (ctx.progress.captured + ctx.progress.applied)) / (2 * total))) : 0;
    const elapsed = (now - (ctx.progress.startedAt || Date.parse(sync.startTime))) / 1000;
    fields.initialSync = {
      percent,
      percentText: `${percent}%`,
      bytesTotal: total,
      bytesCopied: done ? total - (sync.bytesMatched ?? 0) : ctx.progress.applied - ctx.progress.matched,
      ...(sync.bytesMatched !== undefined || ctx.progress.matched > 0 ? { bytesMatched: done ? (sync.bytesMatched ?? 0) : ctx.progress.matched } : {}),
      ...(done ? {} : { bytesPerSecond: elapsed > 0 ? Math.round((ctx.progress.captured + ctx.progress.applied) / 2 / elapsed) : 0 }),
      startTime: sync.startTime,
      ...(done ? { completionTime: sync.completionTime } : {}),
    };
    metrics.initialSyncPercent.set(labels, percent);
  }
  if (lastPoint) fields.lastRecoveryPoint = { name: lastPoint.name, time: lastPoint.time, consistency: lastPoint.consistency };
  if (state?.lastAppConsistentPoint) fields.lastAppConsistentRecoveryPoint = { name: state.lastAppConsistentPoint.name, time: state.lastAppConsistentPoint.time };
  const source = sourceRegionCondition(ctx, outage);
  const churn = churnStatus(state);
  if (churn.field) fields.churnAnomaly = churn.field;
  fields.conditions = [conditionOf(ctx, replicatingCondition(ctx, state, fields, broken, outage)), ...(source ? [conditionOf(ctx, source)] : []), conditionOf(ctx, churn.condition)];
  return fields;
}

function replicatingCondition(ctx: VmContext, state: Readonly<JournalState> | undefined, fields: Partial<ReplicatedVMStatus>, broken: boolean, outage: { since: number; message: string } | undefined): ConditionInput {
  let input: Omit<ConditionInput, 'type'>;
  if (outage) input = { status: 'False', reason: 'SourceRegionUnavailable', message: outageMessage(ctx, outage) };
  else if (broken && ctx.failing) input = { status: 'False', reason: 'ReplicationFailing', message: `${ctx.failing.stage} failing since ${new Date(ctx.failing.since).toISOString()}: ${ctx.failing.message}` };
  else if (!state?.lastPoint) input = { status: 'False', reason: 'InitialSync', message: initialSyncMessage(ctx, fields) };
  else if (state.resync.length > 0) input = { status: 'False', reason: 'Resynchronizing', message: `copying disk(s) ${state.resync.join(', ')} again from the source` };
  else input = { status: 'True', reason: 'Replicating', message: `recovery point ${state.lastPoint.name} sealed; ${state.pending.length} cycle(s) pending` };
  return { type: 'Replicating', ...input };
}

/** Initial sync under way, or waiting for its turn (initial-sync-slots.ts): a VM queued is reported, not silent. */
function initialSyncMessage(ctx: VmContext, fields: Partial<ReplicatedVMStatus>): string {
  const slots = ctx.deps.initialSyncs;
  if (ctx.syncQueuedSince === undefined || !slots) return `initial sync ${fields.initialSync?.percent ?? 0}% done`;
  return `waiting for its turn since ${new Date(ctx.syncQueuedSince).toISOString()}: at most ${slots.limit} VM(s) run their initial sync at once on replica ${ctx.deps.identity}`;
}

/** The condition as sent: lastTransitionTime kept unless its status flips. */
function conditionOf(ctx: VmContext, input: ConditionInput): Condition {
  const conditions = setCondition(ctx.vm.status?.conditions, input, ctx.vm.metadata.generation);
  return conditions.find((c) => c.type === input.type) as Condition;
}

/**
 * Looks at the status when forced or due (every statusIntervalMs) and writes it only when it changed, or
 * when the heartbeat (statusHeartbeatMs) has passed since the last write.
 */
export async function writeStatus(ctx: VmContext, force: boolean): Promise<void> {
  if (!force && Date.now() - ctx.lastCheckAt < ctx.deps.config.statusIntervalMs) return;
  ctx.lastCheckAt = Date.now();
  const fields = statusFields(ctx);
  const text = JSON.stringify(fields);
  if (text === ctx.lastStatus && Date.now() - ctx.lastStatusAt < ctx.deps.config.statusHeartbeatMs) return;
  try {
    const updated = await ctx.deps.vms.applyStatus(refOf(ctx.vm), fields, DATAPATH_FIELD_MANAGER);
    ctx.vm = { ...ctx.vm, status: updated.status as ReplicatedVMStatus };
    ctx.lastStatus = text;
    ctx.lastStatusAt = Date.now();
  } catch (error) {
    metrics.datapathErrors.inc({ stage: 'status', kind: 'kube' });
    ctx.log.warn('writing status failed', { error: errorMessage(error) });
  }
}

/** A stage failed and will be retried: metric, log, event; health turns Critical if it keeps failing. */
export function recordError(ctx: VmContext, stage: string, error: unknown): void {
  const message = errorMessage(error);
  metrics.datapathErrors.inc({ stage, kind: errorKind(error) });
  ctx.failing ??= { since: Date.now(), stage, message };
  ctx.failing.message = message;
  ctx.failing.stage = stage;
  noteSourceFailure(ctx, error);
  ctx.log.warn(`${stage} failed; will retry`, { error: message });
  ctx.deps.events.record(ctx.vm, 'Warning', 'ReplicationError', `${stage}: ${message}`.slice(0, 500));
  void writeStatus(ctx, false);
}

/** The stage succeeded: the error it (or the session) recorded is over. */
export function clearError(ctx: VmContext, stage: string): void {
  if (stage === 'capture') noteSourceReachable(ctx);
  if (ctx.failing?.stage === stage || ctx.failing?.stage === 'session') ctx.failing = undefined;
}
