/**
 * The contract between the processes that share the API objects — the operator, the datapath and the
 * user's tools — in one place (hand-written, not generated): who writes which status fields under which
 * field manager, the labels and annotations they rely on, the names under which the operator records the
 * Azure resources the datapath uses, and the single rule that says when a failover has taken a VM over.
 *
 * Server-side apply removes fields a manager stops sending, so each writer must send exactly what it owns
 * and nothing else: `statusOwnedBy` computes that part of a status for one writer.
 */
import type { Condition, FailoverRequest, ReplicatedVM } from './types.ts';

// ---- Field managers -------------------------------------------------------------------------------

export const OPERATOR_FIELD_MANAGER = 'site-recovery-operator';
export const DATAPATH_FIELD_MANAGER = 'site-recovery-datapath';
/** The operator's background verification of recovery points (src/reconcilers/point-verification/). */
export const VERIFIER_FIELD_MANAGER = 'site-recovery-verifier';

export type StatusWriterName = 'operator' | 'datapath' | 'verifier';

// ---- Status ownership -----------------------------------------------------------------------------

/**
 * The datapath's condition while the source region does not answer its calls (True, reason
 * SourceRegionUnavailable, message "source region <r> unreachable since <time>: <error>"; False, reason
 * SourceRegionAvailable, once captures succeed again). A Planned failover is refused while it is True.
 * The rule that sets it: src/datapath/source-region.ts.
 */
export const SOURCE_REGION_UNAVAILABLE_CONDITION = 'SourceRegionUnavailable';

/**
 * The datapath's condition on a ReplicatedVM while a churn anomaly is in force (True, reason ChurnAnomaly;
 * False, reason ChurnNormal), with status.churnAnomaly. The rule: src/datapath/churn-baseline.ts.
 */
export const CHURN_ANOMALY_CONDITION = 'ChurnAnomaly';

/**
 * What the datapath writes on a ReplicatedVM's status: replication progress, health, the newest
 * points, and its own conditions. Everything else on every kind belongs to the operator.
 */
const DATAPATH_OWNS = {
  fields: new Set(['replication', 'initialSync', 'lastRecoveryPoint', 'lastAppConsistentRecoveryPoint', 'health', 'churnAnomaly']),
  conditions: new Set(['Replicating', SOURCE_REGION_UNAVAILABLE_CONDITION, CHURN_ANOMALY_CONDITION]),
};

/**
 * The ReplicatedVM condition the background verification of its recovery points writes (True: the newest
 * verified point passed; False: it failed or could not be checked), and the RecoveryPoint field
 * status.verified. The rule that sets them: src/reconcilers/point-verification/.
 */
export const POINT_VERIFIED_CONDITION = 'RecoveryPointVerified';
const VERIFIER_OWNS = { fields: new Set(['verified']), conditions: new Set([POINT_VERIFIED_CONDITION]) };

function ownedBy(writer: StatusWriterName, kind: 'field' | 'condition', name: string): boolean {
  const datapath = kind === 'field' ? DATAPATH_OWNS.fields.has(name) : DATAPATH_OWNS.conditions.has(name);
  const verifier = kind === 'field' ? VERIFIER_OWNS.fields.has(name) : VERIFIER_OWNS.conditions.has(name);
  if (writer === 'verifier') return verifier;
  return writer === 'datapath' ? datapath : !datapath && !verifier;
}

/** Whether `writer` owns the condition type `type` (the operator owns every type the datapath does not). */
export function ownsCondition(writer: StatusWriterName, type: string): boolean {
  return ownedBy(writer, 'condition', type);
}

type Status = Record<string, unknown> & { conditions?: Condition[] };

/** The part of `status` that `writer` owns: its fields and its conditions. */
export function statusOwnedBy(writer: StatusWriterName, status: object | undefined): Status {
  const out: Status = {};
  for (const [key, value] of Object.entries(status ?? {})) {
    if (key === 'conditions') out.conditions = (value as Condition[]).filter((c) => ownsCondition(writer, c.type));
    else if (ownedBy(writer, 'field', key)) out[key] = value;
  }
  return out;
}

// ---- Labels and annotations -----------------------------------------------------------------------

/** On RecoveryPoints: the ReplicatedVM the point belongs to. */
export const REPLICATED_VM_LABEL = 'siterecovery.io/replicated-vm';

/**
 * On RecoveryPoints: the consistency group (ReplicatedVM spec.consistencyGroup) whose group cycle the point
 * belongs to; the cycle is the point's status.groupCycle, written by the datapath with
 * status.groupSkewMilliseconds and status.groupMembers (the one RecoveryPoint status the datapath writes).
 */
export const CONSISTENCY_GROUP_LABEL = 'siterecovery.io/consistency-group';

/**
 * On a ReplicatedVM: a token asking the datapath to capture and apply now, then seal a point; answered in
 * status.replication.syncNow (used by Planned failovers and "Latest" recovery points).
 */
export const SYNC_NOW_ANNOTATION = 'siterecovery.io/sync-now';

/**
 * On RecoveryPoints: set to "true" when the point is created suspect (a churn anomaly was in force when it
 * was sealed; status.suspect and status.suspectReason follow at once). recoveryPoint LatestClean skips it.
 */
export const SUSPECT_LABEL = 'siterecovery.io/suspect';

/**
 * On a ReplicatedVM: a token (any new value) asking the datapath to end the churn anomaly in force and
 * learn the baseline again (`site-recovery clear-anomaly`); honoured once per value.
 */
export const CLEAR_CHURN_ANOMALY_ANNOTATION = 'siterecovery.io/clear-churn-anomaly';

/** On the NetworkMapping and ReplicatedVM re-protect creates: the FailoverRequest that created them. */
export const REPROTECT_OF_LABEL = 'siterecovery.io/reprotect-of';

/** On the FailoverRequests and Jobs a plan failover creates: the plan failover's name (at most 63 characters, else its head and a hash). */
export const PLAN_FAILOVER_LABEL = 'siterecovery.io/plan-failover';

/** On a plan FailoverRequest, prefix + an action's name: approves that manual-approval action (`site-recovery approve`). */
export const APPROVE_ANNOTATION_PREFIX = 'siterecovery.io/approve-';

// ---- Resources the operator records for the datapath (ReplicatedVM status.targetResources roles) ----

export const RESOURCE_ROLE = {
  group: 'TargetResourceGroup',
  /** The group of the same name in the source's subscription holding the replica storage, when the VM fails over into another (spec.targetSubscriptionId). */
  replicaGroup: 'ReplicaResourceGroup',
  cache: 'CacheStorageAccount',
  target: 'TargetStorageAccount',
  availabilitySet: 'TargetAvailabilitySet',
  restorePoints: 'RestorePointCollection',
  cacheContainer: 'CacheContainer',
  replicaContainer: 'ReplicaContainer',
} as const;

// ---- The real-failover rule -----------------------------------------------------------------------

/**
 * The Planned and Unplanned failovers of a VM that count: not Test, not Failed, not being deleted, not
 * started before this ReplicatedVM was created (a request that failed over an earlier object of the same
 * name, for example the VM's first failover when re-protect after a failback protects it again under its
 * name; a request starts only once its ReplicatedVM exists, and creationTimestamp is in whole seconds, so
 * a doubt counts the request), oldest first. The first one is "the" failover of the VM; any other is
 * refused while it stands.
 */
export function realFailoversOf(all: readonly FailoverRequest[], vm: ReplicatedVM): FailoverRequest[] {
  const vmName = vm.metadata.name ?? '';
  const vmCreated = Date.parse(String(vm.metadata.creationTimestamp ?? ''));
  const ofAnEarlierVm = (f: FailoverRequest) => f.status?.startTime !== undefined && Date.parse(f.status.startTime) < vmCreated;
  return all
    .filter((f) => f.spec.replicatedVMName === vmName && f.spec.type !== 'Test' && f.status?.phase !== 'Failed' && !f.metadata.deletionTimestamp && !ofAnEarlierVm(f))
    .sort((a, b) => String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)) || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
}

/**
 * The failover that has taken the VM over: the real failover once it has chosen its recovery point.
 * From then on replication of the VM has stopped (the ReplicatedVM is FailingOver, then FailedOver).
 */
export function failoverHolding(all: readonly FailoverRequest[], vm: ReplicatedVM): FailoverRequest | undefined {
  const first = realFailoversOf(all, vm)[0];
  return first?.status?.recoveryPointName ? first : undefined;
}
