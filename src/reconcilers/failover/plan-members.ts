/**
 * Who is in a recovery plan, and what a plan failover names: the members of each group (named, or
 * selected by label), a plan's refusals (a VM in two groups, two actions of one name), and the
 * deterministic names of the FailoverRequest per member and the Job per action, so a create re-sent after
 * a crash is the same create. Pure functions; the RecoveryPlan reconciler and the plan failover share them.
 */
import type { PlanMemberStatus, RecoveryPlan, RecoveryPlanGroup, ReplicatedVM } from '../../api/types.ts';
import { shortHash } from '../../azure/arm-id.ts';

export { APPROVE_ANNOTATION_PREFIX, PLAN_FAILOVER_LABEL } from '../../api/contract.ts';

function selects(group: RecoveryPlanGroup, vm: ReplicatedVM): boolean {
  const labels = group.replicatedVMSelector?.matchLabels;
  if (!labels) return false;
  return Object.entries(labels).every(([k, v]) => vm.metadata.labels?.[k] === v);
}

/** The members of each group, in plan order (named first, then selected, sorted by name); a VM is in its first group only. */
export function planMembers(plan: RecoveryPlan, vms: readonly ReplicatedVM[]): PlanMemberStatus[] {
  const seen = new Set<string>();
  const members: PlanMemberStatus[] = [];
  for (const group of plan.spec.groups) {
    const selected = vms.filter((vm) => selects(group, vm)).map((vm) => vm.metadata.name ?? '').sort();
    for (const name of [...(group.replicatedVMs ?? []), ...selected]) {
      if (seen.has(name)) continue;
      seen.add(name);
      members.push({ replicatedVMName: name, group: group.name, phase: 'Pending' });
    }
  }
  return members;
}

/** Why a plan cannot run as written, or undefined: a VM named in two groups, an action name used twice. */
export function planRefusal(plan: RecoveryPlan): string | undefined {
  const named = plan.spec.groups.flatMap((g) => (g.replicatedVMs ?? []).map((vm) => ({ vm, group: g.name })));
  for (const [i, a] of named.entries()) {
    const again = named.slice(i + 1).find((b) => b.vm === a.vm);
    if (again) return `ReplicatedVM ${a.vm} is named in group ${a.group} and in group ${again.group}`;
  }
  const actions = plan.spec.groups.flatMap((g) => [...(g.preActions ?? []), ...(g.postActions ?? [])].map((a) => a.name));
  const twice = actions.find((name, i) => actions.indexOf(name) !== i);
  return twice ? `two actions are named ${twice}: action names must be unique in a plan (an approval names its action)` : undefined;
}

/** A Kubernetes name of at most `max` characters: `base`, or its head and a hash of the whole. */
function boundedName(base: string, max: number): string {
  if (base.length <= max) return base;
  const hash = shortHash(8, base);
  return `${base.slice(0, max - hash.length - 1).replace(/[-.]+$/, '')}-${hash}`;
}

/** The FailoverRequest of one member of plan failover `planFailover`. */
export function memberFailoverName(planFailover: string, replicatedVMName: string): string {
  return boundedName(`${planFailover}-${replicatedVMName}`, 253);
}

/** The value of PLAN_FAILOVER_LABEL for plan failover `planFailover` (a label value has at most 63 characters). */
export function planFailoverLabelValue(planFailover: string): string {
  return boundedName(planFailover, 63);
}

/** The Job of one action (a Job's name is a pod label value: at most 63 characters). */
export function actionJobName(planFailover: string, group: string, action: string): string {
  return boundedName(`${planFailover}-${group}-${action}`, 63);
}
