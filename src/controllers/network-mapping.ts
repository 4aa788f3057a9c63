/**
 * The NetworkMapping controller.
 * Watches: NetworkMappings; ReplicatedVMs of a mapping being deleted (a VM that stops using it may unblock
 * its deletion).
 * Ignores: updates whose spec it has already observed (its own status writes); status-only updates of
 * ReplicatedVMs (the datapath's).
 * Drives: NetworkMappingReconciler.
 */
import type { NetworkMapping, ReplicatedVM } from '../api/types.ts';
import { NetworkMappingReconciler } from '../reconcilers/network-mapping.ts';
import { Controller } from '../runtime/controller.ts';
import type { OperatorCache } from './operator-cache.ts';
import { onlyStatusChanged, specAlreadyObserved } from './predicates.ts';

export function networkMappingController(cache: OperatorCache): Controller<NetworkMapping> {
  const { clients, informers } = cache;
  const controller = new Controller<NetworkMapping>({
    kind: 'NetworkMapping',
    client: clients.mappings,
    informer: informers.mappings,
    reconciler: new NetworkMappingReconciler(clients.mappings, cache.az, (namespace) => informers.vms.list(namespace), cache.scopes),
    ignoreUpdate: specAlreadyObserved,
    ...cache.controllerOptions,
  });
  // Only a mapping being deleted waits for its VMs: any other would be reconciled (its Azure resources
  // observed) once per VM added, for nothing.
  const deletingMappingOf = (vm: ReplicatedVM): string[] => {
    const mapping = informers.mappings.get(vm.spec.networkMappingRef.name, vm.metadata.namespace);
    return mapping?.metadata.deletionTimestamp ? [`${vm.metadata.namespace}/${vm.spec.networkMappingRef.name}`] : [];
  };
  controller.watchRelated(informers.vms, deletingMappingOf, onlyStatusChanged);
  return controller;
}
