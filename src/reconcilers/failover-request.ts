/**
 * FailoverRequest: brings one protected VM up in its target region from a recovery point.
 *
 *   validate   the VM is protected; no other real failover of it is under way; a named point is its own;
 *              a Test has a test network;
 *   Planned:   ShutdownSource, then FinalSync (the datapath captures and seals what is left: no data loss);
 *   Latest:    FinalSync without shutting anything down (lowest RPO);
 *   then       SelectRecoveryPoint, CreateDisks (imported from the point's replica snapshots),
 *              CreateNetworkInterfaces (mapped subnet, the source private IP when free, else the next free
 *              one), CreateVirtualMachine, StartVirtualMachine; RTO recorded.
 *
 * Every step is idempotent (deterministic names, a resource recorded before it is created) and resumes
 * after an operator restart from status.steps. A Test never touches the source or replication; deleting
 * it (or cleanup: true) removes everything it created. Planned/Unplanned move the ReplicatedVM to
 * FailedOver (computed by its reconciler from this object); deleting them never undoes a failover.
 */
import type { FailoverRequest, FailoverRequestStatus, FailoverResource, NetworkMapping, RecoveryPoint, ReplicatedVM } from '../api/types.ts';
import type { AzureClients } from '../azure/clients.ts';
import { parseArmId, resourceGroupNameOf, shortHash } from '../azure/arm-id.ts';
import {
  getDisk,
  getNic,
  getVm,
  powerState,
  startCreateNic,
  startCreateVm,
  startDelete,
  startImportDisk,
  startPowerOff,
  startVm,
} from '../azure/failover-resources.ts';
import { classifyAzureError } from '../azure/errors.ts';
import { setCondition, removeCondition } from '../controllers/conditions.ts';
import type { ReconcileContext, ReconcileResult, Reconciler } from '../controllers/controller.ts';
import type { CustomResourceClient } from '../kube/custom-resources.ts';
import { formatDuration } from '../util/duration.ts';
import { stepsFor, StepLog, type StepName } from './failover-steps.ts';
import { addFinalizer, applyStatus, isDeleting, operatorOwnedStatus, removeFinalizer } from './object-status.ts';
import { REPLICATED_VM_LABEL } from './replicated-vm.ts';

export { SYNC_NOW_ANNOTATION } from '../api/names.ts';
import { SYNC_NOW_ANNOTATION } from '../api/names.ts';
const POLL_MS = 2_000;

export interface FailoverDeps {
  failovers: CustomResourceClient<FailoverRequest>;
  vms: CustomResourceClient<ReplicatedVM>;
  mappings: CustomResourceClient<NetworkMapping>;
  points: CustomResourceClient<RecoveryPoint>;
  az: AzureClients;
  /** FailoverRequests of a namespace (informer cache). */
  listFailovers: (namespace: string) => readonly FailoverRequest[];
}

type StepOutcome = { state: 'done'; message?: string } | { state: 'waiting'; message?: string; requeueAfterMs?: number } | { state: 'failed'; reason: string; message: string };

const done = (message?: string): StepOutcome => ({ state: 'done', message });
const waiting = (message?: string, requeueAfterMs = POLL_MS): StepOutcome => ({ state: 'waiting', message, requeueAfterMs });
const failed = (reason: string, message: string): StepOutcome => ({ state: 'failed', reason, message });

/** Names of what a request creates: the real failover keeps the source names; a test gets a suffix. */
export function failoverNames(fo: FailoverRequest, sourceVmName: string) {
  const suffix = fo.spec.type === 'Test' ? `-test-${shortHash(5, fo.metadata.uid ?? fo.metadata.name ?? '')}` : '';
  return {
    vm: `${sourceVmName}${suffix}`,
    disk: (diskName: string) => `${sourceVmName}-${diskName}${suffix || '-asr'}`,
    nic: (nicName: string) => `${nicName}${suffix || '-asr'}`,
  };
}

/** The non-Test failovers of a VM that count as "the" failover: not failed, oldest first. */
export function realFailoversOf(all: readonly FailoverRequest[], vmName: string): FailoverRequest[] {
  return all
    .filter((f) => f.spec.replicatedVMName === vmName && f.spec.type !== 'Test' && f.status?.phase !== 'Failed' && !f.metadata.deletionTimestamp)
    .sort((a, b) => String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)) || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
}

export class FailoverRequestReconciler implements Reconciler<FailoverRequest> {
  private readonly deps: FailoverDeps;

  constructor(deps: FailoverDeps) {
    this.deps = deps;
  }

  async reconcile(fo: FailoverRequest, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const namespace = fo.metadata.namespace ?? 'default';
    if (isDeleting(fo)) {
      if (fo.spec.type === 'Test') {
        const result = await this.cleanUp(fo, ctx);
        if (result) return result;
      }
      return removeFinalizer(this.deps.failovers, fo);
    }
    fo = await addFinalizer(this.deps.failovers, fo);
    const phase = fo.status?.phase ?? 'Pending';

    if (fo.spec.type === 'Test' && fo.spec.cleanup) {
      if (phase === 'CleanedUp') return;
      return (await this.cleanUp(fo, ctx)) ?? undefined;
    }
    if (phase === 'Failed' || phase === 'CleanedUp') return;
    if (phase === 'Succeeded' || phase === 'Committed') return this.afterFailover(fo, ctx);

    const vm = await this.deps.vms.get({ namespace, name: fo.spec.replicatedVMName });
    if (!vm) return this.fail(fo, undefined, 'ReplicatedVMNotFound', `ReplicatedVM ${fo.spec.replicatedVMName} does not exist`, ctx);
    if (phase === 'Pending') {
      const refusal = await this.validate(fo, vm);
      if (refusal) return this.fail(fo, undefined, refusal.reason, refusal.message, ctx);
      ctx.events.record(fo, 'Normal', 'Started', `${fo.spec.type} failover of ${vm.metadata.name} to ${vm.spec.targetLocation} started`);
    }

    const steps = new StepLog(stepsFor(fo.spec), fo.status?.steps);
    const extra: Partial<FailoverRequestStatus> = {};
    for (let name = steps.next(); name; name = steps.next()) {
      let outcome: StepOutcome;
      try {
        outcome = await this.runStep(name, fo, vm, extra);
      } catch (error) {
        const c = classifyAzureError(error);
        if (c.class === 'fatal') outcome = failed('AzureRequestRejected', `${name}: ${c.code ? `${c.code}: ` : ''}${c.message}`);
        else {
          steps.running(name, `retrying after: ${c.message}`);
          await this.record(fo, steps, 'Running', extra);
          throw error;
        }
      }
      if (outcome.state === 'failed') {
        steps.failed(name, outcome.message);
        return this.fail(fo, steps, outcome.reason, outcome.message, ctx, extra);
      }
      if (outcome.state === 'waiting') {
        steps.running(name, outcome.message);
        await this.record(fo, steps, 'Running', extra);
        return { requeueAfterMs: outcome.requeueAfterMs };
      }
      steps.succeeded(name, outcome.message);
      await this.record(fo, steps, 'Running', extra);
    }
    return this.succeed(fo, steps, vm, ctx);
  }

  /** Refusals that must stop a request before it touches anything. */
  private async validate(fo: FailoverRequest, vm: ReplicatedVM): Promise<{ reason: string; message: string } | undefined> {
    const namespace = fo.metadata.namespace ?? 'default';
    if (!vm.status?.disks?.length || !vm.status.targetStorageAccountId) {
      return { reason: 'NotProtected', message: `ReplicatedVM ${vm.metadata.name} is not replicating yet (phase ${vm.status?.phase ?? 'Pending'})` };
    }
    if (fo.spec.type !== 'Test') {
      const first = realFailoversOf(this.deps.listFailovers(namespace), vm.metadata.name ?? '')[0];
      if (first && first.metadata.uid !== fo.metadata.uid) {
        return { reason: 'ConcurrentFailover', message: `FailoverRequest ${first.metadata.name} already fails ${vm.metadata.name} over; one real failover at a time` };
      }
      if (vm.status.phase === 'FailedOver' && vm.status.activeFailover && vm.status.activeFailover !== fo.metadata.name) {
        return { reason: 'AlreadyFailedOver', message: `${vm.metadata.name} was already failed over by ${vm.status.activeFailover}` };
      }
    }
    const point = fo.spec.recoveryPoint ?? 'LatestProcessed';
    if (!['Latest', 'LatestProcessed', 'LatestAppConsistent'].includes(point)) {
      const named = await this.deps.points.get({ namespace, name: point });
      if (!named) return { reason: 'RecoveryPointNotFound', message: `RecoveryPoint ${point} does not exist` };
      if (named.spec.replicatedVMName !== vm.metadata.name) {
        return { reason: 'RecoveryPointMismatch', message: `RecoveryPoint ${point} belongs to ${named.spec.replicatedVMName}, not ${vm.metadata.name}` };
      }
    }
    if (fo.spec.type === 'Test' && !fo.spec.testVirtualNetworkId) {
      const mapping = await this.deps.mappings.get({ namespace, name: vm.spec.networkMappingRef.name });
      if (!mapping?.status?.testVirtualNetworkId) {
        return { reason: 'NoTestNetwork', message: `no test network: set spec.testVirtualNetworkId or let NetworkMapping ${vm.spec.networkMappingRef.name} create one` };
      }
    }
    return undefined;
  }

  private async runStep(name: StepName, fo: FailoverRequest, vm: ReplicatedVM, extra: Partial<FailoverRequestStatus>): Promise<StepOutcome> {
    switch (name) {
      case 'ShutdownSource':
        return this.shutdownSource(fo, vm);
      case 'FinalSync':
        return this.finalSync(fo, vm);
      case 'SelectRecoveryPoint':
        return this.selectRecoveryPoint(fo, vm, extra);
      case 'CreateDisks':
        return this.createDisks(fo, vm, extra);
      case 'CreateNetworkInterfaces':
        return this.createNics(fo, vm, extra);
      case 'CreateVirtualMachine':
        return this.createVm(fo, vm, extra);
      case 'StartVirtualMachine':
        return this.startTargetVm(fo, extra);
    }
  }

  private async shutdownSource(fo: FailoverRequest, vm: ReplicatedVM): Promise<StepOutcome> {
    const { az } = this.deps;
    const state = await powerState(az, vm.spec.sourceVirtualMachineId);
    if (state === 'stopped' || state === 'deallocated') return done(`source VM is ${state}`);
    if (fo.spec.shutdownSource === false) {
      return failed('SourceStillRunning', 'shutdownSource is false but the source VM is running: stop it first, or a planned failover could lose writes');
    }
    if (state !== 'stopping') await startPowerOff(az, vm.spec.sourceVirtualMachineId);
    return waiting('powering off the source VM');
  }

  /** Asks the datapath to capture and seal now (annotation), and waits for its answer. */
  private async finalSync(fo: FailoverRequest, vm: ReplicatedVM): Promise<StepOutcome> {
    const token = fo.metadata.uid ?? fo.metadata.name ?? '';
    if (vm.metadata.annotations?.[SYNC_NOW_ANNOTATION] !== token) {
      await this.deps.vms.mergePatch({ namespace: vm.metadata.namespace ?? 'default', name: vm.metadata.name ?? '' }, { metadata: { annotations: { [SYNC_NOW_ANNOTATION]: token } } });
      return waiting('asked the datapath to capture and seal the final changes');
    }
    const answer = vm.status?.replication?.syncNow;
    if (answer?.token !== token || answer.state === 'Running') return waiting(answer?.message ?? 'waiting for the datapath to seal the final recovery point');
    if (answer.state === 'Failed') {
      if (fo.spec.type === 'Unplanned') return done(`final sync impossible (${answer.message ?? 'source unreachable'}); using the latest processed point`);
      return failed('FinalSyncFailed', `the datapath could not seal the final changes: ${answer.message ?? 'no reason given'}`);
    }
    return done(`sealed ${answer.recoveryPointName}`);
  }

  private async selectRecoveryPoint(fo: FailoverRequest, vm: ReplicatedVM, extra: Partial<FailoverRequestStatus>): Promise<StepOutcome> {
    const namespace = fo.metadata.namespace ?? 'default';
    const wanted = fo.spec.recoveryPoint ?? 'LatestProcessed';
    let point: RecoveryPoint | undefined;
    const synced = vm.status?.replication?.syncNow;
    if (synced?.token === fo.metadata.uid && synced?.state === 'Succeeded' && synced.recoveryPointName) {
      point = await this.deps.points.get({ namespace, name: synced.recoveryPointName });
    } else if (!['Latest', 'LatestProcessed', 'LatestAppConsistent'].includes(wanted)) {
      point = await this.deps.points.get({ namespace, name: wanted });
    } else {
      const all = (await this.deps.points.list(namespace, `${REPLICATED_VM_LABEL}=${vm.metadata.name}`)).items.filter((p) => p.spec.replicatedVMName === vm.metadata.name);
      const candidates = wanted === 'LatestAppConsistent' ? all.filter((p) => p.spec.consistency === 'AppConsistent') : all;
      point = candidates.sort((a, b) => b.spec.time.localeCompare(a.spec.time))[0];
    }
    if (!point) return failed('NoRecoveryPoint', wanted === 'LatestAppConsistent' ? 'no application-consistent recovery point exists' : 'no recovery point exists for this VM yet');
    extra.recoveryPointName = point.metadata.name;
    extra.recoveryPointTime = point.spec.time;
    return done(`${point.metadata.name} (${point.spec.consistency}, ${point.spec.time})`);
  }

  private async createDisks(fo: FailoverRequest, vm: ReplicatedVM, extra: Partial<FailoverRequestStatus>): Promise<StepOutcome> {
    const { az } = this.deps;
    const point = await this.chosenPoint(fo, extra);
    if (!point) return failed('RecoveryPointGone', `RecoveryPoint ${extra.recoveryPointName ?? fo.status?.recoveryPointName} no longer exists`);
    const target = this.targetPlacement(vm);
    const names = failoverNames(fo, parseArmId(vm.spec.sourceVirtualMachineId).name);
    let pending = 0;
    for (const disk of point.spec.disks) {
      const name = names.disk(disk.name);
      const id = `${target.resourceGroupId}/providers/Microsoft.Compute/disks/${name}`;
      await this.remember(fo, extra, { kind: 'Disk', id });
      const existing = await getDisk(az, target.resourceGroup, name);
      if (!existing) {
        await startImportDisk(az, {
          resourceGroup: target.resourceGroup,
          name,
          location: vm.spec.targetLocation,
          sourceUri: `${disk.blobUrl}?snapshot=${encodeURIComponent(disk.snapshot)}`,
          storageAccountId: vm.status?.targetStorageAccountId as string,
          ...(disk.role === 'OS' ? { osType: vm.status?.sourceOsType ?? 'Linux' } : {}),
          ...(target.zone ? { zone: target.zone } : {}),
          owner: this.owner(fo),
        });
        pending++;
      } else if (existing.provisioningState === 'Failed') {
        return failed('DiskImportFailed', `disk ${name} could not be imported from ${point.metadata.name}`);
      } else if (existing.provisioningState !== 'Succeeded') {
        pending++;
      }
    }
    return pending ? waiting(`importing ${pending} of ${point.spec.disks.length} disk(s) from ${point.metadata.name}`) : done(`${point.spec.disks.length} disk(s) imported`);
  }

  private async createNics(fo: FailoverRequest, vm: ReplicatedVM, extra: Partial<FailoverRequestStatus>): Promise<StepOutcome> {
    const { az } = this.deps;
    const namespace = fo.metadata.namespace ?? 'default';
    const mapping = await this.deps.mappings.get({ namespace, name: vm.spec.networkMappingRef.name });
    if (!mapping?.status?.subnetMappings) return failed('NetworkMappingNotReady', `NetworkMapping ${vm.spec.networkMappingRef.name} has no resolved subnet mapping`);
    const target = this.targetPlacement(vm);
    const names = failoverNames(fo, parseArmId(vm.spec.sourceVirtualMachineId).name);
    const nics = vm.status?.sourceNetworkInterfaces ?? [];
    if (nics.length === 0) return failed('NoNetworkInterfaces', 'the source VM recorded no network interfaces');
    const report = [...(extra.networkInterfaces ?? fo.status?.networkInterfaces ?? [])];
    let pending = 0;
    for (const nic of nics) {
      const override = vm.spec.networkInterfaces?.find((o) => o.sourceName === nic.name);
      const subnetId = this.subnetFor(fo, mapping, nic.subnetName, override?.targetSubnetName);
      if (!subnetId) return failed('SubnetNotMapped', `no ${fo.spec.type === 'Test' ? 'test ' : ''}subnet is mapped for source subnet ${nic.subnetName ?? '?'} of ${nic.name}`);
      const name = names.nic(nic.name);
      const id = `${target.resourceGroupId}/providers/Microsoft.Network/networkInterfaces/${name}`;
      await this.remember(fo, extra, { kind: 'NetworkInterface', id });
      const requested = override?.targetPrivateIpAddress ?? nic.privateIpAddress;
      const existing = await getNic(az, target.resourceGroup, name);
      if (!existing) {
        const started = await startCreateNic(az, { resourceGroup: target.resourceGroup, name, location: vm.spec.targetLocation, subnetId, ...(requested ? { privateIpAddress: requested } : {}), owner: this.owner(fo) });
        if (override?.targetPrivateIpAddress && started.allocation === 'Dynamic') {
          // An explicit address is a promise to the user: refuse rather than silently use another.
          await startDelete(az, id);
          return failed('PrivateIpUnavailable', `${override.targetPrivateIpAddress} cannot be used in ${subnetId}: ${started.refusal}`);
        }
        pending++;
        continue;
      }
      if (existing.provisioningState !== 'Succeeded') {
        pending++;
        continue;
      }
      const assigned = existing.ipConfigurations?.[0]?.privateIPAddress;
      const entry = { sourceName: nic.name, targetSubnetId: subnetId, ...(requested ? { requestedPrivateIpAddress: requested } : {}), ...(assigned ? { privateIpAddress: assigned } : {}) };
      const at = report.findIndex((r) => r.sourceName === nic.name);
      if (at >= 0) report[at] = entry;
      else report.push(entry);
    }
    extra.networkInterfaces = report;
    if (pending) return waiting(`creating ${pending} network interface(s)`);
    const changed = report.filter((r) => r.requestedPrivateIpAddress && r.requestedPrivateIpAddress !== r.privateIpAddress);
    return done(changed.length ? `kept no address for ${changed.map((c) => `${c.sourceName} (${c.requestedPrivateIpAddress} taken, got ${c.privateIpAddress})`).join(', ')}` : `${report.length} network interface(s); private IPs kept`);
  }

  private async createVm(fo: FailoverRequest, vm: ReplicatedVM, extra: Partial<FailoverRequestStatus>): Promise<StepOutcome> {
    const { az } = this.deps;
    const target = this.targetPlacement(vm);
    const names = failoverNames(fo, parseArmId(vm.spec.sourceVirtualMachineId).name);
    const id = `${target.resourceGroupId}/providers/Microsoft.Compute/virtualMachines/${names.vm}`;
    await this.remember(fo, extra, { kind: 'VirtualMachine', id });
    const existing = await getVm(az, target.resourceGroup, names.vm);
    if (existing) {
      if (existing.provisioningState === 'Failed') return failed('VirtualMachineFailed', `VM ${names.vm} failed to provision`);
      if (existing.provisioningState !== 'Succeeded') return waiting(`creating VM ${names.vm}`);
      extra.targetVirtualMachineId = existing.id ?? id;
      return done(`VM ${names.vm} created`);
    }
    const point = await this.chosenPoint(fo, extra);
    if (!point) return failed('RecoveryPointGone', 'the chosen recovery point no longer exists');
    const diskId = (diskName: string) => `${target.resourceGroupId}/providers/Microsoft.Compute/disks/${names.disk(diskName)}`;
    const os = point.spec.disks.find((d) => d.role === 'OS');
    if (!os) return failed('NoOsDisk', `RecoveryPoint ${point.metadata.name} has no OS disk`);
    const nicIds = (vm.status?.sourceNetworkInterfaces ?? [])
      .slice()
      .sort((a, b) => Number(Boolean(b.primary)) - Number(Boolean(a.primary)))
      .map((n) => `${target.resourceGroupId}/providers/Microsoft.Network/networkInterfaces/${names.nic(n.name)}`);
    await startCreateVm(az, {
      resourceGroup: target.resourceGroup,
      name: names.vm,
      location: vm.spec.targetLocation,
      vmSize: vm.spec.targetVmSize ?? vm.status?.sourceVmSize ?? 'Standard_D2s_v3',
      osType: vm.status?.sourceOsType ?? 'Linux',
      osDiskId: diskId(os.name),
      dataDisks: point.spec.disks.filter((d) => d.role === 'Data').sort((a, b) => (a.lun ?? 0) - (b.lun ?? 0)).map((d) => ({ lun: d.lun ?? 0, diskId: diskId(d.name) })),
      nicIds,
      ...(target.availabilitySetId ? { availabilitySetId: target.availabilitySetId } : {}),
      ...(target.zone ? { zone: target.zone } : {}),
      owner: this.owner(fo),
    });
    return waiting(`creating VM ${names.vm}`);
  }

  private async startTargetVm(fo: FailoverRequest, extra: Partial<FailoverRequestStatus>): Promise<StepOutcome> {
    const targetId = extra.targetVirtualMachineId ?? fo.status?.targetVirtualMachineId;
    if (!targetId) return failed('NoTargetVM', 'the target VM id was not recorded');
    const state = await powerState(this.deps.az, targetId);
    if (state === 'running') return done('target VM running');
    if (state !== 'starting') await startVm(this.deps.az, targetId);
    return waiting('starting the target VM');
  }

  /** After success: commit, and (after commit) re-protect. */
  private async afterFailover(fo: FailoverRequest, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    if (fo.spec.commit && fo.status?.phase === 'Succeeded') {
      await this.record(fo, new StepLog(stepsFor(fo.spec), fo.status?.steps), 'Committed', {}, { type: 'Committed', status: 'True', reason: 'Committed', message: 'failover committed' });
      ctx.events.record(fo, 'Normal', 'Committed', 'failover committed');
    }
    if (fo.spec.reprotect && fo.status?.phase === 'Committed' && !fo.status.conditions?.some((c) => c.type === 'Reprotected')) {
      // Said plainly rather than silently ignored: replicating back is not built yet.
      const message = 're-protect (replicating back to the source region) is not available in this version; to protect the failed-over VM, create a ReplicatedVM for it';
      await this.record(fo, new StepLog(stepsFor(fo.spec), fo.status?.steps), 'Committed', {}, { type: 'Reprotected', status: 'False', reason: 'NotSupportedYet', message });
      ctx.events.record(fo, 'Warning', 'ReprotectNotSupported', message);
    }
  }

  /** Test cleanup: delete the VM, then its NICs and disks. Returns a requeue while anything remains. */
  private async cleanUp(fo: FailoverRequest, ctx: ReconcileContext): Promise<ReconcileResult | undefined> {
    const resources = fo.status?.targetResources ?? [];
    const order = ['VirtualMachine', 'NetworkInterface', 'Disk'];
    for (const kind of order) {
      let remaining = 0;
      for (const r of resources.filter((x) => x.kind === kind)) if (!(await startDelete(this.deps.az, r.id))) remaining++;
      if (remaining) {
        if (!fo.metadata.deletionTimestamp) await this.record(fo, new StepLog(stepsFor(fo.spec), fo.status?.steps), 'CleaningUp', {});
        return { requeueAfterMs: POLL_MS };
      }
    }
    ctx.events.record(fo, 'Normal', 'CleanedUp', `removed ${resources.length} test resource(s)`);
    if (!fo.metadata.deletionTimestamp) await this.record(fo, new StepLog(stepsFor(fo.spec), fo.status?.steps), 'CleanedUp', {}, { type: 'Ready', status: 'True', reason: 'CleanedUp', message: 'every test resource was removed' });
    return undefined;
  }

  private async chosenPoint(fo: FailoverRequest, extra: Partial<FailoverRequestStatus>): Promise<RecoveryPoint | undefined> {
    const name = extra.recoveryPointName ?? fo.status?.recoveryPointName;
    return name ? this.deps.points.get({ namespace: fo.metadata.namespace ?? 'default', name }) : undefined;
  }

  private targetPlacement(vm: ReplicatedVM) {
    const resourceGroupId = vm.status?.targetResourceGroupId as string;
    return {
      resourceGroupId,
      resourceGroup: resourceGroupNameOf(resourceGroupId),
      availabilitySetId: vm.status?.targetAvailabilitySetId,
      zone: vm.status?.targetZone,
    };
  }

  private subnetFor(fo: FailoverRequest, mapping: NetworkMapping, sourceSubnet: string | undefined, overrideName: string | undefined): string | undefined {
    const entry = mapping.status?.subnetMappings?.find((m) => m.source === sourceSubnet);
    const targetName = overrideName ?? entry?.target ?? sourceSubnet;
    if (fo.spec.type === 'Test') {
      if (fo.spec.testVirtualNetworkId) return `${fo.spec.testVirtualNetworkId}/subnets/${targetName}`;
      if (!overrideName && entry?.testSubnetId) return entry.testSubnetId;
      return mapping.status?.testVirtualNetworkId ? `${mapping.status.testVirtualNetworkId}/subnets/${targetName}` : undefined;
    }
    if (!overrideName && entry?.targetSubnetId) return entry.targetSubnetId;
    return mapping.status?.targetVirtualNetworkId ? `${mapping.status.targetVirtualNetworkId}/subnets/${targetName}` : undefined;
  }

  private owner(fo: FailoverRequest): string {
    return `${fo.metadata.namespace}/${fo.metadata.name}`;
  }

  /** Records a resource in status before it is created, so cleanup finds it whatever happens next. */
  private async remember(fo: FailoverRequest, extra: Partial<FailoverRequestStatus>, resource: FailoverResource): Promise<void> {
    const known = extra.targetResources ?? fo.status?.targetResources ?? [];
    if (known.some((r) => r.id.toLowerCase() === resource.id.toLowerCase())) return;
    extra.targetResources = [...known, resource];
    await this.record(fo, new StepLog(stepsFor(fo.spec), fo.status?.steps), fo.status?.phase === 'Pending' || !fo.status?.phase ? 'Running' : fo.status.phase, extra);
  }

  private async succeed(fo: FailoverRequest, steps: StepLog, vm: ReplicatedVM, ctx: ReconcileContext): Promise<void> {
    const now = new Date();
    const rtoSeconds = Math.round((now.getTime() - new Date(String(fo.metadata.creationTimestamp)).getTime()) / 1000);
    await this.record(fo, steps, 'Succeeded', { completionTime: now.toISOString(), rtoSeconds, rto: formatDuration(rtoSeconds * 1000) }, { type: 'Succeeded', status: 'True', reason: 'Succeeded', message: `${fo.status?.targetVirtualMachineId} is running` });
    ctx.events.record(fo, 'Normal', 'Succeeded', `${vm.metadata.name} is running in ${vm.spec.targetLocation} from ${fo.status?.recoveryPointName} (RTO ${formatDuration(rtoSeconds * 1000)})`);
  }

  private async fail(fo: FailoverRequest, steps: StepLog | undefined, reason: string, message: string, ctx: ReconcileContext, extra: Partial<FailoverRequestStatus> = {}): Promise<void> {
    await this.record(fo, steps ?? new StepLog(stepsFor(fo.spec), fo.status?.steps), 'Failed', { completionTime: new Date().toISOString(), ...extra }, { type: 'Succeeded', status: 'False', reason, message });
    ctx.events.record(fo, 'Warning', reason, message);
  }

  private async record(fo: FailoverRequest, steps: StepLog, phase: NonNullable<FailoverRequestStatus['phase']>, extra: Partial<FailoverRequestStatus>, outcome?: { type: string; status: 'True' | 'False'; reason: string; message: string }): Promise<void> {
    const generation = fo.metadata.generation;
    let conditions = fo.status?.conditions ?? [];
    const terminal = phase === 'Succeeded' || phase === 'Failed' || phase === 'Committed' || phase === 'CleanedUp';
    if (terminal) {
      conditions = removeCondition(conditions, 'Reconciling');
      const ok = phase !== 'Failed';
      conditions = setCondition(conditions, { type: 'Ready', status: ok ? 'True' : 'False', reason: outcome?.reason ?? phase, message: outcome?.message ?? '' }, generation);
      if (!ok) conditions = setCondition(conditions, { type: 'Stalled', status: 'True', reason: outcome?.reason ?? 'Failed', message: outcome?.message ?? '' }, generation);
    } else {
      const current = steps.list().find((s) => s.state === 'Running');
      const message = current ? `${current.name}: ${current.message ?? ''}` : phase;
      conditions = setCondition(conditions, { type: 'Ready', status: 'False', reason: phase, message }, generation);
      conditions = setCondition(conditions, { type: 'Reconciling', status: 'True', reason: phase, message }, generation);
    }
    if (outcome && outcome.type !== 'Ready') conditions = setCondition(conditions, outcome, generation);
    const status = {
      ...operatorOwnedStatus(fo.status),
      ...extra,
      phase,
      startTime: fo.status?.startTime ?? new Date().toISOString(),
      steps: steps.list(),
      observedGeneration: generation,
      conditions,
    };
    const updated = await applyStatus(this.deps.failovers, fo, status);
    fo.status = updated.status as FailoverRequestStatus;
    fo.metadata.resourceVersion = updated.metadata.resourceVersion;
  }
}
