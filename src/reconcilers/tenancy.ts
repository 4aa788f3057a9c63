/**
 * Namespaced tenancy: every Azure id an object references or would have the operator create things in,
 * by field, so that one check (src/azure/scopes.ts) can refuse the object before any wait on another
 * object and before any Azure call. What the operator creates for a ReplicatedVM (cache and target
 * storage accounts, restore point collection, availability set, network security group mirrors, and at
 * failover the disks, NICs, public IP addresses and VM) all lives in its target resource group; a NetworkMapping's networks
 * live in its own target resource group or are the ids it names.
 *
 * Deletion is not checked: it removes only what the operator recorded as created (status.targetResources),
 * which it created while the object was inside its scopes.
 */
import type { FailoverRequest, NetworkMapping, ReplicatedVM } from '../api/types.ts';
import { resourceGroupId, resourceGroupNameOf } from '../azure/arm-id.ts';
import { scopeRefusal, type ScopeSource } from '../azure/scopes.ts';
import { moreAzureIds, targetSubscriptionOf } from './replicated-vm/spec-ids.ts';

type Ids = Record<string, string | undefined>;

/** The target resource group's name: spec.targetResourceGroup, else `<source resource group>-asr`. */
function targetGroupName(vm: ReplicatedVM): string {
  return vm.spec.targetResourceGroup ?? `${resourceGroupNameOfOr(vm.spec.sourceVirtualMachineId)}-asr`;
}

function resourceGroupNameOfOr(id: string): string {
  try {
    return resourceGroupNameOf(id);
  } catch {
    return id; // not an ARM id: the source id itself is refused first
  }
}

export function replicatedVmAzureIds(vm: ReplicatedVM, subscriptionId: string): Ids {
  const { spec } = vm;
  const ids: Ids = {
    'spec.sourceVirtualMachineId': spec.sourceVirtualMachineId,
    // In the target subscription (spec.targetSubscriptionId); the replica storage group of that name stays in the source's.
    'spec.targetResourceGroup': resourceGroupId(targetSubscriptionOf(vm, subscriptionId), targetGroupName(vm)),
    'spec.cacheStorageAccountId': spec.cacheStorageAccountId,
    'spec.targetStorageAccountId': spec.targetStorageAccountId,
    'spec.targetAvailabilitySetId': spec.targetAvailabilitySetId,
    'spec.seedVirtualMachineId': spec.seedVirtualMachineId,
  };
  if (targetSubscriptionOf(vm, subscriptionId) !== subscriptionId) ids['spec.targetResourceGroup (replica storage)'] = resourceGroupId(subscriptionId, targetGroupName(vm));
  // A source VM in another subscription (re-protect of a failover there) has its restore point collection in
  // its own resource group: the scope allowing spec.sourceVirtualMachineId allows it (scopes name groups or subscriptions).
  // Placement groups, per-NIC overrides, load balancer, application security group and disk encryption
  // set mappings: the same list the subscription check reads.
  for (const [field, id] of Object.entries(moreAzureIds(vm))) ids[`spec.${field}`] = id;
  return ids;
}

export function networkMappingAzureIds(mapping: NetworkMapping, subscriptionId: string): Ids {
  const { spec } = mapping;
  return {
    'spec.sourceVirtualNetworkId': spec.sourceVirtualNetworkId,
    'spec.targetResourceGroup': resourceGroupId(subscriptionId, spec.targetResourceGroup),
    'spec.targetVirtualNetworkId': spec.targetVirtualNetworkId,
    'spec.testVirtualNetworkId': spec.testVirtualNetworkId,
    ...networkMappingSecurityIds(mapping),
  };
}

/** The groups and route tables a mapping names for its subnets, and its application security group mappings. */
export function networkMappingSecurityIds(mapping: NetworkMapping): Ids {
  const ids: Ids = {};
  for (const m of mapping.spec.subnetMappings ?? []) {
    ids[`spec.subnetMappings[${m.source}].targetNetworkSecurityGroupId`] = m.targetNetworkSecurityGroupId;
    ids[`spec.subnetMappings[${m.source}].targetRouteTableId`] = m.targetRouteTableId;
  }
  for (const [i, m] of (mapping.spec.applicationSecurityGroupMappings ?? []).entries()) {
    ids[`spec.applicationSecurityGroupMappings[${i}].sourceApplicationSecurityGroupId`] = m.sourceApplicationSecurityGroupId;
    ids[`spec.applicationSecurityGroupMappings[${i}].targetApplicationSecurityGroupId`] = m.targetApplicationSecurityGroupId;
  }
  return ids;
}

/** A request's own ids, and (once read) those of the ReplicatedVM it fails over, which it acts on. */
export function failoverAzureIds(fo: FailoverRequest, vm: ReplicatedVM | undefined, subscriptionId: string): Ids {
  const ids: Ids = { 'spec.testVirtualNetworkId': fo.spec.testVirtualNetworkId };
  if (!vm) return ids;
  for (const [field, id] of Object.entries(replicatedVmAzureIds(vm, subscriptionId))) ids[`ReplicatedVM ${vm.metadata.name} ${field}`] = id;
  return ids;
}

/** The refusal of these ids in `namespace`, if any; none in cluster tenancy (no scope source). */
export function tenancyRefusal(source: ScopeSource | undefined, namespace: string, ids: Ids): { reason: string; message: string } | undefined {
  return source ? scopeRefusal(namespace, source.scopesOf(namespace), ids) : undefined;
}
