/**
 * The one place a plan failover chooses each member's recovery point: what goes into spec.recoveryPoint
 * of the member's own FailoverRequest. Called once per batch of members about to start, with every member
 * of the plan (started or not), so a choice that spans members is made for all of them alike.
 *
 * A member outside any consistency group gets the plan request's own choice (LatestProcessed by default),
 * which its FailoverRequest resolves to that VM's own point. Members of one consistency group
 * (ReplicatedVM spec.consistencyGroup) asking LatestProcessed or LatestAppConsistent get instead the named
 * RecoveryPoint of one group cycle: the newest that every member of the group in the plan has sealed
 * (group-cycle.ts), never each VM's own newest; once a member of the group has started, the rest of the
 * group (in later plan groups) keeps that member's cycle, so the whole group fails over to one cycle.
 * When the group has no common cycle, the batch is not started: an error names the members that lack
 * one, and the pass is retried (the datapath seals group cycles every interval).
 */
import { CONSISTENCY_GROUP_LABEL } from '../../api/contract.ts';
import type { FailoverRequest, PlanMemberStatus, RecoveryPoint, ReplicatedVM } from '../../api/types.ts';
import type { CustomResourceClient } from '../../kube/custom-resources.ts';
import { RetryableError } from '../../runtime/reconcile-errors.ts';
import { groupCycleOf, newestGroupCycles, type GroupMember } from './group-cycle.ts';
import { memberRequests } from './plan-state.ts';

export interface PlanPointDeps {
  points: CustomResourceClient<RecoveryPoint>;
  listFailovers: (namespace: string) => readonly FailoverRequest[];
  listVms: (namespace: string) => readonly ReplicatedVM[];
}

const GROUP_CYCLE_CHOICES = new Set(['LatestProcessed', 'LatestAppConsistent']);

/** spec.recoveryPoint for each member of `starting` (by ReplicatedVM name). */
export async function memberRecoveryPoints(deps: PlanPointDeps, planFailover: FailoverRequest, all: readonly PlanMemberStatus[], starting: readonly string[]): Promise<Map<string, string>> {
  const requested = planFailover.spec.recoveryPoint ?? 'LatestProcessed';
  const chosen = new Map(starting.map((name) => [name, requested]));
  if (!GROUP_CYCLE_CHOICES.has(requested)) return chosen;
  const namespace = planFailover.metadata.namespace ?? 'default';
  const inPlan = new Set(all.map((m) => m.replicatedVMName));
  const groupOf = new Map(deps.listVms(namespace).flatMap((vm) => (vm.spec.consistencyGroup && inPlan.has(vm.metadata.name ?? '') ? [[vm.metadata.name as string, vm.spec.consistencyGroup] as const] : [])));
  const groups = new Set(starting.flatMap((name) => (groupOf.has(name) ? [groupOf.get(name) as string] : [])));
  const started = memberRequests(planFailover, deps.listFailovers(namespace));
  for (const group of groups) {
    const members: GroupMember[] = [...groupOf].filter(([, g]) => g === group).map(([name]) => ({ name, group }));
    const points = (await deps.points.list(namespace, `${CONSISTENCY_GROUP_LABEL}=${group}`)).items;
    const cycle = startedCycle(members, started, points) ?? newestCycle(group, members, points, requested === 'LatestAppConsistent');
    for (const name of starting.filter((n) => groupOf.get(n) === group)) {
      const point = points.find((p) => p.spec.replicatedVMName === name && groupCycleOf(p)?.cycle === cycle);
      if (!point) throw new RetryableError('GroupCycleIncomplete', `consistency group ${group}: ${name} has no recovery point of group cycle ${cycle}, which its group's members already use`);
      chosen.set(name, point.metadata.name ?? '');
    }
  }
  return chosen;
}

/** The group cycle a started member of the group was given (its request names the point), if any. */
function startedCycle(members: readonly GroupMember[], started: ReadonlyMap<string, FailoverRequest>, points: readonly RecoveryPoint[]): number | undefined {
  for (const { name } of members) {
    const named = started.get(name)?.spec.recoveryPoint;
    const point = named ? points.find((p) => p.metadata.name === named) : undefined;
    const at = point ? groupCycleOf(point) : undefined;
    if (at) return at.cycle;
  }
  return undefined;
}

function newestCycle(group: string, members: readonly GroupMember[], points: readonly RecoveryPoint[], appConsistent: boolean): number {
  const newest = newestGroupCycles(members, points, { appConsistent }).get(group);
  if (newest?.cycle === undefined) {
    const lacking = newest && 'lacking' in newest ? newest.lacking.join(', ') : members.map((m) => m.name).join(', ');
    throw new RetryableError('GroupCycleIncomplete', `consistency group ${group}: no ${appConsistent ? 'application-consistent ' : ''}group cycle sealed by every member in the plan yet (lacking: ${lacking})`);
  }
  return newest.cycle;
}
