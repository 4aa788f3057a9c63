/**
 * After a plan failover ran: what the user sets on the plan request is set on every member request, and
 * the plan request reports the members' progress —
 *   cleanup (Test)   member requests cleaned up (each removes its test VM), the action Jobs deleted:
 *                    CleaningUp, then CleanedUp;
 *   commit           member requests that succeeded are committed: Committed once all are;
 *   reprotect        committed member requests re-protect: Reprotected=True once all are protected back.
 * And deleting a plan request: its Jobs are deleted; a Test's member requests are deleted too (each
 * cleans up before it goes) and the plan request waits until they are gone. A real failover's member
 * requests stay (deleting a real failover's request never undoes it).
 */
import type { FailoverRequest, FailoverRequestSpec, FailoverRequestStatus } from '../../api/types.ts';
import { refOf } from '../../kube/custom-resources.ts';
import { isTrue } from '../../runtime/conditions.ts';
import type { ReconcileContext, ReconcileResult } from '../../runtime/controller.ts';
import type { StatusWriter } from '../../runtime/status-writer.ts';
import { POLL_MS } from '../../runtime/step.ts';
import { PLAN_FAILOVER_LABEL, planFailoverLabelValue } from './plan-members.ts';
import { memberRequests, memberStatus, type PlanFailoverDeps } from './plan-state.ts';

type Flag = 'commit' | 'reprotect' | 'cleanup';

/** Sets `flag` on the member requests `which` selects that lack it. */
async function propagate(deps: PlanFailoverDeps, members: readonly FailoverRequest[], flag: Flag, which: (f: FailoverRequest) => boolean): Promise<void> {
  const patch: Partial<FailoverRequestSpec> = flag === 'reprotect' ? { commit: true, reprotect: true } : { [flag]: true };
  for (const member of members.filter((m) => which(m) && !m.spec[flag] && !m.metadata.deletionTimestamp)) await deps.failovers.mergePatch(refOf(member), { spec: patch });
}

async function deleteJobs(deps: PlanFailoverDeps, fo: FailoverRequest): Promise<number> {
  const namespace = fo.metadata.namespace ?? 'default';
  const jobs = await deps.jobs.list(namespace, `${PLAN_FAILOVER_LABEL}=${planFailoverLabelValue(fo.metadata.name ?? '')}`);
  for (const job of jobs) await deps.jobs.delete(namespace, job.metadata?.name ?? '');
  return jobs.length;
}

export async function afterPlanFailover(deps: PlanFailoverDeps, writer: StatusWriter<FailoverRequest>, fo: FailoverRequest, ctx: ReconcileContext): Promise<ReconcileResult | void> {
  const children = memberRequests(fo, deps.listFailovers(fo.metadata.namespace ?? 'default'));
  const list = [...children.values()];
  const members = (fo.status?.members ?? []).map((m) => memberStatus(m, children.get(m.replicatedVMName)));
  const fields: FailoverRequestStatus = { members };
  const phase = fo.status?.phase;
  if (fo.spec.type === 'Test' && fo.spec.cleanup) {
    if (phase === 'CleanedUp') return;
    await propagate(deps, list, 'cleanup', () => true);
    const jobs = await deleteJobs(deps, fo);
    const left = list.filter((m) => m.status?.phase !== 'CleanedUp').length;
    if (left || jobs) {
      await writer.record(fo, { state: 'progressing', reason: 'CleaningUp', message: `${left} VM(s) and ${jobs} Job(s) to remove` }, { ...fields, phase: 'CleaningUp' });
      return { requeueAfterMs: POLL_MS };
    }
    await writer.record(fo, { state: 'ready', reason: 'CleanedUp', message: 'every test VM and Job was removed' }, { ...fields, phase: 'CleanedUp' });
    ctx.events.record(fo, 'Normal', 'CleanedUp', `removed ${list.length} test failover(s)`);
    return;
  }
  const succeeded = list.filter((m) => ['Succeeded', 'Committed'].includes(m.status?.phase ?? ''));
  if (fo.spec.commit) await propagate(deps, succeeded, 'commit', () => true);
  if (fo.spec.reprotect) await propagate(deps, succeeded, 'reprotect', () => true);
  const committed = fo.spec.commit && succeeded.every((m) => m.status?.phase === 'Committed');
  const reprotected = fo.spec.reprotect && committed && succeeded.every((m) => isTrue(m.status?.conditions, 'Reprotected'));
  if (committed) fields.phase = 'Committed';
  const conditions = [
    ...(fo.spec.commit ? [{ type: 'Committed', status: committed ? 'True' : 'False', reason: committed ? 'Committed' : 'Committing', message: `${succeeded.filter((m) => m.status?.phase === 'Committed').length}/${succeeded.length} VM(s) committed` } as const] : []),
    ...(fo.spec.reprotect ? [{ type: 'Reprotected', status: reprotected ? 'True' : 'False', reason: reprotected ? 'Reprotected' : 'Reprotecting', message: `${succeeded.filter((m) => isTrue(m.status?.conditions, 'Reprotected')).length}/${succeeded.length} VM(s) protected back` } as const] : []),
  ];
  const ready = fo.status?.conditions?.find((c) => c.type === 'Ready');
  await writer.record(fo, { state: 'ready', reason: fields.phase ?? ready?.reason ?? 'Succeeded', message: ready?.message }, fields, ...conditions);
  if ((fo.spec.commit && !committed) || (fo.spec.reprotect && !reprotected)) return { requeueAfterMs: POLL_MS };
}

/** Deleting a plan request: true while something it waits for remains. */
export async function removePlanFailover(deps: PlanFailoverDeps, fo: FailoverRequest): Promise<boolean> {
  const jobs = await deleteJobs(deps, fo);
  if (fo.spec.type !== 'Test') return jobs > 0;
  const namespace = fo.metadata.namespace ?? 'default';
  const children = [...memberRequests(fo, (await deps.failovers.list(namespace, `${PLAN_FAILOVER_LABEL}=${planFailoverLabelValue(fo.metadata.name ?? '')}`)).items).values()];
  for (const child of children.filter((c) => !c.metadata.deletionTimestamp)) await deps.failovers.delete(refOf(child));
  return children.length > 0 || jobs > 0;
}
