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
import { REPROTECT_OF_LABEL } from '../api/contract.ts';
import type { AzureClients } from '../azure/clients.ts';
import { parseArmId, resourceGroupNameOf, sameArmId, shortHash } from '../azure/arm-id.ts';
import {
  getDisk,
  getNic,
  getVm,
  powerState,
  startCreateNic,
  startCreateVm,
  startDeallocate,
  startDelete,
  startImportDisk,
  startPowerOff,
  startVm,
} from '../azure/failover-resources.ts';
import { classifyAzureError } from '../azure/errors.ts';
import { isTrue, setCondition, removeCondition } from '../runtime/conditions.ts';
import type { ReconcileContext, ReconcileResult, Reconciler } from '../runtime/controller.ts';
import type { CustomResourceClient } from '../kube/custom-resources.ts';
import { formatDuration } from '../util/duration.ts';
import { failoverStepsFor, REPROTECT_STEPS, stepsFor, StepLog, type StepName } from './failover-steps.ts';
import { OWNER_TAG } from '../azure/external-resource.ts';
import { applyStatus } from '../runtime/status-writer.ts';
import { addFinalizer, isDeleting, removeFinalizer } from '../runtime/finalizers.ts';
import { REPLICATED_VM_LABEL, realFailoversOf, statusOwnedBy } from '../api/contract.ts';
import { readSourceVm } from '../azure/source-vm.ts';

export { SYNC_NOW_ANNOTATION } from '../api/contract.ts';
import { SYNC_NOW_ANNOTATION } from '../api/contract.ts';
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

/**
 * Names of what a request creates: a real failover keeps the VM's name (its disks get a per-request
 * suffix, so a failback next to the disks of an earlier failover never collides); a test gets a suffix.
 */
export function failoverNames(fo: FailoverRequest, sourceVmName: string) {
  const hash = shortHash(5, fo.metadata.uid ?? fo.metadata.name ?? '');
  const test = fo.spec.type === 'Test';
  return {
    vm: test ? `${sourceVmName}-test-${hash}` : sourceVmName,
    disk: (diskName: string) => `${sourceVmName}-${diskName}-${test ? 'test' : 'asr'}-${hash}`,
    nic: (nicName: string) => `${nicName}${test ? `-test-${hash}` : '-asr'}`,
  };
}

/**
 * Whether a real failover of `vm` takes the place of its seed: a failback after re-protect, where the
 * original VM (stopped, the seed of the reverse replication) has the name and resource group the failed
 * back VM gets.
 */
export function replacesSeed(vm: ReplicatedVM): boolean {
  const seedId = vm.spec.seedVirtualMachineId;
  const group = vm.status?.targetResourceGroupId;
  if (!seedId || !group) return false;
  const seed = parseArmId(seedId);
  return seed.name.toLowerCase() === parseArmId(vm.spec.sourceVirtualMachineId).name.toLowerCase() && seed.resourceGroup.toLowerCase() === resourceGroupNameOf(group).toLowerCase();
}

/**
 * The name of the ReplicatedVM that protects a VM back: `<name>-reverse`, or after a failback (re-protecting
 * `<name>-reverse`) the original `<name>` when it is free again. Undefined when every candidate is taken.
 */
export function reverseName(name: string, taken: (candidate: string) => boolean): string | undefined {
  const candidates = name.endsWith('-reverse') ? [name.slice(0, -'-reverse'.length), `${name}-reverse`] : [`${name}-reverse`];
  return candidates.map((c) => c.slice(0, 253)).find((c) => c && !taken(c));
}

function primaryFirst<T extends { primary?: boolean }>(nics: readonly T[]): T[] {
  return nics.slice().sort((a, b) => Number(Boolean(b.primary)) - Number(Boolean(a.primary)));
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

    const steps = this.stepLog(fo, vm);
    const extra: Partial<FailoverRequestStatus> = {};
    const outcome = await this.drive(fo, vm, steps, failoverStepsFor(fo.spec, { replacesVirtualMachine: replacesSeed(vm) }), extra, 'Running');
    if (outcome.state === 'failed') return this.fail(fo, steps, outcome.reason, outcome.message, ctx, extra);
    if (outcome.state === 'waiting') return { requeueAfterMs: outcome.requeueAfterMs };
    return this.succeed(fo, steps, vm, ctx);
  }

  /** The status.steps of a request (with the failback step when `vm` says the failover replaces its seed). */
  private stepLog(fo: FailoverRequest, vm?: ReplicatedVM): StepLog {
    const replaces = vm ? replacesSeed(vm) : Boolean(fo.status?.steps?.some((s) => s.name === 'ReplaceVirtualMachine'));
    return new StepLog(stepsFor(fo.spec, { replacesVirtualMachine: replaces }), fo.status?.steps);
  }

  /**
   * Runs the steps of `among` that are not done yet, one after the other, recording each in status:
   * stops at the first that has to wait (requeue) or fails. Transient Azure errors are rethrown (the
   * queue retries with backoff); Azure refusing a request fails the step.
   */
  private async drive(
    fo: FailoverRequest,
    vm: ReplicatedVM,
    steps: StepLog,
    among: readonly StepName[],
    extra: Partial<FailoverRequestStatus>,
    phase: 'Running' | 'Committed',
    progress?: (message: string) => { type: string; status: 'True' | 'False'; reason: string; message: string },
  ): Promise<{ state: 'done' } | { state: 'waiting'; requeueAfterMs?: number } | { state: 'failed'; reason: string; message: string }> {
    for (let name = steps.next(among); name; name = steps.next(among)) {
      let outcome: StepOutcome;
      try {
        outcome = await this.runStep(name, fo, vm, extra);
      } catch (error) {
        const c = classifyAzureError(error);
        if (c.class === 'fatal') outcome = failed('AzureRequestRejected', `${name}: ${c.code ? `${c.code}: ` : ''}${c.message}`);
        else {
          steps.running(name, `retrying after: ${c.message}`);
          await this.record(fo, steps, phase, extra, progress?.(`${name}: retrying after: ${c.message}`));
          throw error;
        }
      }
      if (outcome.state === 'failed') {
        steps.failed(name, outcome.message);
        return outcome;
      }
      if (outcome.state === 'waiting') {
        steps.running(name, outcome.message);
        await this.record(fo, steps, phase, extra, progress?.(`${name}: ${outcome.message ?? ''}`));
        return outcome;
      }
      steps.succeeded(name, outcome.message);
      await this.record(fo, steps, phase, extra, progress?.(`${name}: ${outcome.message ?? 'done'}`));
    }
    return { state: 'done' };
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
    if (fo.spec.type !== 'Test' && replacesSeed(vm)) {
      // A failback replaces the original VM: refuse before importing anything if it runs again.
      const seedId = vm.spec.seedVirtualMachineId as string;
      const seed = parseArmId(seedId);
      const state = (await getVm(this.deps.az, seed.resourceGroup, seed.name)) ? await powerState(this.deps.az, seedId) : 'deallocated';
      if (state !== 'stopped' && state !== 'deallocated') {
        return { reason: 'ReplacedVirtualMachineRunning', message: `VM ${seed.name} (the original VM, seed of this replication) is ${state ?? 'in an unknown state'}: the failed-back VM takes its name and NICs; deallocate it first` };
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
      case 'ReplaceVirtualMachine':
        return this.replaceSeedVm(fo, vm, extra);
      case 'DeallocateSourceVirtualMachine':
        return this.deallocateSource(vm);
      case 'CreateReverseNetworkMapping':
        return this.createReverseMapping(fo, vm, extra);
      case 'CreateReverseReplicatedVM':
        return this.createReverseVm(fo, vm, extra);
      case 'WaitForReverseInitialSync':
        return this.reverseInitialSync(fo, extra);
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
    const record = (entry: NonNullable<FailoverRequestStatus['networkInterfaces']>[number]) => {
      const at = report.findIndex((r) => r.sourceName === entry.sourceName);
      if (at >= 0) report[at] = entry;
      else report.push(entry);
    };
    // A failback reuses the replaced VM's NICs (primary with primary), keeping their names and addresses.
    const reusable = fo.spec.type === 'Test' ? [] : ((extra.replacedVirtualMachine ?? fo.status?.replacedVirtualMachine)?.networkInterfaceIds ?? []);
    let pending = 0;
    for (const [index, nic] of primaryFirst(nics).entries()) {
      const override = vm.spec.networkInterfaces?.find((o) => o.sourceName === nic.name);
      const subnetId = this.subnetFor(fo, mapping, nic.subnetName, override?.targetSubnetName);
      if (!subnetId) return failed('SubnetNotMapped', `no ${fo.spec.type === 'Test' ? 'test ' : ''}subnet is mapped for source subnet ${nic.subnetName ?? '?'} of ${nic.name}`);
      const requested = override?.targetPrivateIpAddress ?? nic.privateIpAddress;
      const reuse = reusable[index] ? await this.reusableNic(reusable[index], subnetId) : undefined;
      if (reuse) {
        const assigned = reuse.ipConfigurations?.[0]?.privateIPAddress;
        record({ sourceName: nic.name, targetSubnetId: subnetId, networkInterfaceId: reuse.id ?? (reusable[index] as string), ...(requested ? { requestedPrivateIpAddress: requested } : {}), ...(assigned ? { privateIpAddress: assigned } : {}) });
        continue;
      }
      const name = names.nic(nic.name);
      const id = `${target.resourceGroupId}/providers/Microsoft.Network/networkInterfaces/${name}`;
      await this.remember(fo, extra, { kind: 'NetworkInterface', id });
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
      record({ sourceName: nic.name, targetSubnetId: subnetId, networkInterfaceId: existing.id ?? id, ...(requested ? { requestedPrivateIpAddress: requested } : {}), ...(assigned ? { privateIpAddress: assigned } : {}) });
    }
    extra.networkInterfaces = report;
    if (pending) return waiting(`creating ${pending} network interface(s)`);
    const changed = report.filter((r) => r.requestedPrivateIpAddress && r.requestedPrivateIpAddress !== r.privateIpAddress);
    const reused = reusable.length ? `; reused ${report.filter((r) => reusable.some((id) => r.networkInterfaceId && sameArmId(id, r.networkInterfaceId))).length} of the replaced VM's` : '';
    if (reused) return done(`${report.length} network interface(s)${reused}${changed.length ? `; ${changed.map((c) => `${c.sourceName} got ${c.privateIpAddress}`).join(', ')}` : ''}`);
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
      if (existing.tags?.[OWNER_TAG] !== this.owner(fo)) {
        return failed('VirtualMachineNameTaken', `a VM named ${names.vm} that this request did not create already exists in ${target.resourceGroup}`);
      }
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
    const report = extra.networkInterfaces ?? fo.status?.networkInterfaces ?? [];
    const nicIds = primaryFirst(vm.status?.sourceNetworkInterfaces ?? []).map(
      (n) => report.find((r) => r.sourceName === n.name)?.networkInterfaceId ?? `${target.resourceGroupId}/providers/Microsoft.Network/networkInterfaces/${names.nic(n.name)}`,
    );
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

  /** A NIC of the replaced VM that can serve again: still there, detached, in the subnet wanted. */
  private async reusableNic(nicId: string, subnetId: string) {
    const id = parseArmId(nicId);
    const nic = await getNic(this.deps.az, id.resourceGroup, id.name);
    const subnet = nic?.ipConfigurations?.[0]?.subnet?.id;
    if (!nic || nic.virtualMachine?.id || !subnet || !sameArmId(subnet, subnetId)) return undefined;
    return nic;
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
      await this.record(fo, this.stepLog(fo), 'Committed', {}, { type: 'Committed', status: 'True', reason: 'Committed', message: 'failover committed' });
      ctx.events.record(fo, 'Normal', 'Committed', 'failover committed');
    }
    if (fo.spec.reprotect && fo.status?.phase === 'Committed' && !isTrue(fo.status.conditions, 'Reprotected')) return this.reprotect(fo, ctx);
  }

  /**
   * Re-protect: the original VM is deallocated for good (its disks become the seed), the reverse network
   * mapping and the reverse ReplicatedVM are created (or adopted), and the request follows the reverse
   * initial sync. Reprotected=True once the VM is protected back to its original region.
   */
  private async reprotect(fo: FailoverRequest, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const namespace = fo.metadata.namespace ?? 'default';
    const vm = await this.deps.vms.get({ namespace, name: fo.spec.replicatedVMName });
    const steps = this.stepLog(fo);
    if (!vm) {
      const message = `ReplicatedVM ${fo.spec.replicatedVMName} no longer exists: re-protect needs it to know the original VM and its network mapping`;
      await this.record(fo, steps, 'Committed', {}, { type: 'Reprotected', status: 'False', reason: 'ReplicatedVMNotFound', message });
      return;
    }
    if (steps.next(REPROTECT_STEPS) === 'DeallocateSourceVirtualMachine' && steps.get('DeallocateSourceVirtualMachine').state === 'Pending') {
      ctx.events.record(fo, 'Normal', 'Reprotecting', `re-protecting ${vm.metadata.name}: replicating back to ${vm.status?.sourceLocation ?? 'the original region'}`);
    }
    const extra: Partial<FailoverRequestStatus> = {};
    const progress = (message: string) => ({ type: 'Reprotected', status: 'False' as const, reason: 'Reprotecting', message });
    const outcome = await this.drive(fo, vm, steps, REPROTECT_STEPS, extra, 'Committed', progress);
    if (outcome.state === 'failed') {
      await this.record(fo, steps, 'Committed', extra, { type: 'Reprotected', status: 'False', reason: outcome.reason, message: outcome.message });
      ctx.events.record(fo, 'Warning', outcome.reason, outcome.message);
      return;
    }
    if (outcome.state === 'waiting') return { requeueAfterMs: outcome.requeueAfterMs };
    const reverse = extra.reverseReplicatedVMName ?? fo.status?.reverseReplicatedVMName;
    const message = `ReplicatedVM ${reverse} protects the VM back to ${vm.status?.sourceLocation ?? 'its original region'}; fail back with a FailoverRequest on it`;
    await this.record(fo, steps, 'Committed', extra, { type: 'Reprotected', status: 'True', reason: 'Reprotected', message });
    ctx.events.record(fo, 'Normal', 'Reprotected', message);
  }

  /** The original VM must not run again beside the failed-over one, and its disks are the seed. */
  private async deallocateSource(vm: ReplicatedVM): Promise<StepOutcome> {
    const { az } = this.deps;
    const id = parseArmId(vm.spec.sourceVirtualMachineId);
    if (!(await getVm(az, id.resourceGroup, id.name))) return done('the original VM no longer exists: the reverse initial sync will copy every disk in full');
    const state = await powerState(az, vm.spec.sourceVirtualMachineId);
    if (state === 'deallocated') return done('original VM deallocated; its disks seed the reverse replication');
    if (state !== 'deallocating') await startDeallocate(az, vm.spec.sourceVirtualMachineId);
    return waiting('deallocating the original VM');
  }

  /** The mapping back (failed-over network to the original one): an existing one, else `<mapping>-reverse`. */
  private async createReverseMapping(fo: FailoverRequest, vm: ReplicatedVM, extra: Partial<FailoverRequestStatus>): Promise<StepOutcome> {
    const namespace = fo.metadata.namespace ?? 'default';
    const forward = await this.deps.mappings.get({ namespace, name: vm.spec.networkMappingRef.name });
    const reverse = forward?.status?.reverse;
    if (!forward || !reverse?.sourceVirtualNetworkId || !reverse.targetVirtualNetworkId || !reverse.targetLocation) {
      return failed('NoReverseNetworkMapping', `NetworkMapping ${vm.spec.networkMappingRef.name} reports no reverse mapping`);
    }
    const existing = (await this.deps.mappings.list(namespace)).items.find((m) => sameArmId(m.spec.sourceVirtualNetworkId, reverse.sourceVirtualNetworkId as string) && m.spec.targetLocation === reverse.targetLocation);
    let mapping = existing;
    if (!mapping) {
      const name = `${forward.metadata.name}-reverse`.slice(0, 253);
      if (await this.deps.mappings.get({ namespace, name })) return failed('ReverseNetworkMappingConflict', `NetworkMapping ${name} exists but does not map ${reverse.sourceVirtualNetworkId}`);
      mapping = await this.deps.mappings.create(namespace, {
        metadata: { name, labels: { [REPROTECT_OF_LABEL]: fo.metadata.name ?? '' } },
        spec: {
          sourceVirtualNetworkId: reverse.sourceVirtualNetworkId,
          targetLocation: reverse.targetLocation,
          targetResourceGroup: parseArmId(reverse.targetVirtualNetworkId).resourceGroup,
          targetVirtualNetworkId: reverse.targetVirtualNetworkId,
          ...(reverse.subnetMappings?.length ? { subnetMappings: reverse.subnetMappings } : {}),
        },
      });
    }
    extra.reverseNetworkMappingName = mapping.metadata.name;
    if (!isTrue(mapping.status?.conditions, 'Ready')) return waiting(`waiting for NetworkMapping ${mapping.metadata.name} to be ready`);
    return done(`NetworkMapping ${mapping.metadata.name}${existing ? ' (existing)' : ''}`);
  }

  /**
   * The ReplicatedVM back to the original region: source the failed-over VM, target the original resource
   * group, placement and size, seeded from the original VM's disks. An existing one for the same VM is used.
   */
  private async createReverseVm(fo: FailoverRequest, vm: ReplicatedVM, extra: Partial<FailoverRequestStatus>): Promise<StepOutcome> {
    const namespace = fo.metadata.namespace ?? 'default';
    const failedOver = fo.status?.targetVirtualMachineId;
    if (!failedOver || !vm.status?.sourceLocation) return failed('NoTargetVM', 'the failed-over VM or the original region was not recorded');
    const mappingName = extra.reverseNetworkMappingName ?? fo.status?.reverseNetworkMappingName;
    if (!mappingName) return failed('NoReverseNetworkMapping', 'the reverse network mapping was not recorded');
    const all = (await this.deps.vms.list(namespace)).items;
    const live = (r: ReplicatedVM) => !r.metadata.deletionTimestamp && r.status?.phase !== 'FailedOver' && r.status?.phase !== 'FailingOver';
    let reverse = all.find((r) => sameArmId(r.spec.sourceVirtualMachineId, failedOver) && live(r));
    if (!reverse) {
      const name = reverseName(vm.metadata.name ?? '', (n) => all.some((r) => r.metadata.name === n));
      if (!name) return failed('ReverseReplicatedVMConflict', `ReplicatedVMs ${vm.metadata.name}-reverse and the like exist but protect other VMs (or are failed over): delete the stale one`);
      const original = await readSourceVm(this.deps.az, vm.spec.sourceVirtualMachineId);
      const seed = original.found && original.supported ? original.vm : undefined;
      reverse = await this.deps.vms.create(namespace, {
        metadata: { name, labels: { [REPROTECT_OF_LABEL]: fo.metadata.name ?? '' } },
        spec: {
          sourceVirtualMachineId: failedOver,
          targetLocation: vm.status.sourceLocation,
          targetResourceGroup: parseArmId(vm.spec.sourceVirtualMachineId).resourceGroup,
          policyRef: vm.spec.policyRef,
          networkMappingRef: { name: mappingName },
          ...(vm.status.sourceVmSize ? { targetVmSize: vm.status.sourceVmSize } : {}),
          ...(seed ? { seedVirtualMachineId: seed.id } : {}),
          ...(seed?.availabilitySetId ? { targetAvailabilitySetId: seed.availabilitySetId } : seed?.zone ? { targetZone: seed.zone as '1' | '2' | '3' } : {}),
          deletionPolicy: vm.spec.deletionPolicy ?? 'Delete',
        },
      });
    }
    extra.reverseReplicatedVMName = reverse.metadata.name;
    return done(`ReplicatedVM ${reverse.metadata.name}${reverse.spec.seedVirtualMachineId ? `, seeded from ${parseArmId(reverse.spec.seedVirtualMachineId).name}` : ''}`);
  }

  private async reverseInitialSync(fo: FailoverRequest, extra: Partial<FailoverRequestStatus>): Promise<StepOutcome> {
    const name = extra.reverseReplicatedVMName ?? fo.status?.reverseReplicatedVMName;
    const reverse = name ? await this.deps.vms.get({ namespace: fo.metadata.namespace ?? 'default', name }) : undefined;
    if (!reverse) return failed('ReverseReplicatedVMGone', `ReplicatedVM ${name ?? '?'} no longer exists`);
    const sync = reverse.status?.initialSync;
    if (reverse.status?.phase === 'Protected' || reverse.status?.lastRecoveryPoint) {
      const matched = sync?.bytesMatched !== undefined ? `; ${sync.bytesMatched} of ${sync.bytesTotal ?? '?'} bytes matched the seed and were not copied` : '';
      return done(`${name} protected${matched}`);
    }
    const stalled = reverse.status?.conditions?.find((c) => c.type === 'Stalled' && c.status === 'True');
    if (stalled) return waiting(`${name} is stalled (${stalled.reason}): ${stalled.message}`, 30_000);
    return waiting(`${name}: ${reverse.status?.phase ?? 'Pending'}, initial sync ${sync?.percent ?? 0}%`, 5_000);
  }

  /**
   * Failback: the original VM (deallocated by re-protect) has the name the failed-back VM takes. Its VM
   * resource is deleted, which detaches and keeps its disks and network interfaces; the NICs are reused
   * (same names, same addresses) and the disks listed in status for the user to delete when satisfied.
   */
  private async replaceSeedVm(fo: FailoverRequest, vm: ReplicatedVM, extra: Partial<FailoverRequestStatus>): Promise<StepOutcome> {
    const { az } = this.deps;
    const seedId = vm.spec.seedVirtualMachineId as string;
    const id = parseArmId(seedId);
    const seed = await getVm(az, id.resourceGroup, id.name);
    if (!seed) return done((extra.replacedVirtualMachine ?? fo.status?.replacedVirtualMachine) ? `${id.name} replaced` : `no VM ${id.name} to replace`);
    if (seed.tags?.[OWNER_TAG] === this.owner(fo)) return done(`${id.name} is this request's VM`);
    if (!(extra.replacedVirtualMachine ?? fo.status?.replacedVirtualMachine)) {
      const nics = [...(seed.networkProfile?.networkInterfaces ?? [])].sort((a, b) => Number(Boolean(b.primary)) - Number(Boolean(a.primary)));
      const disks = [seed.storageProfile?.osDisk?.managedDisk?.id, ...(seed.storageProfile?.dataDisks ?? []).map((d) => d.managedDisk?.id)].filter((d): d is string => Boolean(d));
      extra.replacedVirtualMachine = { id: seed.id ?? seedId, networkInterfaceIds: nics.map((n) => n.id).filter((n): n is string => Boolean(n)), diskIds: disks };
      await this.record(fo, this.stepLog(fo, vm), 'Running', extra);
    }
    const state = await powerState(az, seedId);
    if (state !== 'stopped' && state !== 'deallocated') {
      return failed('ReplacedVirtualMachineRunning', `VM ${id.name} (the original VM, seed of this replication) is ${state ?? 'in an unknown state'}: the failed-back VM takes its name; deallocate it and retry with a new FailoverRequest`);
    }
    await startDelete(az, seedId);
    return waiting(`removing the original VM ${id.name} (its disks and network interfaces are kept)`);
  }

  /** Test cleanup: delete the VM, then its NICs and disks. Returns a requeue while anything remains. */
  private async cleanUp(fo: FailoverRequest, ctx: ReconcileContext): Promise<ReconcileResult | undefined> {
    const resources = fo.status?.targetResources ?? [];
    const order = ['VirtualMachine', 'NetworkInterface', 'Disk'];
    for (const kind of order) {
      let remaining = 0;
      for (const r of resources.filter((x) => x.kind === kind)) if (!(await startDelete(this.deps.az, r.id))) remaining++;
      if (remaining) {
        if (!fo.metadata.deletionTimestamp) await this.record(fo, this.stepLog(fo), 'CleaningUp', {});
        return { requeueAfterMs: POLL_MS };
      }
    }
    ctx.events.record(fo, 'Normal', 'CleanedUp', `removed ${resources.length} test resource(s)`);
    if (!fo.metadata.deletionTimestamp) await this.record(fo, this.stepLog(fo), 'CleanedUp', {}, { type: 'Ready', status: 'True', reason: 'CleanedUp', message: 'every test resource was removed' });
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
    await this.record(fo, this.stepLog(fo), fo.status?.phase === 'Pending' || !fo.status?.phase ? 'Running' : fo.status.phase, extra);
  }

  private async succeed(fo: FailoverRequest, steps: StepLog, vm: ReplicatedVM, ctx: ReconcileContext): Promise<void> {
    const now = new Date();
    const rtoSeconds = Math.round((now.getTime() - new Date(String(fo.metadata.creationTimestamp)).getTime()) / 1000);
    await this.record(fo, steps, 'Succeeded', { completionTime: now.toISOString(), rtoSeconds, rto: formatDuration(rtoSeconds * 1000) }, { type: 'Succeeded', status: 'True', reason: 'Succeeded', message: `${fo.status?.targetVirtualMachineId} is running` });
    ctx.events.record(fo, 'Normal', 'Succeeded', `${vm.metadata.name} is running in ${vm.spec.targetLocation} from ${fo.status?.recoveryPointName} (RTO ${formatDuration(rtoSeconds * 1000)})`);
  }

  private async fail(fo: FailoverRequest, steps: StepLog | undefined, reason: string, message: string, ctx: ReconcileContext, extra: Partial<FailoverRequestStatus> = {}): Promise<void> {
    await this.record(fo, steps ?? this.stepLog(fo), 'Failed', { completionTime: new Date().toISOString(), ...extra }, { type: 'Succeeded', status: 'False', reason, message });
    ctx.events.record(fo, 'Warning', reason, message);
  }

  private async record(fo: FailoverRequest, steps: StepLog, phase: NonNullable<FailoverRequestStatus['phase']>, extra: Partial<FailoverRequestStatus>, outcome?: { type: string; status: 'True' | 'False'; reason: string; message: string }): Promise<void> {
    const generation = fo.metadata.generation;
    let conditions = fo.status?.conditions ?? [];
    const terminal = phase === 'Succeeded' || phase === 'Failed' || phase === 'Committed' || phase === 'CleanedUp';
    if (terminal) {
      conditions = removeCondition(conditions, 'Reconciling');
      const ok = phase !== 'Failed';
      // Re-protect reports in its own condition; Ready speaks of the failover.
      const about = outcome?.type === 'Reprotected' ? undefined : outcome;
      const previous = conditions.find((c) => c.type === 'Ready' && c.reason === phase);
      conditions = setCondition(conditions, { type: 'Ready', status: ok ? 'True' : 'False', reason: about?.reason ?? phase, message: about?.message ?? previous?.message ?? '' }, generation);
      if (!ok) conditions = setCondition(conditions, { type: 'Stalled', status: 'True', reason: outcome?.reason ?? 'Failed', message: outcome?.message ?? '' }, generation);
    } else {
      const current = steps.list().find((s) => s.state === 'Running');
      const message = current ? `${current.name}: ${current.message ?? ''}` : phase;
      conditions = setCondition(conditions, { type: 'Ready', status: 'False', reason: phase, message }, generation);
      conditions = setCondition(conditions, { type: 'Reconciling', status: 'True', reason: phase, message }, generation);
    }
    if (outcome && outcome.type !== 'Ready') conditions = setCondition(conditions, outcome, generation);
    const status = {
      ...statusOwnedBy('operator', fo.status),
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
