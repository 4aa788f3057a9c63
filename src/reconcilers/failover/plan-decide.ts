/**
 * The orchestration of a plan failover as one pure function: from what is observed (the plan's groups,
 * the members frozen in status at the start, each member's own FailoverRequest, each action's Job or
 * approval) to the status to record and the next things to create. No I/O here: `plan-reconciler.ts` observes
 * and acts; this file decides, and unit tests drive every branch of it.
 *
 * A group runs its pre-actions in order, then fails its VMs over (at most `parallelism` at a time), then
 * runs its post-actions in order; the next group starts only when this one Succeeded. A failed VM or
 * action: with onVMFailure Stop, no new VM or action starts (those under way finish) and the plan fails;
 * with Continue, the failure is recorded (the group ends Failed) and the plan goes on.
 */
import type { PlanActionStatus, PlanGroupStatus, PlanMemberStatus, RecoveryPlanAction, RecoveryPlanGroup } from '../../api/types.ts';

/** Where a member's or an action's work is. */
export type WorkState = 'NotStarted' | 'Running' | 'WaitingForApproval' | 'Succeeded' | 'Failed';

export interface PlanObservation {
  groups: readonly RecoveryPlanGroup[];
  members: readonly PlanMemberStatus[];
  onVMFailure: 'Stop' | 'Continue';
  parallelism: number;
  /** State of each member's FailoverRequest, by ReplicatedVM name (NotStarted: none yet). */
  member: (replicatedVMName: string) => WorkState;
  /** State of an action (its Job, or its approval). */
  action: (group: string, action: RecoveryPlanAction) => WorkState;
  /** Earlier status.groups (for the times). */
  previous: readonly PlanGroupStatus[];
  now: string;
  /** The name of the Job an action runs as. */
  jobName: (group: string, action: string) => string;
}

export type PlanAct = { kind: 'startMember'; replicatedVMName: string; group: string } | { kind: 'startJob'; group: string; action: RecoveryPlanAction; stage: 'Pre' | 'Post' };

export interface PlanDecision {
  groups: PlanGroupStatus[];
  acts: PlanAct[];
  /** Running: look again later; Succeeded: every group ended (failures, with Continue, listed); Failed: stopped. */
  outcome: 'Running' | 'Succeeded' | 'Failed';
  /** What failed (VMs and actions), for the condition's message. */
  failures: string[];
}

interface GroupProgress {
  phase: PlanGroupStatus['phase'];
  message?: string;
  actions: PlanActionStatus[];
  acts: PlanAct[];
  failures: string[];
}

const finished = (s: WorkState) => s === 'Succeeded' || s === 'Failed';

/** Runs `actions` in order: the first one not finished is started or waited for. */
function runActions(o: PlanObservation, group: string, actions: readonly RecoveryPlanAction[], stage: 'Pre' | 'Post', progress: GroupProgress): 'done' | 'busy' | 'stopped' {
  for (const action of actions) {
    const state = o.action(group, action);
    const phase = state === 'NotStarted' ? (action.manualApproval ? 'WaitingForApproval' : 'Running') : state;
    progress.actions.push({ name: action.name, stage, phase, ...(action.job ? { jobName: o.jobName(group, action.name) } : {}) });
    if (state === 'NotStarted' && action.job) progress.acts.push({ kind: 'startJob', group, action, stage });
    if (phase === 'Failed') {
      progress.failures.push(`action ${action.name}`);
      if (o.onVMFailure === 'Stop') return 'stopped';
      continue;
    }
    if (phase !== 'Succeeded') {
      progress.phase = phase === 'WaitingForApproval' ? 'WaitingForApproval' : 'Running';
      progress.message = phase === 'WaitingForApproval' ? `waiting for approval of ${action.name} (site-recovery approve FAILOVER ${action.name})` : `${stage === 'Pre' ? 'pre' : 'post'}-action ${action.name} running`;
      return 'busy';
    }
  }
  return 'done';
}

/** Fails the group's VMs over, at most `parallelism` at a time; under Stop, starts none after a failure. */
function runMembers(o: PlanObservation, group: string, progress: GroupProgress): 'done' | 'busy' | 'stopped' {
  const members = o.members.filter((m) => m.group === group).map((m) => ({ name: m.replicatedVMName, state: o.member(m.replicatedVMName) }));
  const failed = members.filter((m) => m.state === 'Failed').map((m) => m.name);
  progress.failures.push(...failed.map((name) => `VM ${name}`));
  const running = members.filter((m) => m.state !== 'NotStarted' && !finished(m.state)).length;
  const stopping = failed.length > 0 && o.onVMFailure === 'Stop';
  const toStart = stopping ? [] : members.filter((m) => m.state === 'NotStarted').slice(0, Math.max(0, o.parallelism - running));
  for (const m of toStart) progress.acts.push({ kind: 'startMember', replicatedVMName: m.name, group });
  const left = members.filter((m) => !finished(m.state)).length;
  if (stopping && running === 0) return 'stopped';
  if (left === 0) return 'done';
  progress.phase = 'Running';
  progress.message = `${members.length - left}/${members.length} VMs done${stopping ? `; stopping after the failure of ${failed.join(', ')}` : ''}`;
  return 'busy';
}

function groupProgress(o: PlanObservation, group: RecoveryPlanGroup): GroupProgress {
  const progress: GroupProgress = { phase: 'Succeeded', actions: [], acts: [], failures: [] };
  for (const stage of ['Pre', 'Members', 'Post'] as const) {
    const step = stage === 'Members' ? runMembers(o, group.name, progress) : runActions(o, group.name, (stage === 'Pre' ? group.preActions : group.postActions) ?? [], stage, progress);
    if (step === 'busy') return progress;
    if (step === 'stopped') return { ...progress, phase: 'Failed', message: `stopped (onVMFailure Stop): ${progress.failures.join(', ')} failed` };
  }
  if (progress.failures.length) return { ...progress, phase: 'Failed', message: `${progress.failures.join(', ')} failed; went on (onVMFailure Continue)` };
  return progress;
}

export function decidePlan(o: PlanObservation): PlanDecision {
  const groups: PlanGroupStatus[] = [];
  const acts: PlanAct[] = [];
  const failures: string[] = [];
  let outcome: PlanDecision['outcome'] = 'Succeeded';
  for (const group of o.groups) {
    const before = o.previous.find((g) => g.name === group.name);
    if (outcome !== 'Succeeded') {
      groups.push({ name: group.name, phase: 'Pending' });
      continue;
    }
    const progress = groupProgress(o, group);
    acts.push(...progress.acts);
    failures.push(...progress.failures);
    const ended = progress.phase === 'Succeeded' || progress.phase === 'Failed';
    groups.push({
      name: group.name,
      phase: progress.phase,
      startedAt: before?.startedAt ?? o.now,
      ...(ended ? { completedAt: before?.completedAt ?? o.now } : {}),
      ...(progress.message ? { message: progress.message } : {}),
      ...(progress.actions.length ? { actions: progress.actions } : {}),
    });
    if (!ended) outcome = 'Running';
    else if (progress.phase === 'Failed' && o.onVMFailure === 'Stop') outcome = 'Failed';
  }
  return { groups, acts, outcome, failures };
}
