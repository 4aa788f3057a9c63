/**
 * ReplicatedVM, enable replication (Azure Site Recovery's "Enable replication", step 1):
 *   0. wait for the policy and the network mapping to be ready;
 *   1. check the source VM exists, uses managed disks, sits in the mapped network and another region;
 *   2. create or adopt the target resource group, the cache storage account (source region), the target
 *      storage account (target region), the target availability set (or zone) matching the source, the
 *      restore point collection the datapath captures into, and this VM's containers in both accounts;
 *   3. register the VM for the datapath (its disks, where their replicas live) and follow the datapath's
 *      progress: InitialSync until the first recovery point, then Protected.
 * Deleting it disables replication: with deletionPolicy Delete everything the operator created for this
 * VM goes (shared resources once no other ReplicatedVM uses them); with Retain nothing is touched.
 */
import type { FailoverRequest, NetworkMapping, ProtectedDisk, RecoveryPoint, ReplicatedVM, ReplicatedVMStatus, ReplicationPolicy } from '../api/types.ts';
import type { AzureClients } from '../azure/clients.ts';
import { parseArmId, resourceGroupNameOf, sameArmId, shortHash, storageAccountName } from '../azure/arm-id.ts';
import { availabilitySetResource } from '../azure/resources/availability-set.ts';
import { blobContainerResource } from '../azure/resources/blob-container.ts';
import { networkOfSubnet } from '../azure/resources/network-interface.ts';
import { getOrUndefined } from '../azure/resources/observe.ts';
import { resourceGroupIsEmpty, resourceGroupResource } from '../azure/resources/resource-group.ts';
import { restorePointCollectionResource } from '../azure/resources/restore-point-collection.ts';
import { storageAccountResource } from '../azure/resources/storage-account.ts';
import { powerState } from '../azure/failover-resources.ts';
import { readSourceVm, type SourceVm } from '../azure/source-vm.ts';
import { failoverHolding, REPLICATED_VM_LABEL, RESOURCE_ROLE as ROLE } from '../api/contract.ts';
import { reconcileErrorFor } from '../azure/errors.ts';
import { convergeResource, removeResource, type ExternalResource } from '../azure/external-resource.ts';
import { ResourceLedger } from '../azure/resource-ledger.ts';
import { isTrue, type ConditionInput, type Readiness } from '../runtime/conditions.ts';
import type { ReconcileContext, ReconcileResult, Reconciler } from '../runtime/controller.ts';
import { addFinalizer, isDeleting, removeFinalizer } from '../runtime/finalizers.ts';
import { StatusWriter } from '../runtime/status-writer.ts';
import { done, POLL_MS, type Step } from '../runtime/step.ts';
import { refOf, type CustomResourceClient } from '../kube/custom-resources.ts';

/** Roles whose resources other ReplicatedVMs may share (deleted only when none uses them any more). */
const SHARED_ROLES = new Set<string>([ROLE.group, ROLE.cache, ROLE.target, ROLE.availabilitySet]);

export interface ReplicatedVmDeps {
  vms: CustomResourceClient<ReplicatedVM>;
  policies: CustomResourceClient<ReplicationPolicy>;
  mappings: CustomResourceClient<NetworkMapping>;
  recoveryPoints: CustomResourceClient<RecoveryPoint>;
  az: AzureClients;
  /** Every ReplicatedVM in the cluster (to know whether a shared resource is still used). */
  listAllVms: () => readonly ReplicatedVM[];
  /** FailoverRequests of a namespace (a real failover moves the VM to FailingOver / FailedOver). */
  listFailovers: (namespace: string) => readonly FailoverRequest[];
}

/** The names the operator derives for one ReplicatedVM; deterministic, so a retried create is the same PUT. */
export function targetNames(vm: ReplicatedVM, source: { resourceGroup: string; location: string; name: string }, subscriptionId: string) {
  const targetResourceGroup = vm.spec.targetResourceGroup ?? `${source.resourceGroup}-asr`;
  const container = `rvm-${shortHash(20, vm.metadata.namespace ?? '', vm.metadata.name ?? '', vm.spec.sourceVirtualMachineId)}`;
  return {
    targetResourceGroup,
    cacheAccount: storageAccountName('asrcache', subscriptionId, source.location, targetResourceGroup),
    targetAccount: storageAccountName('asrtgt', subscriptionId, vm.spec.targetLocation, targetResourceGroup),
    restorePointCollection: `${source.name}-asr-rpc-${shortHash(6, vm.metadata.namespace ?? '', vm.metadata.name ?? '')}`,
    container,
  };
}

export class ReplicatedVmReconciler implements Reconciler<ReplicatedVM> {
  private readonly deps: ReplicatedVmDeps;
  private readonly status: StatusWriter<ReplicatedVM>;

  constructor(deps: ReplicatedVmDeps) {
    this.deps = deps;
    this.status = new StatusWriter(deps.vms);
  }

  async reconcile(vm: ReplicatedVM, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const ledger = new ResourceLedger(vm.status?.targetResources);
    try {
      if (isDeleting(vm)) return await this.disableReplication(vm, ledger, ctx);
      vm = await addFinalizer(this.deps.vms, vm);
      return await this.enableReplication(vm, ledger, ctx);
    } catch (error) {
      return this.status.fail(vm, reconcileErrorFor(error, 'enabling replication'), { phase: vm.status?.phase ?? 'Pending', targetResources: ledger.list() });
    }
  }

  private async enableReplication(vm: ReplicatedVM, ledger: ResourceLedger, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const { az } = this.deps;
    const spec = vm.spec;
    const namespace = vm.metadata.namespace ?? 'default';
    const owner = `${namespace}/${vm.metadata.name}`;

    // A real failover under way or done: replication has stopped; nothing more to converge here.
    const failover = failoverHolding(this.deps.listFailovers(namespace), vm.metadata.name ?? '');
    if (failover) return this.followFailover(vm, ledger, failover, ctx);
    if (vm.status?.phase === 'FailedOver') {
      // Deleting the FailoverRequest never undoes a failover: the VM stays failed over.
      await this.record(vm, ledger, { state: 'ready', reason: 'FailedOver', message: `failed over by ${vm.status.activeFailover ?? 'a FailoverRequest'} (request since deleted); replication stopped` }, {});
      return;
    }

    // 0. The policy and the network mapping must be ready.
    const policy = await this.deps.policies.get({ namespace, name: spec.policyRef.name });
    if (!policy || !isTrue(policy.status?.conditions, 'Ready')) {
      return this.pause(vm, ledger, { reason: 'WaitingForPolicy', message: `ReplicationPolicy ${spec.policyRef.name} ${policy ? 'is not ready' : 'does not exist'}`, requeueAfterMs: 30_000 });
    }
    const mapping = await this.deps.mappings.get({ namespace, name: spec.networkMappingRef.name });
    if (!mapping || !isTrue(mapping.status?.conditions, 'Ready')) {
      return this.pause(vm, ledger, { reason: 'WaitingForNetworkMapping', message: `NetworkMapping ${spec.networkMappingRef.name} ${mapping ? 'is not ready' : 'does not exist'}`, requeueAfterMs: 30_000 });
    }

    // 1. The source VM.
    const read = await readSourceVm(az, spec.sourceVirtualMachineId, spec.excludedDiskLuns ?? []);
    if (!read.found) return this.stall(vm, ledger, { reason: 'SourceVMNotFound', message: `virtual machine ${spec.sourceVirtualMachineId} does not exist` }, ctx);
    if (!read.supported) return this.stall(vm, ledger, { reason: read.reason, message: read.message }, ctx);
    const source = read.vm;
    if (source.location === spec.targetLocation) return this.stall(vm, ledger, { reason: 'SameRegion', message: `the VM is already in ${spec.targetLocation}; choose another target location` }, ctx);
    if (mapping.spec.targetLocation !== spec.targetLocation) {
      return this.stall(vm, ledger, { reason: 'NetworkMappingMismatch', message: `NetworkMapping ${mapping.metadata.name} maps to ${mapping.spec.targetLocation}, not ${spec.targetLocation}` }, ctx);
    }
    const unmapped = this.unmappedNetworkInterface(source, mapping.spec.sourceVirtualNetworkId);
    if (unmapped) return this.stall(vm, ledger, { reason: 'NetworkNotMapped', message: unmapped }, ctx);

    // 2. Target-region resources, one step at a time.
    const names = targetNames(vm, source, az.subscriptionId);
    const persist = async () => {
      await this.record(vm, ledger, { state: 'progressing', reason: 'EnablingReplication', message: 'creating target resources' }, { phase: 'EnablingReplication' });
    };
    const steps: Array<() => Promise<Step<unknown>>> = [
      () => convergeResource(resourceGroupResource(az, ROLE.group, names.targetResourceGroup, spec.targetLocation, owner), ledger, persist),
      () => this.storageStep(ROLE.cache, spec.cacheStorageAccountId, { resourceGroup: names.targetResourceGroup, name: names.cacheAccount, location: source.location, owner }, ledger, persist),
      () => this.storageStep(ROLE.target, spec.targetStorageAccountId, { resourceGroup: names.targetResourceGroup, name: names.targetAccount, location: spec.targetLocation, owner }, ledger, persist),
      () => this.availabilityStep(vm, source, names.targetResourceGroup, owner, ledger, persist),
      () => convergeResource(restorePointCollectionResource(az, ROLE.restorePoints, { resourceGroup: names.targetResourceGroup, name: names.restorePointCollection, location: source.location, sourceVirtualMachineId: source.id, owner }), ledger, persist),
      () => this.containerStep(ROLE.cacheContainer, ROLE.cache, names.container, ledger, persist),
      () => this.containerStep(ROLE.replicaContainer, ROLE.target, names.container, ledger, persist),
    ];
    for (const step of steps) {
      const result = await step();
      if (result.state === 'stalled') return this.stall(vm, ledger, result, ctx);
      if (result.state === 'waiting') return this.pause(vm, ledger, result, { phase: 'EnablingReplication' });
    }

    // 3. Registered for the datapath (with the seed disks, if any); follow its progress.
    const seeds = await this.seedDisks(vm, source);
    if ('stall' in seeds) return this.stall(vm, ledger, seeds.stall, ctx);
    const disks: ProtectedDisk[] = source.disks.map((d) => ({ ...d, targetBlobName: `${d.name}.vhd`, ...(seeds.byName.get(d.name) ? { seedDiskId: seeds.byName.get(d.name) } : {}) }));
    const availabilitySet = ledger.get(ROLE.availabilitySet);
    const targetZone = vm.spec.targetZone ?? (availabilitySet ? undefined : source.zone);
    const registered = {
      sourceLocation: source.location,
      sourceVmSize: source.vmSize,
      sourceOsType: source.osType,
      sourceNetworkInterfaces: source.networkInterfaces.map(({ name, primary, subnetName, privateIpAddress }) => ({
        name,
        primary,
        ...(subnetName ? { subnetName } : {}),
        ...(privateIpAddress ? { privateIpAddress } : {}),
      })),
      targetResourceGroupId: ledger.get(ROLE.group)?.id,
      cacheStorageAccountId: ledger.get(ROLE.cache)?.id,
      targetStorageAccountId: ledger.get(ROLE.target)?.id,
      targetVirtualNetworkId: mapping.status?.targetVirtualNetworkId,
      ...(targetZone ? { targetZone } : {}),
      ...(availabilitySet ? { targetAvailabilitySetId: availabilitySet.id } : {}),
      disks,
    } satisfies Partial<ReplicatedVMStatus>;
    const firstTime = !isTrue(vm.status?.conditions, 'ReplicationEnabled');
    const protectedNow = Boolean(vm.status?.lastRecoveryPoint);
    const phase: ReplicatedVMStatus['phase'] = protectedNow ? 'Protected' : 'InitialSync';
    const readiness: Readiness = protectedNow
      ? { state: 'ready', reason: 'Protected', message: `replicating to ${spec.targetLocation}; newest recovery point ${vm.status?.lastRecoveryPoint?.time}` }
      : { state: 'progressing', reason: 'InitialSyncInProgress', message: `replication enabled; initial sync ${vm.status?.initialSync?.percent ?? 0}% done` };
    await this.record(vm, ledger, readiness, { ...registered, phase }, { type: 'ReplicationEnabled', status: 'True', reason: 'Registered', message: `${disks.length} disk(s) registered for the datapath` });
    if (firstTime) ctx.events.record(vm, 'Normal', 'ReplicationEnabled', `target resources ready in ${spec.targetLocation}; ${disks.length} disk(s) registered for initial sync`);
    if (protectedNow && vm.status?.phase === 'InitialSync') ctx.events.record(vm, 'Normal', 'Protected', 'initial sync complete: the first recovery point is sealed');
    return protectedNow ? undefined : { requeueAfterMs: 30_000 };
  }

  /**
   * The seed disk of each protected disk (same name: os, lun<N>), while the initial sync still needs them.
   * The seed must be in the target region and stay stopped: a running VM would change them under the sync.
   * A seed VM that is gone only costs a full copy.
   */
  private async seedDisks(vm: ReplicatedVM, source: SourceVm): Promise<{ byName: Map<string, string> } | { stall: { reason: string; message: string } }> {
    const recorded = new Map((vm.status?.disks ?? []).filter((d) => d.seedDiskId).map((d) => [d.name, d.seedDiskId as string]));
    const seedId = vm.spec.seedVirtualMachineId;
    if (!seedId || vm.status?.initialSync?.completionTime || vm.status?.lastRecoveryPoint) return { byName: recorded };
    const read = await readSourceVm(this.deps.az, seedId);
    if (!read.found || !read.supported) return { byName: new Map() };
    const seed = read.vm;
    if (seed.location !== vm.spec.targetLocation) {
      return { stall: { reason: 'SeedNotInTargetRegion', message: `the seed VM ${seed.name} is in ${seed.location}, not in the target region ${vm.spec.targetLocation}` } };
    }
    const state = await powerState(this.deps.az, seedId);
    if (state !== 'stopped' && state !== 'deallocated') {
      return { stall: { reason: 'SeedVirtualMachineRunning', message: `the seed VM ${seed.name} is ${state ?? 'in an unknown state'}: deallocate it so its disks stay still during the initial sync, or create the ReplicatedVM without seedVirtualMachineId` } };
    }
    const byName = new Map<string, string>();
    for (const disk of source.disks) {
      const match = seed.disks.find((d) => d.name === disk.name);
      if (match && match.sizeBytes <= disk.sizeBytes) byName.set(disk.name, match.sourceDiskId);
    }
    return { byName };
  }

  private async followFailover(vm: ReplicatedVM, ledger: ResourceLedger, failover: FailoverRequest, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const finished = failover.status?.phase === 'Succeeded' || failover.status?.phase === 'Committed';
    const phase: ReplicatedVMStatus['phase'] = finished ? 'FailedOver' : 'FailingOver';
    const readiness: Readiness = finished
      ? { state: 'ready', reason: 'FailedOver', message: `failed over to ${vm.spec.targetLocation} by FailoverRequest ${failover.metadata.name} (${failover.status?.targetVirtualMachineId}); replication stopped` }
      : { state: 'progressing', reason: 'FailingOver', message: `FailoverRequest ${failover.metadata.name} is failing the VM over; replication stopped` };
    if (vm.status?.phase !== phase) ctx.events.record(vm, 'Normal', phase, readiness.message ?? phase);
    await this.record(vm, ledger, readiness, { phase, activeFailover: failover.metadata.name });
  }

  /** Returns why the VM's network is not the mapping's source network, or undefined when it is. */
  private unmappedNetworkInterface(source: SourceVm, mappedNetworkId: string): string | undefined {
    for (const nic of source.networkInterfaces) {
      if (nic.subnetId && !sameArmId(networkOfSubnet(nic.subnetId), mappedNetworkId)) {
        return `network interface ${nic.name} is in ${networkOfSubnet(nic.subnetId)}, which the NetworkMapping (${mappedNetworkId}) does not map`;
      }
    }
    return undefined;
  }

  private async storageStep(role: string, adoptId: string | undefined, create: { resourceGroup: string; name: string; location: string; owner: string }, ledger: ResourceLedger, persist: () => Promise<void>): Promise<Step<unknown>> {
    if (adoptId) {
      const id = parseArmId(adoptId);
      return convergeResource(storageAccountResource(this.deps.az, role, { resourceGroup: id.resourceGroup, name: id.name, location: create.location, owner: create.owner }, false), ledger, persist);
    }
    return convergeResource(storageAccountResource(this.deps.az, role, create), ledger, persist);
  }

  private async availabilityStep(vm: ReplicatedVM, source: SourceVm, resourceGroup: string, owner: string, ledger: ResourceLedger, persist: () => Promise<void>): Promise<Step<unknown>> {
    const { az } = this.deps;
    if (vm.spec.targetZone) return done();
    if (vm.spec.targetAvailabilitySetId) {
      const id = parseArmId(vm.spec.targetAvailabilitySetId);
      return convergeResource(availabilitySetResource(az, ROLE.availabilitySet, { resourceGroup: id.resourceGroup, name: id.name, location: vm.spec.targetLocation, owner, faultDomains: 2, updateDomains: 5 }, false), ledger, persist);
    }
    if (!source.availabilitySetId) return done();
    const sourceSetId = parseArmId(source.availabilitySetId);
    const sourceSet = await getOrUndefined(() => az.compute.availabilitySets.get(sourceSetId.resourceGroup, sourceSetId.name));
    return convergeResource(
      availabilitySetResource(az, ROLE.availabilitySet, {
        resourceGroup,
        name: `${sourceSetId.name}-asr`,
        location: vm.spec.targetLocation,
        owner,
        faultDomains: sourceSet?.platformFaultDomainCount ?? 2,
        updateDomains: sourceSet?.platformUpdateDomainCount ?? 5,
      }),
      ledger,
      persist,
    );
  }

  private async containerStep(role: string, accountRole: string, container: string, ledger: ResourceLedger, persist: () => Promise<void>): Promise<Step<unknown>> {
    const account = parseArmId(ledger.get(accountRole)?.id as string);
    return convergeResource(blobContainerResource(this.deps.az, role, account.resourceGroup, account.name, container), ledger, persist);
  }

  /** Deletion: disable replication and remove what the operator created, unless the policy says Retain. */
  private async disableReplication(vm: ReplicatedVM, ledger: ResourceLedger, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    if (vm.spec.deletionPolicy === 'Retain') {
      ctx.events.record(vm, 'Normal', 'Retained', 'replication disabled; Azure resources retained (deletionPolicy Retain)');
      return removeFinalizer(this.deps.vms, vm);
    }
    await this.record(vm, ledger, { state: 'progressing', reason: 'DisablingReplication', message: 'removing what the operator created for this VM' }, {});

    // Recovery points of this VM (no garbage collector is assumed to run).
    const namespace = vm.metadata.namespace ?? 'default';
    const points = await this.deps.recoveryPoints.list(namespace, `${REPLICATED_VM_LABEL}=${vm.metadata.name}`);
    await Promise.all(points.items.map((p) => this.deps.recoveryPoints.delete(refOf(p))));

    // Per-VM resources first, then shared ones nobody else uses, the resource group last.
    const others = this.deps.listAllVms().filter((o) => o.metadata.uid !== vm.metadata.uid);
    const usedElsewhere = (id: string) => others.some((o) => (o.status?.targetResources ?? []).some((r) => sameArmId(r.id, id)));
    const order = [ROLE.cacheContainer, ROLE.replicaContainer, ROLE.restorePoints, ROLE.availabilitySet, ROLE.cache, ROLE.target];
    let allGone = true;
    for (const role of order) {
      const record = ledger.get(role);
      if (!record) continue;
      if (SHARED_ROLES.has(role) && usedElsewhere(record.id)) {
        ledger.remove(role);
        continue;
      }
      const gone = await removeResource(this.handleFor(role, record.id), record);
      if (gone) ledger.remove(role);
      else allGone = false;
    }
    if (!allGone) {
      await this.record(vm, ledger, { state: 'progressing', reason: 'DisablingReplication', message: 'waiting for Azure to delete resources' }, {});
      return { requeueAfterMs: POLL_MS };
    }
    const group = ledger.get(ROLE.group);
    if (group?.created && !usedElsewhere(group.id)) {
      const name = resourceGroupNameOf(group.id);
      if (await resourceGroupIsEmpty(this.deps.az, name)) await removeResource(resourceGroupResource(this.deps.az, ROLE.group, name, vm.spec.targetLocation, ''), group);
    }
    ctx.events.record(vm, 'Normal', 'ReplicationDisabled', 'replication disabled and the resources the operator created removed');
    await removeFinalizer(this.deps.vms, vm);
  }

  /** An adapter able to observe and delete the resource recorded under `role`. */
  private handleFor(role: string, id: string): ExternalResource<unknown> {
    const { az } = this.deps;
    const parsed = parseArmId(id);
    const base = { resourceGroup: parsed.resourceGroup, location: '', owner: '' };
    switch (role) {
      case ROLE.cache:
      case ROLE.target:
        return storageAccountResource(az, role, { ...base, name: parsed.name });
      case ROLE.availabilitySet:
        return availabilitySetResource(az, role, { ...base, name: parsed.name, faultDomains: 0, updateDomains: 0 });
      case ROLE.restorePoints:
        return restorePointCollectionResource(az, role, { ...base, name: parsed.name, sourceVirtualMachineId: '' });
      default:
        return blobContainerResource(az, role, parsed.resourceGroup, parsed.names[0] as string, parsed.name);
    }
  }

  private async stall(vm: ReplicatedVM, ledger: ResourceLedger, stalled: { reason: string; message: string }, ctx: ReconcileContext): Promise<ReconcileResult> {
    return this.status.stall(vm, stalled, ctx.events, { phase: vm.status?.phase === 'Protected' ? 'Protected' : 'Error', targetResources: ledger.list() });
  }

  private async pause(vm: ReplicatedVM, ledger: ResourceLedger, waiting: { reason: string; message: string; requeueAfterMs?: number }, fields: Partial<ReplicatedVMStatus> = {}): Promise<ReconcileResult> {
    return this.status.pause(vm, waiting, { phase: vm.status?.phase ?? 'Pending', ...fields, targetResources: ledger.list() });
  }

  private async record(vm: ReplicatedVM, ledger: ResourceLedger, readiness: Readiness, fields: Partial<ReplicatedVMStatus>, condition?: ConditionInput): Promise<void> {
    const conditions = condition ? [condition] : [];
    await this.status.record(vm, readiness, { phase: vm.status?.phase ?? 'Pending', ...fields, targetResources: ledger.list() }, ...conditions);
  }
}
