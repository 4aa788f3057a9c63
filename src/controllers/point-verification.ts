/**
 * The background verification of recovery points: a second controller of ReplicatedVMs, with its own queue
 * (named ReplicatedVM/verification in logs and metrics), so a VM's verification schedule never delays its
 * replication's reconciles and the other way round.
 * Watches: ReplicatedVMs (spec and metadata changes, and a new newest point; not other status writes: it
 * requeues itself for the next verification and while one runs); ReplicationPolicies (pointsPerDay).
 * Reads: the policy from the informer cache; the VM's RecoveryPoints from the API server (only when a
 * verification is due).
 * Drives: PointVerificationReconciler.
 */
import type { ReplicatedVM } from '../api/types.ts';
import { PointVerificationReconciler } from '../reconcilers/point-verification/reconciler.ts';
import { Controller } from '../runtime/controller.ts';
import { cachedReader, keyFor, type OperatorCache } from './operator-cache.ts';
import { onlyStatusChanged } from './predicates.ts';

/** Status writes are ignored, except the datapath's newest point changing (something new to verify). */
function noNewPoint(object: ReplicatedVM, previous: ReplicatedVM | undefined): boolean {
  return onlyStatusChanged(object, previous) && object.status?.lastRecoveryPoint?.name === previous?.status?.lastRecoveryPoint?.name;
}

export function pointVerificationController(cache: OperatorCache): Controller<ReplicatedVM> {
  const { clients, informers } = cache;
  const controller = new Controller<ReplicatedVM>({
    kind: 'ReplicatedVM',
    name: 'ReplicatedVM/verification',
    client: clients.vms,
    informer: informers.vms,
    reconciler: new PointVerificationReconciler({ vms: clients.vms, points: clients.recoveryPoints, policies: cachedReader(informers.policies), credential: cache.az.credential }),
    ignoreUpdate: noNewPoint,
    ...cache.controllerOptions,
  });
  controller.watchRelated(informers.policies, (policy) =>
    informers.vms
      .list(policy.metadata.namespace)
      .filter((vm) => vm.spec.policyRef.name === policy.metadata.name)
      .map(keyFor),
  );
  return controller;
}
