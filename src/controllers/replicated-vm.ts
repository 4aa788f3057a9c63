/**
 * The ReplicatedVM controller.
 * Watches: ReplicatedVMs; the ReplicationPolicy and NetworkMapping a VM references (one becoming ready
 * unblocks it); FailoverRequests (a real failover moves the VM to FailingOver, then FailedOver).
 * Ignores: the datapath's status writes (a new point, progress, health), except the milestones that move
 * the VM on (initial sync done, the first recovery point sealed); the reconciler's own writes (its status,
 * its finalizer), recognized by the resourceVersion they returned (own-writes.ts); predicates.ts.
 * Reads: the policy and the mapping from the informer caches.
 * Drives: ReplicatedVmReconciler.
 */
import type { ReplicatedVM } from '../api/types.ts';
import type { CustomObject } from '../kube/custom-resources.ts';
import { ReplicatedVmReconciler } from '../reconcilers/replicated-vm/reconciler.ts';
import { CapacityChecks } from '../reconcilers/replicated-vm/capacity-cache.ts';
import { SharedObservations } from '../reconcilers/replicated-vm/shared-observations.ts';
import { Controller, DEFAULT_RESYNC_MS } from '../runtime/controller.ts';
import { OwnWrites } from '../runtime/own-writes.ts';
import { cachedReader, keyFor, type OperatorCache } from './operator-cache.ts';
import { datapathStatusOnly, reconcilerWroteOnly, usersSeeNoChange } from './predicates.ts';

export function replicatedVmController(cache: OperatorCache): Controller<ReplicatedVM> {
  const { clients, informers } = cache;
  // An update held because it may be a write still in flight, and is not: reconciled then.
  const own = new OwnWrites((key) => controller.enqueue(key));
  informers.vms.on('delete', (vm) => own.forget(vm));
  const controller = new Controller<ReplicatedVM>({
    kind: 'ReplicatedVM',
    client: clients.vms,
    informer: informers.vms,
    reconciler: new ReplicatedVmReconciler({
      vms: own.recording(clients.vms),
      policies: cachedReader(informers.policies),
      mappings: cachedReader(informers.mappings),
      recoveryPoints: clients.recoveryPoints,
      az: cache.az,
      listAllVms: () => informers.vms.list(),
      listFailovers: (namespace) => informers.failovers.list(namespace),
      ...(cache.scopes ? { scopes: cache.scopes } : {}),
      // Once per drift check (the resync is jittered by ±20%: a little less than the interval).
      capacityChecks: new CapacityChecks(0.75 * (cache.controllerOptions.resyncMs ?? DEFAULT_RESYNC_MS)),
      sharedObservations: new SharedObservations(),
    }),
    ignoreUpdate: (vm, previous) => {
      const mine = own.take(vm);
      if (reconcilerWroteOnly(mine, vm, previous) || datapathStatusOnly(vm, previous)) return true;
      // Reported before the reconciler's write that may have made it returned: judged when it returns.
      return !mine && reconcilerWroteOnly(true, vm, previous) && own.hold(vm);
    },
    ...cache.controllerOptions,
  });
  const vmsUsing = (field: 'policyRef' | 'networkMappingRef') => (o: CustomObject) =>
    informers.vms
      .list(o.metadata.namespace)
      .filter((vm) => vm.spec[field].name === o.metadata.name)
      .map(keyFor);
  controller.watchRelated(informers.policies, vmsUsing('policyRef'), usersSeeNoChange);
  controller.watchRelated(informers.mappings, vmsUsing('networkMappingRef'), usersSeeNoChange);
  controller.watchRelated(informers.failovers, (fo) => (fo.spec.replicatedVMName ? [`${fo.metadata.namespace}/${fo.spec.replicatedVMName}`] : []));
  return controller;
}
