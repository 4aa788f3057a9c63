// DrillSchedule (issue #20, item 1) against the real operator and datapath (in this process, with the chart's
// RBAC), the real API server and local Azure. One schedule, three runs started by the run-now annotation:
// a run whose probe Job completes passes — verified by checksums, RPO/RTO recorded, history and nextRunAt
// written, nothing left behind in Kubernetes or ARM; a run taken up by a restarted operator whose probe Job
// fails is Failed and still cleaned up; a run past its timeout (its probe never finishes) is Failed and
// cleaned up. historyLimit keeps two.
// The probe Job's pods never run here (no kubelet): the test finishes the Job by writing its status
// (test/support/jobs.ts).
import { BatchV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillSchedule } from '../../src/api/types.ts';
import { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { RUN_NOW_ANNOTATION } from '../../src/reconcilers/drill-schedule/reconciler.ts';
import { diskBlob, writeRandom } from '../support/datapath-sandbox.ts';
import { startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import { finishJob } from '../support/jobs.ts';
import { waitForObject } from '../support/wait.ts';

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

/** Starts a run with a new run-now value and waits until it is under way with the given step. */
async function runNow(value: string, step: string): Promise<DrillSchedule> {
  await schedules.mergePatch(ref(), { metadata: { annotations: { [RUN_NOW_ANNOTATION]: value } } });
  return (await waitForObject(fx.kc, schedules, ref(), (o) => o?.status?.runNowHandled === value && o.status.currentRun?.step === step && Boolean(o.status.currentRun.jobName), `run ${value} at ${step}`, 120_000))!;
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
  fx = await startFailoverFixture({ namespacePrefix: 'drillsched', rg, disks: 1, diskBytes: DISK_BYTES });
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
  it('a run started by annotation fails over, verifies by checksums, runs the probe with the test VM in its environment, passes and leaves nothing behind', async () => {
    const running = await runNow('1', 'Probing');
    const run = running.status!.currentRun!;
    expect(run).toMatchObject({ trigger: 'RunNow', failoverRequestName: `${NAME}-${run.id}`, verifiedBytes: DISK_BYTES });
    expect(run.message).toBe(`Checksums: os ${DISK_BYTES} bytes equal`);
    const job = await fx.kc.makeApiClient(BatchV1Api).readNamespacedJob({ namespace: fx.ns, name: run.jobName! });
    const env = Object.fromEntries((job.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    expect(env.SITE_RECOVERY_TARGET_VM_IDS).toBe(run.targetVirtualMachineIds?.join(','));
    expect(env.SITE_RECOVERY_TARGET_VM_IDS).toMatch(new RegExp(`/resourceGroups/${targetRg}/providers/Microsoft.Compute/virtualMachines/`));
    expect(env.SITE_RECOVERY_TARGET_VM_IPS).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(env.SITE_RECOVERY_RECOVERY_POINT).toBe(run.recoveryPointName);
    await finishJob(fx.kc, fx.ns, run.jobName!, 'Complete');

    const done = await finished('1');
    const last = done.status!.lastRun!;
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
    const run = (await runNow('2', 'Probing')).status!.currentRun!;
    // The run's state is in status: a new operator process takes it up where the old one left it.
    await fx.stopInProcess();
    await fx.runInProcess('dp-drillsched-2');
    await finishJob(fx.kc, fx.ns, run.jobName!, 'Failed', 'the application did not answer');
    const done = await finished('2');
    expect(done.status!.lastRun).toMatchObject({ id: run.id, result: 'Failed' });
    expect(done.status!.lastRun!.message).toContain(`probe Job ${run.jobName} failed (BackoffLimitExceeded): the application did not answer`);
    expect(done.status!.history!.map((h) => h.result)).toEqual(['Failed', 'Passed']);
    await expectNothingLeft();
  }, 300_000);

  it('a run past its timeout is Failed and cleaned up; history keeps historyLimit runs', async () => {
    const run = (await runNow('3', 'Probing')).status!.currentRun!;
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
