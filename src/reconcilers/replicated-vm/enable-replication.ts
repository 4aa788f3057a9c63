/**
 * Enable replication (Azure Site Recovery's "Enable replication"), one step per pass:
 *   0. refuse ids in another subscription than the operator's (what the failed-over VM uses: than
 *      spec.targetSubscriptionId, when set; the source VM and the source-side ids of the mappings: than the
 *      source VM's, which may be another only when the VM replicates back into the operator's), or (namespaced tenancy) outside the
 *      namespace's Azure scopes (../tenancy.ts); wait for the policy to be ready;
 *   1. read the source VM (when its region does not answer and the VM was never registered:
 *      restore-registration.ts), wait for the network mapping to be ready, check the VM uses managed
 *      disks, sits in the mapped network and another region (or, zone to zone, another zone of its region),
 *      and that the mapping's target and test networks are in the subscription the VM fails over into;
 *   2. create or adopt the target-region resources (target-resources.ts);
 *   3. register the VM for the datapath (its disks, where their replicas live, the seed disks) and follow
 *      the datapath's progress: InitialSync until the first recovery point, then Protected. The
 *      registration is also saved in the target region (the replica container), for a new cluster.
 *      A protected VM's source is read again at every drift check: disks attached, detached or grown
 *      (disk-changes.ts), and its size, NICs, tags, security profile, license or identities changed
 *      (vm-drift.ts), change the registration and are recorded as DriftDetected events, one per change.
 *      The NICs' network security groups are mirrored into the target resource group
 *      (network-security-groups.ts); a public IP address the spec names is checked (public-ip-addresses.ts),
 *      and so is the target of every load balancer backend pool and application security group the VM is in
 *      (load-balancers.ts) and of every
 *      disk encryption set its disks use (disk-encryption.ts), and the placement groups it names (placement-groups.ts).
 *      A protected VM's failover size is checked against the target
 *      region's offer and quotas at the drift-check cadence: condition CapacityAtRisk (capacity-check.ts).
 */
import type { NetworkMapping, ProtectedDisk, ReplicatedVMStatus, SourceNetworkInterface } from '../../api/types.ts';
import { RESOURCE_ROLE as ROLE } from '../../api/contract.ts';
import { foreignSubscriptionRefusal, parseArmId, resourceGroupNameOf, sameArmId, sourceSubscriptionRefusal, subscriptionOfId } from '../../azure/arm-id.ts';
import { networkOfSubnet } from '../../azure/resources/network-interface.ts';
import { saveRegistration } from '../../azure/saved-registration.ts';
import { readSourceVm, type SourceVm, type SourceVmResult } from '../../azure/source-vm.ts';
import { isTrue, type Readiness } from '../../runtime/conditions.ts';
import type { ReconcileResult } from '../../runtime/controller.ts';
import type { VmPass } from './pass.ts';
import { replicatedVmAzureIds, tenancyRefusal } from '../tenancy.ts';
import { restoreFromTargetRegion, restoresFromTarget } from './restore-registration.ts';
import { describeDiskChanges, detachedDisks, replicaBlobName } from './disk-changes.ts';
import { seedDisks } from './seed-disks.ts';
import { targetZoneOf } from './zone-mapping.ts';
import { convergeSteps, targetResourceSteps } from './target-resources.ts';
import { networkSecurityGroupRefusal, targetGroupOf } from './network-security-groups.ts';
import { describeVmChanges } from './vm-drift.ts';
import { publicIpAddressRefusal } from './public-ip-addresses.ts';
import { sourceSideAzureIds, targetSideAzureIds, targetSubscriptionOf } from './spec-ids.ts';
import { applicationSecurityGroupRefusal, loadBalancerRefusal } from './load-balancers.ts';
import { diskEncryptionRefusal } from './disk-encryption.ts';
import { placementGroupRefusal } from './placement-groups.ts';
import { capacityCondition } from './capacity-check.ts';
import { RetryableError } from '../../runtime/reconcile-errors.ts';

/** How often to look again while waiting on another object (the policy or network mapping not ready). */
const WAIT_MS = 30_000;

export async function enableReplication(pass: VmPass): Promise<ReconcileResult | void> {
  const { vm, deps } = pass;
  const spec = vm.spec;

  // 0. Every Azure id in the subscription the operator manages; the policy ready.
  // (What the failed-over VM uses may be in spec.targetSubscriptionId: spec-ids.ts; the source VM and what it
  // uses in another subscription only when the VM replicates back into the operator's: arm-id.ts.)
  const { sourceVirtualMachineId, cacheStorageAccountId, targetStorageAccountId, seedVirtualMachineId } = spec;
  const sourceSubscription = subscriptionOfId(sourceVirtualMachineId) ?? deps.az.subscriptionId;
  const foreign =
    sourceSubscriptionRefusal(deps.az.subscriptionId, 'sourceVirtualMachineId', sourceVirtualMachineId, spec.targetSubscriptionId, 'spec.targetSubscriptionId') ??
    foreignSubscriptionRefusal(sourceSubscription, sourceSideAzureIds(vm), `the source VM is in subscription ${sourceSubscription}`) ??
    foreignSubscriptionRefusal(deps.az.subscriptionId, { cacheStorageAccountId, targetStorageAccountId }) ??
    // The seed VM is in the target region and its failover replaces it there: in the target subscription.
    (spec.targetSubscriptionId
      ? foreignSubscriptionRefusal(spec.targetSubscriptionId, { seedVirtualMachineId, ...targetSideAzureIds(vm) }, `the VM fails over into subscription ${spec.targetSubscriptionId} (spec.targetSubscriptionId)`)
      : foreignSubscriptionRefusal(deps.az.subscriptionId, { seedVirtualMachineId, ...targetSideAzureIds(vm) }));
  if (foreign) return pass.stall(foreign);
  const outside = tenancyRefusal(deps.scopes, pass.namespace, replicatedVmAzureIds(vm, deps.az.subscriptionId));
  if (outside) return pass.stall(outside);
  const policy = await deps.policies.get({ namespace: pass.namespace, name: spec.policyRef.name });
  if (!policy || !isTrue(policy.status?.conditions, 'Ready')) {
    return pass.pause({ reason: 'WaitingForPolicy', message: `ReplicationPolicy ${spec.policyRef.name} ${policy ? 'is not ready' : 'does not exist'}`, requeueAfterMs: WAIT_MS });
  }

  // 1. The source VM; when its region does not answer, the registration saved in the target region
  // (before the network mapping, which resolves the source network and so is not ready either).
  let read: SourceVmResult;
  try {
    read = await readSourceVm(deps.az, spec.sourceVirtualMachineId, spec.excludedDiskLuns ?? []);
  } catch (error) {
    if (restoresFromTarget(vm, error)) return restoreFromTargetRegion(pass, error);
    throw error;
  }
  const mapping = await deps.mappings.get({ namespace: pass.namespace, name: spec.networkMappingRef.name });
  if (!mapping || !isTrue(mapping.status?.conditions, 'Ready')) {
    return pass.pause({ reason: 'WaitingForNetworkMapping', message: `NetworkMapping ${spec.networkMappingRef.name} ${mapping ? 'is not ready' : 'does not exist'}`, requeueAfterMs: WAIT_MS });
  }
  if (!read.found) return pass.stall({ reason: 'SourceVMNotFound', message: `virtual machine ${spec.sourceVirtualMachineId} does not exist` });
  if (!read.supported) return pass.stall({ reason: read.reason, message: read.message });
  const source = read.vm;
  const refusal =
    placementRefusal(pass, source, mapping) ??
    (await diskEncryptionRefusal(pass, source)) ??
    (await placementGroupRefusal(pass)) ??
    (await networkSecurityGroupRefusal(pass, source)) ??
    (await publicIpAddressRefusal(pass)) ??
    (await applicationSecurityGroupRefusal(pass, source)) ??
    (await loadBalancerRefusal(pass, source));
  if (refusal) return pass.stall(refusal);

  // 2. Target-region resources, one step at a time.
  const phase = vm.status?.phase === 'Protected' ? 'Protected' : 'EnablingReplication'; // a drift check may create a resource (an NSG mirror)
  const persist = () => pass.record({ state: 'progressing', reason: 'EnablingReplication', message: 'creating target resources' }, { phase });
  const unfinished = await convergeSteps(pass, targetResourceSteps(pass, source, persist));
  if (unfinished) return unfinished;

  // 3. Registered for the datapath; follow its progress.
  return register(pass, source, mapping);
}

const sameRegion = (a: string, b: string) => a.replace(/\s/g, '').toLowerCase() === b.replace(/\s/g, '').toLowerCase();

/** Why the VM cannot replicate to where the spec says, if it cannot (within one region: only zone to zone). */
function placementRefusal(pass: VmPass, source: SourceVm, mapping: NetworkMapping): { reason: string; message: string } | undefined {
  const spec = pass.vm.spec;
  if (sameRegion(source.location, spec.targetLocation)) {
    // Zone-to-zone replication (ASR's): within one region, a zonal VM into another zone of it.
    const zone = targetZoneOf(spec, source.zone);
    if (!source.zone) return { reason: 'SameRegion', message: `the VM is already in ${spec.targetLocation} and in no availability zone; choose another target location (zone-to-zone replication needs a zonal VM)` };
    if (!zone || zone === source.zone) {
      return { reason: 'SameRegion', message: `the VM is already in ${spec.targetLocation}, zone ${source.zone}; for zone-to-zone replication name another target zone (spec.targetZone or spec.zoneMappings), or choose another target location` };
    }
  }
  if (mapping.spec.targetLocation !== spec.targetLocation) {
    return { reason: 'NetworkMappingMismatch', message: `NetworkMapping ${mapping.metadata.name} maps to ${mapping.spec.targetLocation}, not ${spec.targetLocation}` };
  }
  const subscriptionMismatch = mappingSubscriptionRefusal(mapping, targetSubscriptionOf(pass.vm, pass.deps.az.subscriptionId));
  if (subscriptionMismatch) return subscriptionMismatch;
  for (const nic of source.networkInterfaces) {
    for (const config of nic.ipConfigurations) {
      if (config.subnetId && !sameArmId(networkOfSubnet(config.subnetId), mapping.spec.sourceVirtualNetworkId)) {
        return { reason: 'NetworkNotMapped', message: `IP configuration ${config.name} of network interface ${nic.name} is in ${networkOfSubnet(config.subnetId)}, which the NetworkMapping (${mapping.spec.sourceVirtualNetworkId}) does not map` };
      }
    }
  }
  return undefined;
}

/**
 * Why the mapping's networks cannot serve a VM failing over into `subscriptionId`, if they cannot: a NIC and
 * the virtual network of its subnet share a subscription, so the target (and test) network must be there.
 */
function mappingSubscriptionRefusal(mapping: NetworkMapping, subscriptionId: string): { reason: string; message: string } | undefined {
  const networks = { target: mapping.status?.targetVirtualNetworkId, test: mapping.status?.testVirtualNetworkId };
  for (const [which, id] of Object.entries(networks)) {
    if (id && parseArmId(id).subscriptionId.toLowerCase() !== subscriptionId.toLowerCase()) {
      return {
        reason: 'NetworkMappingSubscriptionMismatch',
        message: `NetworkMapping ${mapping.metadata.name}'s ${which} network ${id} is not in subscription ${subscriptionId}, which the VM fails over into (a NIC and its network share a subscription); name a ${which} network there in the mapping (spec.${which}VirtualNetworkId)`,
      };
    }
  }
  return undefined;
}

/** Records the registration the datapath reads (ReplicationEnabled) and the phase its progress implies. */
async function register(pass: VmPass, source: SourceVm, mapping: NetworkMapping): Promise<ReconcileResult | void> {
  const { vm, ledger, ctx } = pass;
  const seeds = await seedDisks(pass.deps.az, vm, source);
  if ('stall' in seeds) return pass.stall(seeds.stall);
  const targetBlobName = (d: SourceVm['disks'][number]) => replicaBlobName(d, vm.status?.disks, vm.status?.detachedDisks);
  const disks: ProtectedDisk[] = source.disks.map((d) => ({ ...d, targetBlobName: targetBlobName(d), ...(seeds.byName.get(d.name) ? { seedDiskId: seeds.byName.get(d.name) } : {}) }));
  const availabilitySet = ledger.get(ROLE.availabilitySet);
  const targetZone = availabilitySet ? undefined : targetZoneOf(vm.spec, source.zone);
  const registered = {
    sourceLocation: source.location,
    sourceVmSize: source.vmSize,
    sourceOsType: source.osType,
    sourceVmProperties: source.properties,
    sourceNetworkInterfaces: source.networkInterfaces.map((nic) => nicRecord(pass, nic)),
    targetResourceGroupId: ledger.get(ROLE.group)?.id,
    cacheStorageAccountId: ledger.get(ROLE.cache)?.id,
    targetStorageAccountId: ledger.get(ROLE.target)?.id,
    targetVirtualNetworkId: mapping.status?.targetVirtualNetworkId,
    ...(targetZone ? { targetZone } : {}),
    ...(availabilitySet ? { targetAvailabilitySetId: availabilitySet.id } : {}),
    disks,
  } satisfies Partial<ReplicatedVMStatus>;
  const saved = await saveRegistration(pass.deps.az, ledger.get(ROLE.replicaContainer)?.id as string, { ...registered, targetResources: ledger.list() });
  if (saved === 'tooLarge') ctx.events.record(vm, 'Warning', 'RegistrationNotSaved', 'the registration does not fit in the replica container\'s metadata: a new cluster cannot restore it while the source region is down');
  const firstTime = !isTrue(vm.status?.conditions, 'ReplicationEnabled');
  const protectedNow = Boolean(vm.status?.lastRecoveryPoint);
  const phase: ReplicatedVMStatus['phase'] = protectedNow ? 'Protected' : 'InitialSync';
  const readiness: Readiness = protectedNow
    ? { state: 'ready', reason: 'Protected', message: `replicating to ${vm.spec.targetLocation}` }
    : { state: 'progressing', reason: 'InitialSyncInProgress', message: `replication enabled; initial sync ${vm.status?.initialSync?.percent ?? 0}% done` };
  const wasPhase = vm.status?.phase;
  const changes = [...describeDiskChanges(vm.status?.disks, disks), ...describeVmChanges(vm.status, registered)];
  const detached = detachedDisks(vm.status?.detachedDisks, vm.status?.disks, disks, new Date().toISOString());
  const capacity = protectedNow ? await capacityCondition(pass, source.vmSize, targetZone) : undefined;
  await pass.record(readiness, { ...registered, ...(detached.length || vm.status?.detachedDisks ? { detachedDisks: detached } : {}), phase }, { type: 'ReplicationEnabled', status: 'True', reason: 'Registered', message: `${disks.length} disk(s) registered for the datapath` }, capacity);
  if (firstTime) ctx.events.record(vm, 'Normal', 'ReplicationEnabled', `target resources ready in ${vm.spec.targetLocation}; ${disks.length} disk(s) registered for initial sync`);
  if (protectedNow && wasPhase === 'InitialSync') ctx.events.record(vm, 'Normal', 'Protected', 'initial sync complete: the first recovery point is sealed');
  for (const change of changes) ctx.events.record(vm, 'Normal', 'DriftDetected', change);
  // A capacity check that could not be made (no verdict yet) is retried with the controller's backoff.
  if (capacity?.status === 'Unknown') throw new RetryableError(capacity.reason, capacity.message ?? capacity.reason);
  // Waiting for the datapath's first point needs no polling: the point it seals is a milestone its status
  // write carries (datapathStatusOnly lets it through), which requeues the VM. Polling every 30 s made each
  // VM in initial sync cost a full pass of Azure reads twice a minute: enabling a fleet slowed down with
  // every VM enabled before.
  return undefined;
}

/** What a failover needs of a source NIC: its IP configurations (primary first), its group and the target's. */
function nicRecord(pass: VmPass, nic: SourceVm['networkInterfaces'][number]): SourceNetworkInterface {
  const resourceGroup = resourceGroupNameOf(pass.ledger.get(ROLE.group)?.id as string);
  const targetGroup = targetGroupOf(pass.vm, targetSubscriptionOf(pass.vm, pass.deps.az.subscriptionId), resourceGroup, nic);
  return {
    name: nic.name,
    primary: nic.primary,
    ...(nic.subnetName ? { subnetName: nic.subnetName } : {}),
    ...(nic.privateIpAddress ? { privateIpAddress: nic.privateIpAddress } : {}),
    ...(nic.acceleratedNetworking ? { acceleratedNetworking: true } : {}),
    ipConfigurations: nic.ipConfigurations.map(({ name, primary, subnetName, privateIpAddress, publicIpAddressId, loadBalancerBackendAddressPoolIds, applicationSecurityGroupIds }) => ({
      name,
      primary,
      ...(subnetName ? { subnetName } : {}),
      ...(privateIpAddress ? { privateIpAddress } : {}),
      ...(publicIpAddressId ? { publicIpAddressId } : {}),
      ...(loadBalancerBackendAddressPoolIds ? { loadBalancerBackendAddressPoolIds } : {}),
      ...(applicationSecurityGroupIds ? { applicationSecurityGroupIds } : {}),
    })),
    ...(nic.networkSecurityGroupId ? { networkSecurityGroupId: nic.networkSecurityGroupId } : {}),
    ...(targetGroup ? { targetNetworkSecurityGroupId: targetGroup } : {}),
  };
}
