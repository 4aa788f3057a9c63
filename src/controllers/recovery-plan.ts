/**
 * The RecoveryPlan controller.
 * Watches: RecoveryPlans; ReplicatedVMs (a member appearing, going away or changing phase changes the
 * plan's readiness) — every plan of the VM's namespace, since a plan may select VMs by label.
 * Ignores: updates whose spec it has already observed (its own status writes); ReplicatedVM updates that
 * changed neither labels nor phase.
 * Drives: RecoveryPlanReconciler.
 */
import type { RecoveryPlan, ReplicatedVM } from '../api/types.ts';
import { RecoveryPlanReconciler } from '../reconcilers/recovery-plan.ts';
import { Controller } from '../runtime/controller.ts';
import { keyFor, type OperatorCache } from './operator-cache.ts';
import { specAlreadyObserved } from './predicates.ts';

const samePlanView = (vm: ReplicatedVM, previous: ReplicatedVM | undefined) =>
  previous !== undefined && vm.status?.phase === previous.status?.phase && JSON.stringify(vm.metadata.labels ?? {}) === JSON.stringify(previous.metadata.labels ?? {}) && !vm.metadata.deletionTimestamp;

export function recoveryPlanController(cache: OperatorCache): Controller<RecoveryPlan> {
  const { clients, informers } = cache;
  const controller = new Controller<RecoveryPlan>({
    kind: 'RecoveryPlan',
    client: clients.plans,
    informer: informers.plans,
    reconciler: new RecoveryPlanReconciler(clients.plans, (namespace) => informers.vms.list(namespace)),
    ignoreUpdate: specAlreadyObserved,
    ...cache.controllerOptions,
  });
  controller.watchRelated(informers.vms, (vm) => informers.plans.list(vm.metadata.namespace).map(keyFor), samePlanView);
  return controller;
}
