/**
 * The FailoverRequest controller.
 * Watches: FailoverRequests; ReplicatedVMs (the datapath's answer to a final sync, and the reverse VM's
 * initial sync during re-protect, arrive as VM status) — only for requests still Pending or Running; a
 * plan failover's member requests (their progress moves the plan failover on).
 * Ignores: nothing of its own kind — a request's steps move on its own status writes and requeues.
 * Drives: FailoverRequestReconciler for one VM, PlanFailoverReconciler for a plan (spec.recoveryPlanName).
 */
import type { FailoverRequest } from '../api/types.ts';
import { PlanFailoverReconciler } from '../reconcilers/failover/plan-reconciler.ts';
import { DEFAULT_FAILOVER_OPTIONS, FailoverRequestReconciler, type FailoverOptions } from '../reconcilers/failover/reconciler.ts';
import { Controller } from '../runtime/controller.ts';
import { keyFor, type OperatorCache } from './operator-cache.ts';

export function failoverRequestController(cache: OperatorCache, options: Partial<FailoverOptions> = {}): Controller<FailoverRequest> {
  const { clients, informers } = cache;
  const plans = new PlanFailoverReconciler({
    failovers: clients.failovers,
    plans: clients.plans,
    points: clients.recoveryPoints,
    jobs: clients.jobs,
    listFailovers: (namespace) => informers.failovers.list(namespace),
    listVms: (namespace) => informers.vms.list(namespace),
  });
  const single = new FailoverRequestReconciler({
    failovers: clients.failovers,
    vms: clients.vms,
    mappings: clients.mappings,
    points: clients.recoveryPoints,
    az: cache.az,
    listFailovers: (namespace) => informers.failovers.list(namespace),
    options: { ...DEFAULT_FAILOVER_OPTIONS, ...options },
    ...(cache.scopes ? { scopes: cache.scopes } : {}),
  });
  const controller = new Controller<FailoverRequest>({
    kind: 'FailoverRequest',
    client: clients.failovers,
    informer: informers.failovers,
    reconciler: { reconcile: (fo, ctx) => (fo.spec.recoveryPlanName ? plans.reconcile(fo, ctx) : single.reconcile(fo, ctx)) },
    ...cache.controllerOptions,
  });
  controller.watchRelated(informers.vms, (vm) =>
    informers.failovers
      .list(vm.metadata.namespace)
      .filter((fo) => fo.spec.replicatedVMName === vm.metadata.name && ['Pending', 'Running', undefined].includes(fo.status?.phase))
      .map(keyFor),
  );
  controller.watchRelated(informers.failovers, (fo) =>
    (fo.metadata.ownerReferences ?? []).filter((r) => r.kind === 'FailoverRequest').map((r) => `${fo.metadata.namespace}/${r.name}`),
  );
  return controller;
}
