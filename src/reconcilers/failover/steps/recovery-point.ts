/**
 * SelectRecoveryPoint: the point a failover brings the VM back from — the one the final sync sealed, a
 * named one, the newest (application-consistent) one, or for `LatestClean` the newest one not suspect (a
 * point sealed during a churn anomaly is labelled siterecovery.io/suspect when created, so the newest clean
 * one is the newest before the first suspect one, refused when there is none); for `Latest` whose final sync sealed nothing in
 * time (source region unreachable?), the newest sealed one — recorded in status (recoveryPointName, and
 * why in recoveryPointReason; from then on the failover holds the VM: replication stops). The later steps
 * read it back from the pass.
 */
import { REPLICATED_VM_LABEL, SUSPECT_LABEL } from '../../../api/contract.ts';
import type { RecoveryPoint } from '../../../api/types.ts';
import { done, stalled, type Step } from '../../../runtime/step.ts';
import type { FailoverPass, ProcedurePass } from '../state.ts';
import { finalSyncShortfall } from './source.ts';

export const LATEST_POINTS: readonly string[] = ['Latest', 'LatestProcessed', 'LatestAppConsistent', 'LatestClean'];

/** Whether a point was sealed during a churn anomaly (the label is set at creation, status.suspect right after). */
export function isSuspect(point: RecoveryPoint): boolean {
  return point.metadata.labels?.[SUSPECT_LABEL] === 'true' || point.status?.suspect === true;
}

const NONE: Record<string, [string, string]> = {
  LatestAppConsistent: ['NoRecoveryPoint', 'no application-consistent recovery point exists'],
  LatestClean: ['NoCleanRecoveryPoint', 'no clean recovery point exists: every point of this VM is suspect (condition ChurnAnomaly; the last clean one is kept until the anomaly is cleared, so none was sealed before it)'],
};

const WHY: Record<string, string> = {
  LatestAppConsistent: 'the newest application-consistent point',
  LatestClean: 'the newest point not suspect of a churn anomaly (the newest before the first suspect one)',
};

/** The points `wanted` may pick from. */
function candidatesOf(wanted: string, all: RecoveryPoint[]): RecoveryPoint[] {
  if (wanted === 'LatestAppConsistent') return all.filter((p) => p.spec.consistency === 'AppConsistent');
  if (wanted === 'LatestClean') return all.filter((p) => !isSuspect(p));
  return all;
}

export async function selectRecoveryPoint(pass: ProcedurePass): Promise<Step> {
  const { deps, fo, vm, namespace } = pass;
  const wanted = fo.spec.recoveryPoint ?? 'LatestProcessed';
  let point: RecoveryPoint | undefined;
  let why: string;
  const synced = vm.status?.replication?.syncNow;
  if (synced?.token === fo.metadata.uid && synced?.state === 'Succeeded' && synced.recoveryPointName) {
    point = await deps.points.get({ namespace, name: synced.recoveryPointName });
    why = 'sealed by the final sync';
  } else if (!LATEST_POINTS.includes(wanted)) {
    point = await deps.points.get({ namespace, name: wanted });
    why = 'named in spec.recoveryPoint';
  } else {
    const all = (await deps.points.list(namespace, `${REPLICATED_VM_LABEL}=${vm.metadata.name}`)).items.filter((p) => p.spec.replicatedVMName === vm.metadata.name);
    point = candidatesOf(wanted, all).sort((a, b) => b.spec.time.localeCompare(a.spec.time))[0];
    const shortfall = pass.steps.has('FinalSync') ? (finalSyncShortfall(pass) ?? 'the final sync sealed no point') : undefined;
    why = WHY[wanted] ?? `the newest sealed point${shortfall ? `, as the ${shortfall}` : ''}`;
    if (!point && all.length > 0 && NONE[wanted]) return stalled(...NONE[wanted]);
  }
  if (!point) return stalled('NoRecoveryPoint', wanted === 'LatestAppConsistent' ? 'no application-consistent recovery point exists' : 'no recovery point exists for this VM yet');
  pass.status.recoveryPointName = point.metadata.name;
  pass.status.recoveryPointTime = point.spec.time;
  pass.status.recoveryPointReason = why;
  return done(`${point.metadata.name} (${point.spec.consistency}, ${point.spec.time}): ${why}`);
}

/** The point SelectRecoveryPoint chose, if it still exists. */
export async function chosenPoint(pass: FailoverPass): Promise<RecoveryPoint | undefined> {
  const name = pass.status.recoveryPointName;
  return name ? pass.deps.points.get({ namespace: pass.namespace, name }) : undefined;
}
