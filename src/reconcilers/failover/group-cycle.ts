/**
 * The newest group cycle of each consistency group that every member has sealed — what a failover of the
 * group's VMs must use, instead of each VM's own newest point (which would mix instants the group never
 * captured together). Pure: the caller lists the members (ReplicatedVMs and their spec.consistencyGroup)
 * and their RecoveryPoints; a point belongs to a group cycle by its label siterecovery.io/consistency-group
 * and its status.groupCycle (src/datapath/recovery-points.ts and group-point.ts write them).
 *
 * A member that missed a cycle (its capture failed, it was busy, it joined the group later) makes that
 * cycle incomplete: an older complete one is chosen, or none, and the answer names the members that lack
 * a common cycle so the caller can say why it waits. A VM taken out of the group is not a member: its old
 * points are ignored.
 */
import { CONSISTENCY_GROUP_LABEL } from '../../api/contract.ts';
import type { RecoveryPoint } from '../../api/types.ts';

export interface GroupMember {
  /** The ReplicatedVM's name. */
  name: string;
  /** Its spec.consistencyGroup. */
  group: string;
}

export interface SealedGroupCycle {
  group: string;
  cycle: number;
  /** Each member's point of the cycle, by member name. */
  points: Record<string, RecoveryPoint>;
  /** AppConsistent when every member's point is (a quiesced group cycle), else CrashConsistent. */
  consistency: 'AppConsistent' | 'CrashConsistent';
  /** The largest skew any member's point reports for the cycle. */
  skewMilliseconds: number;
}

export interface IncompleteGroup {
  group: string;
  cycle: undefined;
  /** Members with no point of the group cycle most members have (all of them when none has any). */
  lacking: string[];
}

export interface GroupCycleOptions {
  /** Only cycles whose every point is application-consistent (a failover asking LatestAppConsistent). */
  appConsistent?: boolean;
}

/** The group cycle of a point, when it carries one. */
export function groupCycleOf(point: RecoveryPoint): { group: string; cycle: number } | undefined {
  const group = point.metadata.labels?.[CONSISTENCY_GROUP_LABEL];
  const cycle = point.status?.groupCycle;
  return group && typeof cycle === 'number' ? { group, cycle } : undefined;
}

/** Per group named by `members`: its newest group cycle sealed by every member, or why there is none. */
export function newestGroupCycles(members: readonly GroupMember[], points: readonly RecoveryPoint[], options: GroupCycleOptions = {}): Map<string, SealedGroupCycle | IncompleteGroup> {
  const out = new Map<string, SealedGroupCycle | IncompleteGroup>();
  const groups = new Map<string, string[]>();
  for (const m of members) groups.set(m.group, [...(groups.get(m.group) ?? []), m.name]);
  for (const [group, names] of groups) out.set(group, newestOfGroup(group, [...new Set(names)], points, options));
  return out;
}

function newestOfGroup(group: string, names: string[], points: readonly RecoveryPoint[], options: GroupCycleOptions): SealedGroupCycle | IncompleteGroup {
  // cycle -> member -> point
  const byCycle = new Map<number, Map<string, RecoveryPoint>>();
  for (const point of points) {
    const at = groupCycleOf(point);
    const member = point.spec.replicatedVMName;
    if (!at || at.group !== group || !names.includes(member)) continue;
    if (options.appConsistent && point.spec.consistency !== 'AppConsistent') continue;
    const cycle = byCycle.get(at.cycle) ?? new Map<string, RecoveryPoint>();
    const seen = cycle.get(member);
    if (!seen || seen.spec.time < point.spec.time) cycle.set(member, point);
    byCycle.set(at.cycle, cycle);
  }
  const complete = [...byCycle.entries()].filter(([, got]) => names.every((n) => got.has(n))).sort(([a], [b]) => b - a)[0];
  if (!complete) {
    const newest = [...byCycle.values()].reduce<Map<string, RecoveryPoint> | undefined>((best, got) => (!best || got.size > best.size ? got : best), undefined);
    return { group, cycle: undefined, lacking: names.filter((n) => !newest?.has(n)).sort() };
  }
  const [cycle, got] = complete;
  const chosen = Object.fromEntries([...got.entries()].sort(([a], [b]) => a.localeCompare(b)));
  const all = Object.values(chosen);
  return {
    group,
    cycle,
    points: chosen,
    consistency: all.every((p) => p.spec.consistency === 'AppConsistent') ? 'AppConsistent' : 'CrashConsistent',
    skewMilliseconds: Math.max(0, ...all.map((p) => p.status?.groupSkewMilliseconds ?? 0)),
  };
}
