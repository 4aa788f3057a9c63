// DrillSchedule (issue #20, item 1) against the real operator and datapath (in this process, with the chart's
// RBAC), the real API server and local Azure. One schedule, three runs started by the run-now annotation:
// a run started by `site-recovery drill --schedule NAME --wait` (the real binary) whose probe Job completes
// passes — verified by checksums, RPO/RTO recorded, history and nextRunAt
// written, nothing left behind in Kubernetes or ARM; a run taken up by a restarted operator whose probe Job
// fails is Failed and still cleaned up; a run past its timeout (its probe never finishes) is Failed and
// cleaned up. historyLimit keeps two.
// In the same file, to share its protected VM: readiness CapacityAtRisk (item 3) turns True when the
// failover size is no longer offered in the target region, and when the vCPU quota has no room, and False
// again when both are back, at the drift-check cadence.
// All of it under Azure RBAC enforcement (the ARM emulator's and the storage front's): the operator and the
// datapath hold exactly the shipped roles; nothing is refused, and the verification uses the operator's data actions.
// The probe Job's pods never run here (no kubelet): the test finishes the Job by writing its status
// (test/support/jobs.ts).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BatchV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillRun, DrillSchedule } from '../../src/api/types.ts';
import { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { RUN_NOW_ANNOTATION } from '../../src/reconcilers/drill-schedule/reconciler.ts';
import { diskBlob, writeRandom } from '../support/datapath-sandbox.ts';
import { startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import { sandboxRbac } from '../../sandbox/src/azure-roles.ts';
import { SANDBOX_PRINCIPALS } from '../../sandbox/src/storage/token.ts';
import { REPO_ROOT } from '../support/helm.ts';
import { endJob } from '../support/jobs.ts';
import { testKubeConfig } from '../support/kube.ts';
import { waitForObject } from '../support/wait.ts';
import { waitForEvents } from '../support/events.ts';

const MiB = 1024 * 1024;
const DISK_BYTES = 8 * MiB;
const rg = 'drillsched-src';
const targetRg = `${rg}-asr`;
const NAME = 'app-weekly';

let fx: FailoverFixture;
let schedules: CustomResourceClient<DrillSchedule>;
let before: string[];

/** The test resources in ARM: VMs, disks, NICs and snapshots of this file's resource groups. */
async function armResources(): Promise<string[]> {
  const c = fx.sb.c;
  const ids: string[] = [];
  for (const group of [rg, targetRg]) {
    for await (const r of c.compute.virtualMachines.list(group)) ids.push(r.id!);
    for await (const r of c.compute.disks.listByResourceGroup(group)) ids.push(r.id!);
    for await (const r of c.compute.snapshots.listByResourceGroup(group)) ids.push(r.id!);
    for await (const r of c.network.networkInterfaces.list(group)) ids.push(r.id!);
  }
  return ids.sort();
}

const ref = () => ({ namespace: fx.ns, name: NAME });

/** Starts a run with a new run-now value (unless the CLI set one) and waits until it waits for its probe Job. */
async function runNow(value?: string): Promise<DrillSchedule> {
  if (value) await schedules.mergePatch(ref(), { metadata: { annotations: { [RUN_NOW_ANNOTATION]: value } } });
  const probing = (o: DrillSchedule | undefined) => Boolean(o?.status?.runNowHandled && o.status.runNowHandled === (value ?? o.metadata.annotations?.[RUN_NOW_ANNOTATION]) && o.status.currentRun?.jobName);
  return (await waitForObject(fx.kc, schedules, ref(), probing, `run ${value ?? '(cli)'} waiting for its probe`, 120_000))!;
}

/** `site-recovery drill --schedule NAME --wait --json` through the real binary. */
function cliDrill(): Promise<{ code: number | null; run: DrillRun; output: string }> {
  const kubeconfig = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'drillsched-kubeconfig-')), 'config');
  fs.writeFileSync(kubeconfig, testKubeConfig().exportConfig());
  const env = { ...process.env, KUBECONFIG: kubeconfig, SITE_RECOVERY_NAMESPACE: fx.ns, LOG_LEVEL: 'error' };
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'drill', '--schedule', NAME, '--wait', '--json', '--timeout', '3m'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      fs.rmSync(path.dirname(kubeconfig), { recursive: true, force: true });
      try {
        resolve({ code, run: JSON.parse(stdout) as DrillRun, output: `${stdout}\n${stderr}` });
      } catch (error) {
        reject(new Error(`no JSON run (exit ${code}): ${stdout}\n${stderr}`, { cause: error }));
      }
    });
  });
}

/** Waits until the run `value` started has finished. */
async function finished(value: string): Promise<DrillSchedule> {
  return (await waitForObject(fx.kc, schedules, ref(), (o) => o?.status?.runNowHandled === value && !o.status.currentRun && Boolean(o.status.lastRun), `run ${value} finished`, 120_000))!;
}

/** Nothing of the run is left: no FailoverRequest, no Job, nothing new in ARM. */
async function expectNothingLeft(): Promise<void> {
  expect((await fx.failovers.list(fx.ns)).items.map((f) => f.metadata.name)).toEqual([]);
  expect((await fx.kc.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: fx.ns })).items.map((j) => j.metadata?.name)).toEqual([]);
  expect(await armResources()).toEqual(before);
}

beforeAll(async () => {
  fx = await startFailoverFixture({ namespacePrefix: 'drillsched', rg, disks: 1, diskBytes: DISK_BYTES, principals: true });
  fx.sb.arm.rbac.configure(sandboxRbac(fx.sb.arm.subscriptionId));
  for (const id of fx.sourceDiskIds) await writeRandom(diskBlob(fx.sb, id), 2 * MiB, MiB);
  await fx.runInProcess('dp-drillsched');
  await fx.protect(1);
  schedules = new CustomResourceClient<DrillSchedule>(fx.kc, 'DrillSchedule');
  before = await armResources();
  await schedules.create(fx.ns, {
    metadata: { name: NAME },
    spec: {
      schedule: '0 3 * * 0',
      target: { replicatedVMName: fx.vmName },
      historyLimit: 2,
      probe: { job: { spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'probe', image: 'busybox', command: ['true'] }] } } } } },
    },
  });
}, 300_000);

afterAll(async () => {
  await fx?.close();
});

describe('DrillSchedule', () => {
  it('a run started by `drill --schedule --wait` fails over, verifies by checksums, runs the probe with the test VM in its environment, passes and leaves nothing behind', async () => {
    const cli = cliDrill();
    const running = await runNow();
    const run = running.status!.currentRun!;
    expect(run).toMatchObject({ trigger: 'RunNow', failoverRequestName: `${NAME}-${run.id}`, verifiedBytes: DISK_BYTES });
    expect(run.message).toBe(`Checksums: os ${DISK_BYTES} bytes equal`);
    const job = await fx.kc.makeApiClient(BatchV1Api).readNamespacedJob({ namespace: fx.ns, name: run.jobName! });
    const env = Object.fromEntries((job.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    expect(env.SITE_RECOVERY_TARGET_VM_IDS).toBe(run.targetVirtualMachineIds?.join(','));
    expect(env.SITE_RECOVERY_TARGET_VM_IDS).toMatch(new RegExp(`/resourceGroups/${targetRg}/providers/Microsoft.Compute/virtualMachines/`));
    expect(env.SITE_RECOVERY_TARGET_VM_IPS).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(env.SITE_RECOVERY_RECOVERY_POINT).toBe(run.recoveryPointName);
    await endJob(fx.kc, fx.ns, run.jobName!, 'Complete');

    const { code, run: printed, output } = await cli;
    expect(code, output).toBe(0);
    const done = (await schedules.get(ref()))!;
    const last = done.status!.lastRun!;
    expect(printed).toEqual(last);
    expect(last).toMatchObject({ id: run.id, trigger: 'RunNow', result: 'Passed', verifiedBytes: DISK_BYTES, targetVirtualMachineIds: run.targetVirtualMachineIds });
    expect(last.rpoSeconds).toBeGreaterThanOrEqual(0);
    expect(last.rtoSeconds).toBeGreaterThan(0);
    expect(last.message).toContain(`probe Job ${run.jobName} completed`);
    expect(done.status!.history).toEqual([last]);
    // The next scheduled run: the coming Sunday, 03:00 UTC.
    const next = new Date(done.status!.nextRunAt!);
    expect([next.getUTCDay(), next.getUTCHours(), next.getUTCMinutes()]).toEqual([0, 3, 0]);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    await expectNothingLeft();
  }, 300_000);

  it('a run survives an operator restart; its probe Job fails: Failed, and still cleaned up', async () => {
    const run = (await runNow('2')).status!.currentRun!;
    // The run's state is in status: a new operator process takes it up where the old one left it.
    await fx.stopInProcess();
    await fx.runInProcess('dp-drillsched-2');
    await endJob(fx.kc, fx.ns, run.jobName!, 'Failed', 'the application did not answer');
    const done = await finished('2');
    expect(done.status!.lastRun).toMatchObject({ id: run.id, result: 'Failed' });
    expect(done.status!.lastRun!.message).toContain(`probe Job ${run.jobName} failed (BackoffLimitExceeded): the application did not answer`);
    expect(done.status!.history!.map((h) => h.result)).toEqual(['Failed', 'Passed']);
    await expectNothingLeft();
  }, 300_000);

  it('a run past its timeout is Failed and cleaned up; history keeps historyLimit runs', async () => {
    const run = (await runNow('3')).status!.currentRun!;
    // The probe never finishes; the timeout, shortened now, ends the run.
    await schedules.mergePatch(ref(), { spec: { timeout: '1s' } });
    const done = await finished('3');
    expect(done.status!.lastRun).toMatchObject({ id: run.id, result: 'Failed' });
    expect(done.status!.lastRun!.message).toMatch(/^timed out after 1s while waiting for the probe Job/);
    expect(done.status!.history!.map((h) => h.id)).toEqual([run.id, done.status!.history![1]!.id]);
    expect(done.status!.history!.map((h) => h.result)).toEqual(['Failed', 'Failed']);
    await expectNothingLeft();
  }, 300_000);
});

describe('readiness: CapacityAtRisk', () => {
  const SIZE = 'Standard_D2s_v3';
  const TARGET = 'northeurope';
  const capacity = (reason: string, status: string) => (o: { status?: { conditions?: { type: string; status: string; reason: string }[] } } | undefined) =>
    Boolean(o?.status?.conditions?.some((c) => c.type === 'CapacityAtRisk' && c.status === status && c.reason === reason));
  const vmRef = () => ({ namespace: fx.ns, name: fx.vmName });

  it('is False while the size is offered with quota; True when it is restricted or the quota is full; False again after', async () => {
    expect(capacity('CapacityAvailable', 'False')(await fx.clients.vms.get(vmRef()))).toBe(true);
    // A drift check every ~2 s from here on.
    await fx.stopInProcess();
    await fx.runInProcess('dp-drillsched-3', { resyncMs: 2000 });
    fx.sb.arm.skus.restrict(SIZE, TARGET);
    const restricted = await waitForObject(fx.kc, fx.clients.vms, vmRef(), capacity('SkuNotAvailable', 'True'), 'CapacityAtRisk SkuNotAvailable', 60_000);
    expect(restricted!.status!.conditions!.find((c) => c.type === 'CapacityAtRisk')!.message).toBe(`none of the failover sizes (${SIZE}) is offered in ${TARGET}; add one that is to spec.targetVmSizeFallbacks`);
    await waitForEvents(fx.kc, fx.ns, fx.vmName, 'CapacityAtRisk', 1);
    fx.sb.arm.skus.clear();
    fx.sb.arm.skus.setQuota(TARGET, 'standardDSv3Family', 1);
    const full = await waitForObject(fx.kc, fx.clients.vms, vmRef(), capacity('QuotaExceeded', 'True'), 'CapacityAtRisk QuotaExceeded', 60_000);
    expect(full!.status!.conditions!.find((c) => c.type === 'CapacityAtRisk')!.message).toBe(`no vCPU quota in ${TARGET} for a failover: ${SIZE} needs 2 vCPU(s): 100 left of the regional quota, 1 of standardDSv3Family's`);
    fx.sb.arm.skus.clear();
    await waitForObject(fx.kc, fx.clients.vms, vmRef(), capacity('CapacityAvailable', 'False'), 'CapacityAtRisk False again', 60_000);
  }, 120_000);
});

describe('under the shipped Azure roles', () => {
  it('did all of the above with exactly them, ARM and blob data enforced: nothing refused; the verification used the operator role\'s data actions', () => {
    expect(fx.sb.arm.rbac.denied()).toEqual([]);
    // By checksums: it read the replica snapshot, and wrote and deleted its scratch blobs, as the operator.
    const used = fx.sb.arm.rbac.audit()[SANDBOX_PRINCIPALS.operator];
    expect(used).toEqual(expect.arrayContaining(['read', 'write', 'delete'].map((v) => `Microsoft.Storage/storageAccounts/blobServices/containers/blobs/${v}`)));
  });
});
