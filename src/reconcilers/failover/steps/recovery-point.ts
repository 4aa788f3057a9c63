/**
 * SelectRecoveryPoint: the point a failover brings the VM back from — the one the final sync sealed, a
 * named one, or the newest (application-consistent) one; for `Latest` whose final sync sealed nothing in
 * time (source region unreachable?), the newest sealed one — recorded in status (recoveryPointName, and
 * why in recoveryPointReason; from then on the failover holds the VM: replication stops). The later steps
 * read it back from the pass.
 */
import { REPLICATED_VM_LABEL } from '../../../api/contract.ts';
import type { RecoveryPoint } from '../../../api/types.ts';
import { done, stalled, type Step } from '../../../runtime/step.ts';
import type { FailoverPass, ProcedurePass } from '../state.ts';
import { finalSyncShortfall } from './source.ts';

export const LATEST_POINTS: readonly string[] = ['Latest', 'LatestProcessed', 'LatestAppConsistent'];

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
    const candidates = wanted === 'LatestAppConsistent' ? all.filter((p) => p.spec.consistency === 'AppConsistent') : all;
    point = candidates.sort((a, b) => b.spec.time.localeCompare(a.spec.time))[0];
    const shortfall = pass.steps.has('FinalSync') ? (finalSyncShortfall(pass) ?? 'the final sync sealed no point') : undefined;
    why = wanted === 'LatestAppConsistent' ? 'the newest application-consistent point' : `the newest sealed point${shortfall ? `, as the ${shortfall}` : ''}`;
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
