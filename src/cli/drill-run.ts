/**
 * A DR drill end to end against any cluster running the operator (KUBECONFIG) and its Azure (the process's
 * Azure environment): create a FailoverRequest, follow it by watch, verify every failed-over disk byte for
 * byte (sha256) — against the recovery point's replica snapshot for a Test failover, against the source
 * disk for a Planned one — then clean up (Test: delete the request and wait until what it created is
 * gone) and return a report with RPO, RTO, bytes verified and pass/fail.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { FailoverRequest, RecoveryPoint, ReplicatedVM } from '../api/types.ts';
import { AzureClients, type AzureConfig } from '../azure/clients.ts';
import { parseArmId } from '../azure/arm-id.ts';
import { CustomResourceClient } from '../kube/custom-resources.ts';
import { WaitError, waitForObject } from '../kube/wait-for-object.ts';
import { DrillDiskReader, errorText } from './drill-verify.ts';

export type DrillType = 'Test' | 'Planned';

export interface DrillOptions {
  kubeConfig: KubeConfig;
  azure: AzureConfig;
  namespace: string;
  vmName: string;
  type: DrillType;
  /** LatestProcessed, Latest, LatestAppConsistent or a RecoveryPoint name; default: the operator's. */
  recoveryPoint?: string;
  /** Limit for each wait (Protected, failover, cleanup). */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Progress lines for a person. */
  progress?: (line: string) => void;
}

interface DrillDiskResult {
  /** os, lun0, ... */
  name: string;
  sizeBytes: number;
  targetDiskId?: string;
  /** What the failed-over disk must equal. */
  expected: { kind: 'RecoveryPointSnapshot' | 'SourceDisk'; ref: string; sha256?: string };
  sha256?: string;
  pass: boolean;
  error?: string;
}

export interface DrillReport {
  vm: string;
  namespace: string;
  type: DrillType;
  pass: boolean;
  failoverRequest?: string;
  /** Final phase of the FailoverRequest (Succeeded, Failed). */
  phase?: string;
  reason?: string;
  message?: string;
  requestTime?: string;
  recoveryPoint?: { name: string; time: string; consistency?: string };
  /** Data a real failover at the request time would have lost: request time − point capture time. */
  rpoSeconds?: number;
  /** Request → target VM running (from the FailoverRequest). */
  rtoSeconds?: number;
  targetVirtualMachineId?: string;
  disks: DrillDiskResult[];
  bytesVerified: number;
  verifySeconds?: number;
  cleanup: { state: 'Done' | 'Failed' | 'Skipped'; seconds?: number; resourcesRemoved?: number; message?: string };
  error?: string;
  durationSeconds: number;
}

class DrillFailure extends Error {}

export async function runDrill(o: DrillOptions): Promise<DrillReport> {
  const started = Date.now();
  const say = o.progress ?? (() => undefined);
  const vms = new CustomResourceClient<ReplicatedVM>(o.kubeConfig, 'ReplicatedVM');
  const failovers = new CustomResourceClient<FailoverRequest>(o.kubeConfig, 'FailoverRequest');
  const points = new CustomResourceClient<RecoveryPoint>(o.kubeConfig, 'RecoveryPoint');
  const az = new AzureClients(o.azure);
  const vmRef = { namespace: o.namespace, name: o.vmName };
  const report: DrillReport = { vm: o.vmName, namespace: o.namespace, type: o.type, pass: false, disks: [], bytesVerified: 0, cleanup: { state: 'Skipped' }, durationSeconds: 0 };
  let fo: FailoverRequest | undefined;

  try {
    // 1. A protected VM (wait for it when the initial sync is still running).
    let vm = await vms.get(vmRef);
    if (!vm) throw new DrillFailure(`ReplicatedVM ${o.namespace}/${o.vmName} does not exist`);
    if (vm.status?.phase !== 'Protected') {
      say(`waiting for ${o.vmName} to be Protected (now ${vm.status?.phase ?? 'Pending'}${vm.status?.initialSync?.percentText ? `, initial sync ${vm.status.initialSync.percentText}` : ''})`);
      vm = await waitForObject(o.kubeConfig, vms, vmRef, (v) => v === undefined || ['Protected', 'FailedOver', 'Error'].includes(v.status?.phase ?? ''), { what: `${o.vmName} Protected`, timeoutMs: o.timeoutMs, signal: o.signal });
      if (vm?.status?.phase !== 'Protected') throw new DrillFailure(`ReplicatedVM ${o.vmName} is ${vm ? vm.status?.phase : 'gone'}, not Protected`);
    }

    // 2. The failover.
    const created = await failovers.create(o.namespace, {
      metadata: { generateName: `${o.vmName}-drill-`, labels: { 'siterecovery.io/drill': 'true' } },
      spec: { replicatedVMName: o.vmName, type: o.type, ...(o.recoveryPoint ? { recoveryPoint: o.recoveryPoint } : {}) },
    });
    fo = created;
    const foRef = { namespace: o.namespace, name: created.metadata.name as string };
    report.failoverRequest = foRef.name;
    report.requestTime = new Date(String(created.metadata.creationTimestamp)).toISOString();
    say(`${o.type} failover ${foRef.name} requested at ${clock(report.requestTime)}`);
    const seen = new Map<string, string>();
    const final = await waitForObject(o.kubeConfig, failovers, foRef, (f) => f === undefined || f.status?.phase === 'Succeeded' || f.status?.phase === 'Failed', {
      what: `failover ${foRef.name}`,
      timeoutMs: o.timeoutMs,
      signal: o.signal,
      onUpdate: (f) => {
        if (f) fo = f;
        for (const step of f?.status?.steps ?? []) {
          const line = `${step.state}${step.message ? `: ${step.message}` : ''}`;
          if (step.state === 'Pending' || seen.get(step.name) === line) continue;
          seen.set(step.name, line);
          say(`  ${step.name.padEnd(24)} ${line}`);
        }
      },
    });
    if (!final) throw new DrillFailure(`FailoverRequest ${foRef.name} was deleted while running`);
    fo = final;
    const status = final.status ?? {};
    const outcome = status.conditions?.find((c) => c.type === 'Succeeded');
    report.phase = status.phase;
    report.reason = outcome?.reason;
    report.message = outcome?.message;
    report.rtoSeconds = status.rtoSeconds;
    report.targetVirtualMachineId = status.targetVirtualMachineId;
    if (status.recoveryPointName) {
      const time = status.recoveryPointTime;
      const point = await points.get({ namespace: o.namespace, name: status.recoveryPointName });
      const pointTime = time ?? point?.spec.time;
      if (pointTime) {
        report.recoveryPoint = { name: status.recoveryPointName, time: pointTime, ...(point ? { consistency: point.spec.consistency } : {}) };
        report.rpoSeconds = Math.max(0, Math.round((Date.parse(report.requestTime) - Date.parse(pointTime)) / 1000));
      }
      if (status.phase === 'Succeeded') {
        if (!point) throw new DrillFailure(`RecoveryPoint ${status.recoveryPointName} is gone: nothing to verify against`);
        await verify(o, az, final, point, vm, report, say);
      }
    }
    if (status.phase !== 'Succeeded') throw new DrillFailure(`failover ${status.phase}: ${outcome?.reason ?? ''} ${outcome?.message ?? ''}`.trim());
  } catch (error) {
    report.error = error instanceof DrillFailure || error instanceof WaitError ? error.message : errorText(error);
  } finally {
    if (fo && o.type === 'Test') report.cleanup = await cleanUp(o, az, failovers, fo, say);
    else if (fo && report.phase === 'Succeeded') report.cleanup = { state: 'Skipped', message: `a ${o.type} failover is not undone: commit it (spec.commit: true), then re-protect` };
  }
  report.pass = !report.error && report.phase === 'Succeeded' && report.disks.length > 0 && report.disks.every((d) => d.pass) && report.cleanup.state !== 'Failed';
  report.durationSeconds = Math.round((Date.now() - started) / 100) / 10;
  return ordered(report);
}

/** The report with its fields in reading order (JSON keeps insertion order). */
function ordered(r: DrillReport): DrillReport {
  const { vm, namespace, type, pass, failoverRequest, phase, reason, message, requestTime, recoveryPoint, rpoSeconds, rtoSeconds, targetVirtualMachineId, bytesVerified, verifySeconds, disks, cleanup, error, durationSeconds } = r;
  const out = { vm, namespace, type, pass, failoverRequest, phase, reason, message, requestTime, recoveryPoint, rpoSeconds, rtoSeconds, targetVirtualMachineId, bytesVerified, verifySeconds, disks: disks.map((d) => ({ name: d.name, pass: d.pass, sizeBytes: d.sizeBytes, sha256: d.sha256, expected: d.expected, targetDiskId: d.targetDiskId, error: d.error })), cleanup, error, durationSeconds };
  return JSON.parse(JSON.stringify(out)) as DrillReport; // drops the undefined fields
}

async function verify(o: DrillOptions, az: AzureClients, fo: FailoverRequest, point: RecoveryPoint, vm: ReplicatedVM, report: DrillReport, say: (l: string) => void): Promise<void> {
  const t0 = Date.now();
  const targetId = fo.status?.targetVirtualMachineId;
  if (!targetId) throw new DrillFailure('the failover reports no target VM');
  const target = parseArmId(targetId);
  const targetVm = await az.compute.virtualMachines.get(target.resourceGroup, target.name, { abortSignal: o.signal });
  const targetDisks = new Map<string, string | undefined>([['os', targetVm.storageProfile?.osDisk?.managedDisk?.id]]);
  for (const d of targetVm.storageProfile?.dataDisks ?? []) targetDisks.set(`lun${d.lun}`, d.managedDisk?.id);
  const reader = new DrillDiskReader(az, o.azure.credential, `${o.namespace}/${fo.metadata.name}`);
  const against = o.type === 'Test' ? 'the recovery point replica snapshot' : 'the source disk';
  say(`verifying ${point.spec.disks.length} disk(s) against ${against} (sha256)`);
  for (const d of point.spec.disks) {
    if (o.signal?.aborted) throw new DrillFailure('interrupted while verifying the disks');
    const sourceDiskId = d.sourceDiskId ?? vm.status?.disks?.find((x) => x.name === d.name)?.sourceDiskId;
    const result: DrillDiskResult = {
      name: d.name,
      sizeBytes: d.sizeBytes,
      expected: o.type === 'Test' ? { kind: 'RecoveryPointSnapshot', ref: `${d.blobUrl}?snapshot=${d.snapshot}` } : { kind: 'SourceDisk', ref: sourceDiskId ?? '' },
      pass: false,
    };
    report.disks.push(result);
    const targetDiskId = targetDisks.get(d.name);
    try {
      if (!targetDiskId) throw new Error(`the target VM has no disk ${d.name}`);
      result.targetDiskId = targetDiskId;
      // Imported disks are rounded up to whole GiB: compare the source's size.
      const actual = reader.hashManagedDisk(targetDiskId, d.sizeBytes, o.signal);
      let expected: Promise<{ sha256: string }>;
      if (o.type === 'Test') expected = reader.hashReplicaSnapshot(d.blobUrl, d.snapshot, d.sizeBytes, o.signal);
      else if (sourceDiskId) expected = reader.hashManagedDisk(sourceDiskId, d.sizeBytes, o.signal);
      else expected = Promise.reject(new Error(`the source disk of ${d.name} is not recorded`));
      const [a, e] = await Promise.allSettled([actual, expected]);
      if (e.status === 'fulfilled') result.expected.sha256 = e.value.sha256;
      if (a.status === 'fulfilled') result.sha256 = a.value.sha256;
      if (a.status === 'rejected') throw a.reason;
      if (e.status === 'rejected') throw e.reason;
      result.pass = result.sha256 === result.expected.sha256;
      if (result.pass) report.bytesVerified += d.sizeBytes;
      else result.error = 'content differs';
    } catch (error) {
      if (o.signal?.aborted) {
        report.disks.pop();
        throw new DrillFailure('interrupted while verifying the disks');
      }
      result.error = errorText(error);
    }
    say(`  ${d.name.padEnd(6)} ${result.pass ? 'pass' : `FAIL (${result.error})`}`);
  }
  report.verifySeconds = Math.round((Date.now() - t0) / 100) / 10;
}

async function cleanUp(o: DrillOptions, az: AzureClients, failovers: CustomResourceClient<FailoverRequest>, fo: FailoverRequest, say: (l: string) => void): Promise<DrillReport['cleanup']> {
  const t0 = Date.now();
  const ref = { namespace: o.namespace, name: fo.metadata.name as string };
  try {
    say(`cleaning up: deleting ${ref.name} (the operator removes the test VM, NICs and disks)`);
    await failovers.delete(ref);
    // Not under o.signal: an interrupted drill still removes what it started.
    await waitForObject(o.kubeConfig, failovers, ref, (f) => f === undefined, { what: `${ref.name} deleted`, timeoutMs: o.timeoutMs });
    // The request is gone only after the operator removed everything it recorded; check with ARM.
    const resources = fo.status?.targetResources ?? [];
    const remaining: string[] = [];
    for (const r of resources) if (await exists(az, r.kind, r.id)) remaining.push(r.id);
    if (remaining.length) return { state: 'Failed', seconds: secondsSince(t0), message: `still present: ${remaining.join(', ')}` };
    say(`  ${resources.length} test resource(s) removed`);
    return { state: 'Done', seconds: secondsSince(t0), resourcesRemoved: resources.length };
  } catch (error) {
    return { state: 'Failed', seconds: secondsSince(t0), message: errorText(error) };
  }
}

async function exists(az: AzureClients, kind: string, id: string): Promise<boolean> {
  const { resourceGroup, name } = parseArmId(id);
  try {
    if (kind === 'VirtualMachine') await az.compute.virtualMachines.get(resourceGroup, name);
    else if (kind === 'Disk') await az.compute.disks.get(resourceGroup, name);
    else if (kind === 'NetworkInterface') await az.network.networkInterfaces.get(resourceGroup, name);
    else return false;
    return true;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return false;
    throw error;
  }
}

const secondsSince = (t0: number) => Math.round((Date.now() - t0) / 100) / 10;
const clock = (iso: string) => new Date(iso).toISOString().slice(11, 19);

