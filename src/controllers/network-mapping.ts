/**
 * The NetworkMapping controller.
 * Watches: NetworkMappings; ReplicatedVMs (a VM that stops using a mapping may unblock its deletion).
 * Ignores: updates whose spec it has already observed (its own status writes); status-only updates of
 * ReplicatedVMs (the datapath's).
 * Drives: NetworkMappingReconciler.
 */
import type { NetworkMapping } from '../api/types.ts';
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
  controller.watchRelated(informers.vms, (vm) => [`${vm.metadata.namespace}/${vm.spec.networkMappingRef.name}`], onlyStatusChanged);
  return controller;
}
