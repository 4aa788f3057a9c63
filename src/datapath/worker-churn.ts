/**
 * A VM's churn anomaly on the replica that owns it (the rule: churn-baseline.ts). Its state lives in the
 * journal (`churn`), so it survives handovers and restarts like the cycles do:
 *
 *   seal       each cycle is judged before its snapshots are taken (a retried seal judges it the same way,
 *              the journal being unchanged until the seal completes); the first anomalous cycle starts an
 *              anomaly naming the newest point before it (the last clean point) — its point and every later
 *              one are suspect (label siterecovery.io/suspect, status.suspect, snapshot metadata srpsuspect),
 *              the baseline is frozen, and the last clean point is kept past the retention;
 *   clear      a new value of the annotation siterecovery.io/clear-churn-anomaly on the ReplicatedVM (set
 *              by `site-recovery clear-anomaly`) ends the anomaly and empties the baseline: learning starts
 *              again from the next cycle, and the retained point ages out as any other;
 *   status     status.churnAnomaly and the ChurnAnomaly condition (True while one is in force), written
 *              with the rest of the datapath's status; events ChurnAnomaly and ChurnAnomalyCleared.
 */
import { CLEAR_CHURN_ANOMALY_ANNOTATION, CHURN_ANOMALY_CONDITION } from '../api/contract.ts';
import type { ReplicatedVMStatus } from '../api/types.ts';
import type { ConditionInput } from '../runtime/conditions.ts';
import { anomalyReason, churnRuleOf, judgeCycle, type ChurnAnomaly, type ChurnState } from './churn-baseline.ts';
import type { CycleRecord, JournalState } from './journal.ts';
import * as metrics from './metrics.ts';
import type { Session, VmContext } from './worker-context.ts';

export interface SealChurn {
  /** Why the point is suspect; absent for a clean point. */
  suspect?: string;
  /** The journal's churn state once the point is sealed. */
  next: ChurnState;
  /** The anomaly this very cycle started. */
  detected?: ChurnAnomaly;
}

/** How the cycle `record`, about to be sealed as `pointName`, is judged. */
export function judgeSeal(ctx: VmContext, state: Readonly<JournalState>, record: CycleRecord, pointName: string): SealChurn {
  const churn: ChurnState = state.churn ?? { samples: {} };
  if (churn.anomaly) return { suspect: `sealed during the churn anomaly that began at ${churn.anomaly.reason}`, next: churn };
  const rule = churnRuleOf(ctx.deps.policy(ctx.vm));
  const disks = Object.entries(record.disks).map(([name, d]) => ({ name, bytes: d.bytes, full: d.full || d.seeded === true }));
  const verdict = judgeCycle(rule, churn.samples, disks);
  if (!verdict.anomalous) return { next: { ...churn, samples: verdict.samples } };
  const reason = anomalyReason(record.cycle, verdict, rule);
  const detected: ChurnAnomaly = { cycle: record.cycle, since: record.time, reason, firstSuspectPoint: pointName, ...(state.lastPoint ? { lastCleanPoint: state.lastPoint.name } : {}) };
  return { suspect: reason, next: { ...churn, anomaly: detected }, detected };
}

/** After the seal: the event, log and metric of an anomaly this cycle started. */
export function reportDetected(ctx: VmContext, detected: ChurnAnomaly | undefined): void {
  if (!detected) return;
  metrics.churnAnomalies.inc(ctx.labels);
  const clean = detected.lastCleanPoint ? `the last clean point ${detected.lastCleanPoint} is kept until the anomaly is cleared` : 'no clean point exists';
  ctx.log.warn('churn anomaly: recovery points from now on are suspect', { cycle: detected.cycle, reason: detected.reason, lastCleanPoint: detected.lastCleanPoint });
  ctx.deps.events.record(ctx.vm, 'Warning', 'ChurnAnomaly', `recovery point ${detected.firstSuspectPoint} and later ones are suspect (${detected.reason}); ${clean}`.slice(0, 1000));
}

/** The points pruning must keep while an anomaly is in force. */
export function retainedPoints(state: Readonly<JournalState> | undefined): string[] {
  const clean = state?.churn?.anomaly?.lastCleanPoint;
  return clean ? [clean] : [];
}

/** The clear request not yet honoured, if any. */
function pendingClear(ctx: VmContext, state: Readonly<JournalState>): string | undefined {
  const token = ctx.vm.metadata.annotations?.[CLEAR_CHURN_ANOMALY_ANNOTATION];
  return token && token !== state.churn?.cleared ? token : undefined;
}

/** Honours a new clear request: the anomaly ends and the baseline starts again. Returns whether there was one. */
export async function honourClear(ctx: VmContext, session: Session): Promise<boolean> {
  const { journal } = session;
  const token = pendingClear(ctx, journal.state);
  if (!token) return false;
  const ended = journal.state.churn?.anomaly;
  await journal.update((s) => (s.churn = { samples: {}, cleared: token }));
  ctx.log.info('churn baseline reset on request', { request: token, cycle: ended?.cycle });
  // A request with no anomaly in force (or an old annotation met by a fresh journal) only resets the baseline.
  if (ended) ctx.deps.events.record(ctx.vm, 'Normal', 'ChurnAnomalyCleared', `churn anomaly of cycle ${ended.cycle} cleared (request ${token}); new points are clean, the baseline is learnt again from the next cycles`.slice(0, 1000));
  return true;
}

/** Whether the VM carries a clear request the journal has not honoured (the apply loop then wakes). */
export function clearRequested(ctx: VmContext): boolean {
  const state = ctx.session?.journal.state;
  return state !== undefined && pendingClear(ctx, state) !== undefined;
}

/** status.churnAnomaly (absent: none in force) and the ChurnAnomaly condition. */
export function churnStatus(state: Readonly<JournalState> | undefined): { field: ReplicatedVMStatus['churnAnomaly']; condition: ConditionInput } {
  const anomaly = state?.churn?.anomaly;
  if (!anomaly) return { field: undefined, condition: { type: CHURN_ANOMALY_CONDITION, status: 'False', reason: 'ChurnNormal', message: 'no churn anomaly in force' } };
  const clean = anomaly.lastCleanPoint ? `LatestClean is ${anomaly.lastCleanPoint}` : 'no clean point exists';
  return {
    field: anomaly,
    condition: { type: CHURN_ANOMALY_CONDITION, status: 'True', reason: 'ChurnAnomaly', message: `points from ${anomaly.firstSuspectPoint} on are suspect: ${anomaly.reason}; ${clean}; clear with site-recovery clear-anomaly` },
  };
}
