/**
 * Enabling replication while the source region does not answer (DESIGN §2 "Regions fail"): a brand-new
 * cluster, given the same manifests during an outage, cannot read the source VM nor converge what lives
 * in the source region (cache account, restore point collection, cache container). It converges what it
 * can in the target region (resource group, target storage account, replica container), reads the
 * registration the first cluster saved in the replica container (azure/saved-registration.ts) and records
 * it, so the datapath rebuilds the recovery points from target storage and a failover can run. Ready
 * stays False (reason SourceRegionUnavailable) until the source region answers; then the normal
 * enable replication takes over. Without a saved registration it stalls: nothing is known to fail over.
 */
import { REPLICATED_VM_LABEL, RESOURCE_ROLE as ROLE } from '../../api/contract.ts';
import type { ReplicatedVM, ReplicatedVMStatus } from '../../api/types.ts';
import { classifyAzureError, isUnanswered } from '../../azure/errors.ts';
import { readSavedRegistration } from '../../azure/saved-registration.ts';
import { findCondition } from '../../runtime/conditions.ts';
import type { ReconcileResult } from '../../runtime/controller.ts';
import type { VmPass } from './pass.ts';
import { convergeSteps, targetRegionSteps } from './target-resources.ts';

export const SOURCE_REGION_UNAVAILABLE = 'SourceRegionUnavailable';
/** The ReplicationEnabled reason of a registration restored from the target region. */
export const RESTORED_FROM_TARGET = 'RestoredFromTargetRegion';

/** How often to try the source region again. */
const RETRY_SOURCE_MS = 30_000;

/**
 * Whether reading the source VM failed with `error` in a way that calls for restoring from the target
 * region: nobody answered (5xx, 408, reset, timeout; not 404/403/400), and the VM was never registered
 * from the source (a registration restored earlier is refreshed the same way).
 */
export function restoresFromTarget(vm: ReplicatedVM, error: unknown): boolean {
  if (!isUnanswered(error)) return false;
  const enabled = findCondition(vm.status?.conditions, 'ReplicationEnabled');
  return enabled?.status !== 'True' || enabled.reason === RESTORED_FROM_TARGET;
}

export async function restoreFromTargetRegion(pass: VmPass, error: unknown): Promise<ReconcileResult | void> {
  const { vm, deps, ledger, ctx } = pass;
  const c = classifyAzureError(error);
  const unanswered = `the source VM's region does not answer (${c.code ? `${c.code}: ` : ''}${c.message.split('\n')[0]})`;
  const persist = () => pass.record({ state: 'progressing', reason: SOURCE_REGION_UNAVAILABLE, message: `${unanswered}; converging the target-region resources` }, { phase: 'EnablingReplication' });
  const unfinished = await convergeSteps(pass, targetRegionSteps(pass, persist));
  if (unfinished) return unfinished;
  const saved = await readSavedRegistration(deps.az, ledger.get(ROLE.replicaContainer)?.id as string);
  if (!saved?.disks?.length) {
    return pass.stall({ reason: SOURCE_REGION_UNAVAILABLE, message: `${unanswered}, and the replica container holds no saved registration: replication can be enabled only once the source region answers` });
  }
  // The target-region resources as just converged; the source-region ones as the first cluster recorded them.
  const { targetResources = [], ...fields } = saved;
  for (const record of targetResources) if (!ledger.get(record.role)) ledger.set(record);
  const points = (await deps.recoveryPoints.list(pass.namespace, `${REPLICATED_VM_LABEL}=${vm.metadata.name}`)).items.length;
  const phase: ReplicatedVMStatus['phase'] = points ? 'Protected' : 'EnablingReplication';
  const message = `${unanswered}; registration of ${saved.disks.length} disk(s) restored from the target region (${points} recovery point(s) so far)`;
  const first = findCondition(vm.status?.conditions, 'ReplicationEnabled')?.reason !== RESTORED_FROM_TARGET;
  await pass.record({ state: 'progressing', reason: SOURCE_REGION_UNAVAILABLE, message }, { ...fields, phase }, { type: 'ReplicationEnabled', status: 'True', reason: RESTORED_FROM_TARGET, message: `registration restored from the replica container in ${vm.spec.targetLocation}` });
  if (first) ctx.events.record(vm, 'Warning', RESTORED_FROM_TARGET, message);
  return { requeueAfterMs: RETRY_SOURCE_MS };
}
