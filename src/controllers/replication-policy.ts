/**
 * The ReplicationPolicy controller.
 * Watches: ReplicationPolicies; ReplicatedVMs (a VM appearing, changing policy or going away changes its
 * policy's count of users and may unblock the policy's deletion; any VM's cycles — their disks, whether
 * they run — and any policy's interval change what the fleet asks of the one ARM budget, so every
 * policy's IntervalFeasible is looked at again; at most once a second for a burst of VM changes).
 * Ignores: updates whose spec it has already observed (its own status writes); status-only updates of
 * ReplicatedVMs (the datapath's) that leave the VM's cycle cost as it was.
 * Drives: ReplicationPolicyReconciler.
 */
import type { ReplicatedVM, ReplicationPolicy } from '../api/types.ts';
import { budgetLimitsOf } from '../azure/arm-budget.ts';
import { costsCycles, cycleDisks, demandOf } from '../azure/cycle-cost.ts';
import { keyOf, refOf } from '../kube/custom-resources.ts';
import { ReplicationPolicyReconciler, type IntervalBudget } from '../reconcilers/replication-policy.ts';
import { Controller } from '../runtime/controller.ts';
import type { OperatorCache } from './operator-cache.ts';
import { onlyStatusChanged, specAlreadyObserved } from './predicates.ts';

/**
 * How long the policies wait after a VM changes before they are looked at again, once for every change in
 * between: enabling a fleet changes a VM many times a second, and each look recounted every VM and wrote
 * each policy's status (its count of users) — one policy reconcile and status write per VM.
 */
export const FLEET_CHANGES_COALESCE_MS = 1_000;

/** True for a status-only update that leaves what the VM's cycles cost as it was. */
export function cycleCostUnchanged(vm: ReplicatedVM, previous: ReplicatedVM | undefined): boolean {
  return onlyStatusChanged(vm, previous) && previous !== undefined && costsCycles(vm) === costsCycles(previous) && cycleDisks(vm) === cycleDisks(previous);
}

export function replicationPolicyController(cache: OperatorCache): Controller<ReplicationPolicy> {
  const { clients, informers } = cache;
  const budget: IntervalBudget = {
    limits: budgetLimitsOf(cache.azureConfig),
    fleet: () => informers.vms.list().filter(costsCycles).map((vm) => demandOf(vm, informers.policies.get(vm.spec.policyRef.name, vm.metadata.namespace)?.spec)),
  };
  const controller = new Controller<ReplicationPolicy>({
    kind: 'ReplicationPolicy',
    client: clients.policies,
    informer: informers.policies,
    reconciler: new ReplicationPolicyReconciler(clients.policies, (namespace) => informers.vms.list(namespace), budget),
    ignoreUpdate: specAlreadyObserved,
    ...cache.controllerOptions,
  });
  const everyPolicy = () => informers.policies.list().map((p) => keyOf(refOf(p)));
  controller.watchRelated(informers.vms, everyPolicy, cycleCostUnchanged, FLEET_CHANGES_COALESCE_MS);
  controller.watchRelated(informers.policies, everyPolicy, specAlreadyObserved);
  return controller;
}
