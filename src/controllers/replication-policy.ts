/**
 * The ReplicationPolicy controller.
 * Watches: ReplicationPolicies; ReplicatedVMs (a VM appearing, changing policy or going away changes its
 * policy's count of users and may unblock the policy's deletion).
 * Ignores: updates whose spec it has already observed (its own status writes); status-only updates of
 * ReplicatedVMs (the datapath's).
 * Drives: ReplicationPolicyReconciler.
 */
import type { ReplicationPolicy } from '../api/types.ts';
import { ReplicationPolicyReconciler } from '../reconcilers/replication-policy.ts';
import { Controller } from '../runtime/controller.ts';
import type { OperatorCache } from './operator-cache.ts';
import { onlyStatusChanged, specAlreadyObserved } from './predicates.ts';

export function replicationPolicyController(cache: OperatorCache): Controller<ReplicationPolicy> {
  const { clients, informers } = cache;
  const controller = new Controller<ReplicationPolicy>({
    kind: 'ReplicationPolicy',
    client: clients.policies,
    informer: informers.policies,
    reconciler: new ReplicationPolicyReconciler(clients.policies, (namespace) => informers.vms.list(namespace)),
    ignoreUpdate: specAlreadyObserved,
    ...cache.controllerOptions,
  });
  controller.watchRelated(informers.vms, (vm) => [`${vm.metadata.namespace}/${vm.spec.policyRef.name}`], onlyStatusChanged);
  return controller;
}
