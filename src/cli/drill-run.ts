/**
 * A DR drill end to end against any cluster running the operator (KUBECONFIG) and its Azure (the process's
 * Azure environment): create a FailoverRequest, follow it by watch, verify every failed-over disk
 * (drill-verify.ts: by checksums storage computes, by sha256 read here, or not at all) — against the
 * recovery point's replica snapshot for a Test failover, against the source disk for a Planned one — then
 * clean up (Test: delete the request and wait until what it created is gone; also after a failure or an
 * interruption) and return a report with RPO, RTO, bytes verified and pass/fail (drill-report.ts).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { FailoverRequest, RecoveryPoint, ReplicatedVM } from '../api/types.ts';
import { AzureClients, type AzureConfig } from '../azure/clients.ts';
import { parseArmId } from '../azure/arm-id.ts';
import { CustomResourceClient } from '../kube/custom-resources.ts';
import { WaitError, waitForObject } from '../kube/wait-for-object.ts';
import type { VerifyMethod } from '../azure/verify/disk-verifier.ts';
import { errorText, ordered, type DrillReport, type DrillType } from './drill-report.ts';
import { VerifyInterrupted, verifyDrillDisks } from './drill-verify.ts';

export type { DrillReport, DrillType } from './drill-report.ts';

export interface DrillOptions {
  kubeConfig: KubeConfig;
  azure: AzureConfig;
  namespace: string;
  vmName: string;
  type: DrillType;
  /** How the failed-over disks are checked (default Checksums: by storage, no disk byte read here). */
  verify?: VerifyMethod;
  /**
   * Runs once the failover succeeded, before the disks are verified (a probe against the test VM). Its
   * failure fails the drill; cleanup still happens.
   */
  afterFailover?: (fo: FailoverRequest) => Promise<void>;
  /** LatestProcessed, Latest, LatestAppConsistent or a RecoveryPoint name; default: the operator's. */
  recoveryPoint?: string;
  /** Limit for each wait (Protected, failover, cleanup). */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Progress lines for a person. */
  progress?: (line: string) => void;
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
  const method = o.verify ?? 'Checksums';
  const report: DrillReport = { vm: o.vmName, namespace: o.namespace, type: o.type, verify: method, pass: false, disks: [], bytesVerified: 0, bytesRead: 0, cleanup: { state: 'Skipped' }, durationSeconds: 0 };
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
        await o.afterFailover?.(final);
        await verifyDrillDisks({ az, credential: o.azure.credential, type: o.type, method, signal: o.signal, say }, final, point, vm, report);
      }
    }
    if (status.phase !== 'Succeeded') throw new DrillFailure(`failover ${status.phase}: ${outcome?.reason ?? ''} ${outcome?.message ?? ''}`.trim());
  } catch (error) {
    report.error = error instanceof DrillFailure || error instanceof WaitError || error instanceof VerifyInterrupted ? error.message : errorText(error);
  } finally {
    if (fo && o.type === 'Test') report.cleanup = await cleanUp(o, az, failovers, fo, say);
    else if (fo && report.phase === 'Succeeded') report.cleanup = { state: 'Skipped', message: `a ${o.type} failover is not undone: commit it (spec.commit: true), then re-protect` };
  }
  report.pass = !report.error && report.phase === 'Succeeded' && report.disks.length > 0 && report.disks.every((d) => d.pass) && report.cleanup.state !== 'Failed';
  report.durationSeconds = Math.round((Date.now() - started) / 100) / 10;
  return ordered(report);
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

