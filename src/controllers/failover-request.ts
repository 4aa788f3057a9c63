/**
 * The FailoverRequest controller.
 * Watches: FailoverRequests; ReplicatedVMs (the datapath's answer to a final sync, and the reverse VM's
 * initial sync during re-protect, arrive as VM status) — only for requests still Pending or Running.
 * Ignores: nothing of its own kind — a request's steps move on its own status writes and requeues.
 * Drives: FailoverRequestReconciler.
 */
import type { FailoverRequest } from '../api/types.ts';
import { DEFAULT_FAILOVER_OPTIONS, FailoverRequestReconciler, type FailoverOptions } from '../reconcilers/failover/reconciler.ts';
import { Controller } from '../runtime/controller.ts';
import { keyFor, type OperatorCache } from './operator-cache.ts';

export function failoverRequestController(cache: OperatorCache, options: Partial<FailoverOptions> = {}): Controller<FailoverRequest> {
  const { clients, informers } = cache;
  const controller = new Controller<FailoverRequest>({
    kind: 'FailoverRequest',
    client: clients.failovers,
    informer: informers.failovers,
    reconciler: new FailoverRequestReconciler({
      failovers: clients.failovers,
      vms: clients.vms,
      mappings: clients.mappings,
      points: clients.recoveryPoints,
      az: cache.az,
      listFailovers: (namespace) => informers.failovers.list(namespace),
      options: { ...DEFAULT_FAILOVER_OPTIONS, ...options },
      ...(cache.scopes ? { scopes: cache.scopes } : {}),
    }),
    ...cache.controllerOptions,
  });
  controller.watchRelated(informers.vms, (vm) =>
    informers.failovers
      .list(vm.metadata.namespace)
      .filter((fo) => fo.spec.replicatedVMName === vm.metadata.name && ['Pending', 'Running', undefined].includes(fo.status?.phase))
      .map(keyFor),
  );
  return controller;
}
