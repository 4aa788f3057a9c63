/**
 * Which updates a controller reconciles for. Most updates of the objects the operator watches are status
 * writes — the datapath rewrites a ReplicatedVM's status at every sealed point — and reconciling for them
 * costs a pass of Azure reads each time: with a fleet, a reconcile storm that drains ARM's read budget.
 * These predicates let through what a reconciler acts on (spec, deletion, metadata a person sets, and the
 * few status milestones a reconciler reads) and drop the rest; drift is still caught by the periodic
 * resync (the drift check).
 */
import { isDeepStrictEqual } from 'node:util';
import { statusOwnedBy } from '../api/contract.ts';
import type { Condition, ReplicatedVM } from '../api/types.ts';
import { isTrue } from '../runtime/conditions.ts';
import { FINALIZER } from '../runtime/finalizers.ts';
import type { CustomObject } from '../kube/custom-resources.ts';

/** What of an object's metadata a reconciler acts on: spec (generation), deletion, labels, annotations, finalizers. */
function userMetadata(object: CustomObject): unknown[] {
  const m = object.metadata;
  return [m.generation, m.deletionTimestamp, m.labels ?? {}, m.annotations ?? {}, m.finalizers ?? [], m.ownerReferences ?? []];
}

/**
 * True for an update that changed only status (and bookkeeping such as resourceVersion and
 * managedFields). Unknown `previous` (the informer had not seen the object): not ignored.
 */
export function onlyStatusChanged<T extends CustomObject>(object: T, previous: T | undefined): boolean {
  return previous !== undefined && isDeepStrictEqual(userMetadata(object), userMetadata(previous));
}

/**
 * True for an update the object's own controller has already seen: its spec is observed (generation ==
 * status.observedGeneration) and it is not being deleted. Such updates are the operator's own status
 * writes (or metadata the reconciler does not read); drift is still caught by the periodic resync.
 */
export function specAlreadyObserved(object: CustomObject & { status?: { observedGeneration?: number } }): boolean {
  return !object.metadata.deletionTimestamp && object.metadata.generation !== undefined && object.status?.observedGeneration === object.metadata.generation;
}

/** The datapath's status fields the ReplicatedVM reconciler reads: the first point sealed, initial sync done. */
function datapathMilestones(vm: ReplicatedVM): unknown[] {
  return [Boolean(vm.status?.lastRecoveryPoint), vm.status?.initialSync?.completionTime];
}

/**
 * True for a ReplicatedVM update the ReplicatedVM reconciler has nothing to do for: only status changed,
 * the operator's part of it is as it was, and so are the datapath milestones it reads. The datapath's
 * status writes (a new point, progress, health) are such updates. (The operator's part changed by the
 * reconciler's own writes: reconcilerWroteOnly; by anyone else: reconciled, to put it right.)
 */
export function datapathStatusOnly(object: ReplicatedVM, previous: ReplicatedVM | undefined): boolean {
  if (!previous || !onlyStatusChanged(object, previous)) return false;
  return isDeepStrictEqual(statusOwnedBy('operator', object.status), statusOwnedBy('operator', previous.status)) && isDeepStrictEqual(datapathMilestones(object), datapathMilestones(previous));
}

/**
 * What of a ReplicatedVM its reconciler acts on that its own writes (status, its finalizer) never change:
 * spec (generation), deletion, labels, annotations, owners, other finalizers, the datapath milestones.
 */
function notWrittenByReconciler(vm: ReplicatedVM): unknown[] {
  const m = vm.metadata;
  const others = (m.finalizers ?? []).filter((f) => f !== FINALIZER);
  return [m.generation, m.deletionTimestamp, m.labels ?? {}, m.annotations ?? {}, m.ownerReferences ?? [], others, ...datapathMilestones(vm)];
}

/**
 * True for a ReplicatedVM update that is the reconciler's own write (`wroteIt`: its resourceVersion is one
 * a write of the reconciler returned, own-writes.ts) and changed nothing else the reconciler acts on. The
 * pass that wrote it already acted on everything it says; reconciling again would only read Azure again.
 */
export function reconcilerWroteOnly(wroteIt: boolean, object: ReplicatedVM, previous: ReplicatedVM | undefined): boolean {
  return wroteIt && previous !== undefined && isDeepStrictEqual(notWrittenByReconciler(object), notWrittenByReconciler(previous));
}

/** What a ReplicatedVM reads of the policy or network mapping it uses, beyond spec: whether it is Ready, the target network. */
function seenByUsers(object: CustomObject & { status?: { conditions?: Condition[]; targetVirtualNetworkId?: string } }): unknown[] {
  return [isTrue(object.status?.conditions, 'Ready'), object.status?.targetVirtualNetworkId];
}

/**
 * True for a status-only update of a policy or network mapping that leaves what its ReplicatedVMs read of
 * it as it was. Their status changes with every VM that starts or stops using them (a count of users, the
 * ARM budget's figures): requeueing every user each time made enabling N VMs cost N² reconciles.
 */
export function usersSeeNoChange<T extends CustomObject & { status?: { conditions?: Condition[]; targetVirtualNetworkId?: string } }>(object: T, previous: T | undefined): boolean {
  return previous !== undefined && onlyStatusChanged(object, previous) && isDeepStrictEqual(seenByUsers(object), seenByUsers(previous));
}
