/**
 * What the operator registers for the datapath (ReplicatedVM status once ReplicationEnabled is True) and
 * the rules for when a VM is replicated at all.
 *
 * Sync-now, the contract with failover: a FailoverRequest that needs the newest data (recoveryPoint
 * Latest, or a Planned failover after the source was shut down) sets the annotation
 *   siterecovery.io/sync-now: <token>          (any new value, e.g. the FailoverRequest's uid)
 * on the ReplicatedVM. The replica that owns the VM captures a new cycle at once (ignoring the interval
 * and the backlog limit), applies it, seals it, and answers in status.replication.syncNow:
 *   { token: <token>, state: Running, cycle }  then  { token, state: Succeeded, recoveryPointName, recoveryPointTime }
 * The point is captured after the annotation was seen, so for a source shut down before the annotation
 * was set it holds every write (zero data loss). A request is honoured in phase FailingOver too (the final
 * sync of a Planned failover); apart from that, FailingOver, FailedOver and deletion stop replication, and
 * the owner releases its blob leases so the operator can remove or reuse the blobs.
 */
import type { ProtectedDisk, ReplicatedVM } from '../api/types.ts';
import { isTrue } from '../runtime/conditions.ts';

import { RESOURCE_ROLE, SYNC_NOW_ANNOTATION } from '../api/contract.ts';

export interface Registration {
  disks: ProtectedDisk[];
  restorePointCollectionId: string;
  cacheContainerId: string;
  replicaContainerId: string;
}

/** The registration, or undefined while the operator has not finished enabling replication. */
export function registrationOf(vm: ReplicatedVM): Registration | undefined {
  const status = vm.status;
  if (!status || !isTrue(status.conditions, 'ReplicationEnabled') || !status.disks?.length) return undefined;
  const id = (role: string) => status.targetResources?.find((r) => r.role === role && !r.pending)?.id;
  const restorePointCollectionId = id(RESOURCE_ROLE.restorePoints);
  const cacheContainerId = id(RESOURCE_ROLE.cacheContainer);
  const replicaContainerId = id(RESOURCE_ROLE.replicaContainer);
  if (!restorePointCollectionId || !cacheContainerId || !replicaContainerId) return undefined;
  return { disks: status.disks, restorePointCollectionId, cacheContainerId, replicaContainerId };
}

/** The sync-now token still waiting for an answer, if any. */
export function outstandingSyncNow(vm: ReplicatedVM): string | undefined {
  const token = vm.metadata.annotations?.[SYNC_NOW_ANNOTATION];
  if (!token) return undefined;
  const answer = vm.status?.replication?.syncNow;
  return answer?.token === token && answer.state !== 'Running' ? undefined : token;
}

/** Whether the datapath should replicate this VM now. */
export function wantsReplication(vm: ReplicatedVM): boolean {
  if (vm.metadata.deletionTimestamp) return false;
  if (!registrationOf(vm)) return false;
  const phase = vm.status?.phase;
  if (phase === 'FailedOver') return false;
  if (phase === 'FailingOver') return outstandingSyncNow(vm) !== undefined;
  return true;
}
