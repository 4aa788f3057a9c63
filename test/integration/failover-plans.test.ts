// Recovery plans end to end: the real operator and datapath (in this process, as the chart's service
// accounts) against the real API server and local Azure; two protected VMs in two groups. A Test plan
// failover started and approved through the CLI runs group 2 only after group 1's VM runs and its post Job
// succeeded, holds on a manual approval, and leaves nothing behind once deleted; a failed Job stops the plan
// (onVMFailure Stop) or is recorded and passed (Continue), cleanup removes every member's test VM; plans
// that cannot run are refused; members of one consistency group fail over to one group cycle; a DrillSchedule
// of a plan fails the plan over, verifies every member and cleans up; a Planned plan failover is byte-exact on every VM.
// No kubelet runs here: the test ends each Job by writing its status (test/support/jobs.ts).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSISTENCY_GROUP_LABEL } from '../../src/api/contract.ts';
import type { DrillSchedule, FailoverRequest, RecoveryPlan, RecoveryPlanGroup, RecoveryPoint } from '../../src/api/types.ts';
import { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { RUN_NOW_ANNOTATION } from '../../src/reconcilers/drill-schedule/reconciler.ts';
import { memberFailoverName } from '../../src/reconcilers/failover/plan-members.ts';
import { diskBlob, SOURCE_LOCATION, writeRandom } from '../support/datapath-sandbox.ts';
import { finished, startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import { enforceShippedRoles, nothingRefused } from '../support/shipped-roles.ts';
import { REPO_ROOT } from '../support/helm.ts';
import { endJob, jobNames, readJob } from '../support/jobs.ts';
import { conditionIs } from '../support/operator-fixtures.ts';
import { waitForObject } from '../support/wait.ts';

const DISK_BYTES = 4 * 1024 * 1024;
const MAIN = path.join(REPO_ROOT, 'src', 'cli', 'main.ts');
const RG = { db: 'plans-db', web: 'plans-web' };

let fx: FailoverFixture;
let ns: string;
let failovers: CustomResourceClient<FailoverRequest>;
let plans: CustomResourceClient<RecoveryPlan>;
let kubeconfigFile: string;
let webDiskIds: string[];

const ref = (name: string) => ({ namespace: ns, name });
const cliEnv = () => ({ ...process.env, KUBECONFIG: kubeconfigFile, LOG_LEVEL: 'error' });
const cli = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args, '-n', ns], { encoding: 'utf8', env: cliEnv(), timeout: 60_000 });
/** A command that waits on the operator, which runs in this process: spawned without blocking it. */
function cliWaiting(...args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args, '-n', ns], { env: cliEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (status) => resolve({ status, stderr }));
  });
}
const job = { spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'migrate', image: 'busybox:1.36', command: ['true'] }] } } } };
const dataGroup: RecoveryPlanGroup = { name: 'data', replicatedVMs: ['db'], postActions: [{ name: 'migrate', job }] };
const actionOf = (fo: FailoverRequest | undefined, group: number, action: string) => fo?.status?.groups?.[group]?.actions?.find((a) => a.name === action);
const waitFor = (name: string, until: (o: FailoverRequest | undefined) => boolean, what: string, timeoutMs = 120_000) => waitForObject(fx.kc, failovers, ref(name), until, what, timeoutMs);

/** Every test resource (name with -test-) left in the target resource groups. */
async function testResourcesLeft(): Promise<string[]> {
  const left: string[] = [];
  for (const rg of [`${RG.db}-asr`, `${RG.web}-asr`]) {
    for await (const vm of fx.sb.c.compute.virtualMachines.list(rg)) left.push(vm.id as string);
    for await (const disk of fx.sb.c.compute.disks.listByResourceGroup(rg)) left.push(disk.id as string);
    for await (const nic of fx.sb.c.network.networkInterfaces.list(rg)) left.push(nic.id as string);
  }
  return left.filter((id) => id.includes('-test-'));
}

/** Deletes a Test plan failover and waits until it, its member requests and its Jobs are gone. */
async function deletePlanFailover(name: string, members: string[]): Promise<void> {
  await failovers.delete(ref(name));
  await waitFor(name, (o) => o === undefined, `${name} deleted`);
  for (const vm of members) expect(await failovers.get(ref(memberFailoverName(name, vm))), vm).toBeUndefined();
  expect(await jobNames(fx.kc, ns, `siterecovery.io/plan-failover=${name}`)).toEqual([]);
}

beforeAll(async () => {
  fx = await startFailoverFixture({ principals: true, namespacePrefix: 'plans', rg: RG.db, vmName: 'db', disks: 1, diskBytes: DISK_BYTES });
  enforceShippedRoles(fx.sb);
  ns = fx.ns;
  failovers = fx.failovers;
  plans = new CustomResourceClient<RecoveryPlan>(fx.kc, 'RecoveryPlan');
  const mine = fx.kc;
  kubeconfigFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'plans-kubeconfig-')), 'config');
  fs.writeFileSync(kubeconfigFile, mine.exportConfig());
  await fx.runInProcess('dp-plans');
  await Promise.all([fx.protect(1), fx.protectVm({ rg: RG.web, name: 'web', location: SOURCE_LOCATION, disks: 1 }, 1).then((w) => (webDiskIds = w.diskIds))]);
  await plans.create(ns, { metadata: { name: 'shop' }, spec: { onVMFailure: 'Stop', groups: [dataGroup, { name: 'web', replicatedVMs: ['web'], preActions: [{ name: 'ok-from-dba', manualApproval: {} }] }] } });
  await plans.create(ns, { metadata: { name: 'shop-go-on' }, spec: { onVMFailure: 'Continue', groups: [dataGroup, { name: 'web', replicatedVMs: ['web'] }] } });
}, 300_000);

afterAll(async () => {
  await fx?.close();
  if (kubeconfigFile) fs.rmSync(path.dirname(kubeconfigFile), { recursive: true, force: true });
});

describe('recovery plans', () => {
  it('reports whether its members exist and are protected', async () => {
    const plan = await waitForObject(fx.kc, plans, ref('shop'), conditionIs('Ready', 'True'), 'plan ready');
    expect(plan?.status).toMatchObject({ groupCount: 2, memberCount: 2, protectedCount: 2, missing: [], notProtected: [] });
  });

  it('Test: group 2 starts after group 1 runs and its post Job succeeded, holds on a manual approval, and deleting it leaves nothing', async () => {
    const created = cli('failover', '--plan', 'shop', '--type', 'Test', '--name', 'drill');
    expect(created.status, created.stderr).toBe(0);
    // Group 1's VM runs, then its post Job is created with the group's VM ids and IPs; group 2 has not started.
    let fo = await waitFor('drill', (o) => actionOf(o, 0, 'migrate')?.phase === 'Running', 'post Job created');
    const db = await failovers.get(ref(memberFailoverName('drill', 'db')));
    expect(db?.status?.phase).toBe('Succeeded');
    const migrate = await readJob(fx.kc, ns, actionOf(fo, 0, 'migrate')?.jobName as string);
    const env = Object.fromEntries((migrate.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ SITE_RECOVERY_PLAN: 'shop', SITE_RECOVERY_FAILOVER: 'drill', SITE_RECOVERY_GROUP: 'data', SITE_RECOVERY_STAGE: 'Post', SITE_RECOVERY_VMS: 'db' });
    expect(env.SITE_RECOVERY_VM_IDS).toBe(db?.status?.targetVirtualMachineId);
    expect(env.SITE_RECOVERY_VM_IPS).toBe(db?.status?.networkInterfaces?.[0]?.privateIpAddress);
    expect(migrate.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'FailoverRequest', name: 'drill', uid: fo?.metadata.uid });
    expect(fo?.status?.groups?.[1]?.phase).toBe('Pending');
    expect(await failovers.get(ref(memberFailoverName('drill', 'web')))).toBeUndefined();

    const jobDoneAt = new Date();
    await endJob(fx.kc, ns, migrate.metadata?.name as string, 'Complete');
    await waitFor('drill', (o) => o?.status?.groups?.[1]?.phase === 'WaitingForApproval', 'waiting for approval');
    expect(await failovers.get(ref(memberFailoverName('drill', 'web'))), 'no VM of group 2 before the approval').toBeUndefined();
    const approvedAt = new Date();
    const approved = cli('approve', 'drill', 'ok-from-dba');
    expect(approved.status, approved.stderr).toBe(0);

    fo = await waitFor('drill', finished, 'plan failover done');
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    const [g1, g2] = fo?.status?.groups ?? [];
    expect([g1?.phase, g2?.phase]).toEqual(['Succeeded', 'Succeeded']);
    const t = (iso: string | undefined) => new Date(iso as string).getTime();
    expect(t(g2?.startedAt)).toBeGreaterThanOrEqual(t(db?.status?.completionTime));
    expect(t(g2?.startedAt)).toBeGreaterThanOrEqual(jobDoneAt.getTime());
    expect(t(g2?.startedAt)).toBeGreaterThanOrEqual(t(g1?.completedAt));
    const web = await failovers.get(ref(memberFailoverName('drill', 'web')));
    expect(t(web?.metadata.creationTimestamp as unknown as string)).toBeGreaterThanOrEqual(Math.floor(approvedAt.getTime() / 1000) * 1000);
    expect(fo?.status?.members?.map((m) => [m.replicatedVMName, m.group, m.phase, Boolean(m.targetVirtualMachineId), Boolean(m.recoveryPoint)])).toEqual([
      ['db', 'data', 'Succeeded', true, true],
      ['web', 'web', 'Succeeded', true, true],
    ]);
    expect(await testResourcesLeft()).not.toEqual([]);

    await deletePlanFailover('drill', ['db', 'web']);
    expect(await testResourcesLeft()).toEqual([]);
  });

  it('a failed post Job stops the plan with onVMFailure Stop, and is recorded and passed with Continue', async () => {
    await failovers.create(ns, { metadata: { name: 'stop' }, spec: { recoveryPlanName: 'shop', type: 'Test' } });
    await failovers.create(ns, { metadata: { name: 'go-on' }, spec: { recoveryPlanName: 'shop-go-on', type: 'Test' } });
    for (const name of ['stop', 'go-on']) {
      const fo = await waitFor(name, (o) => actionOf(o, 0, 'migrate')?.phase === 'Running', `${name}: post Job created`);
      await endJob(fx.kc, ns, actionOf(fo, 0, 'migrate')?.jobName as string, 'Failed');
    }
    const stopped = await waitFor('stop', finished, 'stopped plan');
    expect(stopped?.status?.phase).toBe('Failed');
    const condition = stopped?.status?.conditions?.find((c) => c.type === 'Succeeded');
    expect(condition).toMatchObject({ status: 'False', reason: 'PlanStopped' });
    expect(condition?.message).toContain('action migrate failed');
    expect(stopped?.status?.groups?.map((g) => g.phase)).toEqual(['Failed', 'Pending']);
    expect(await failovers.get(ref(memberFailoverName('stop', 'web')))).toBeUndefined();

    const goneOn = await waitFor('go-on', finished, 'plan that went on');
    expect(goneOn?.status?.phase).toBe('Succeeded');
    expect(goneOn?.status?.conditions?.find((c) => c.type === 'Succeeded')).toMatchObject({ status: 'True', reason: 'SucceededWithFailures' });
    expect(goneOn?.status?.groups?.map((g) => g.phase)).toEqual(['Failed', 'Succeeded']);
    expect(goneOn?.status?.members?.find((m) => m.replicatedVMName === 'web')?.phase).toBe('Succeeded');

    // cleanup (through the CLI) removes every member's test VM and the Jobs, keeping the request as a record.
    const cleanup = await cliWaiting('cleanup', 'go-on', '--wait', '--timeout', '60s');
    expect(cleanup.status, cleanup.stderr).toBe(0);
    expect((await failovers.get(ref('go-on')))?.status?.phase).toBe('CleanedUp');
    expect(await jobNames(fx.kc, ns, 'siterecovery.io/plan-failover=go-on')).toEqual([]);
    await Promise.all([deletePlanFailover('stop', ['db']), deletePlanFailover('go-on', ['db', 'web'])]);
    expect(await testResourcesLeft()).toEqual([]);
  });

  it('refuses a plan that does not exist, one that names a VM in two groups, and one with no VMs', async () => {
    await plans.create(ns, { metadata: { name: 'twice' }, spec: { groups: [{ name: 'a', replicatedVMs: ['db'] }, { name: 'b', replicatedVMs: ['db'] }] } });
    const stalled = await waitForObject(fx.kc, plans, ref('twice'), conditionIs('Stalled', 'True'), 'invalid plan stalled');
    expect(stalled?.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidRecoveryPlan' });
    await plans.create(ns, { metadata: { name: 'empty' }, spec: { groups: [{ name: 'a', replicatedVMSelector: { matchLabels: { tier: 'none' } } }] } });
    const empty = await waitForObject(fx.kc, plans, ref('empty'), conditionIs('Stalled', 'True'), 'empty plan stalled');
    expect(empty?.status?.conditions?.find((c) => c.type === 'Ready')?.reason).toBe('NoMembers');
    await plans.create(ns, { metadata: { name: 'ghostly' }, spec: { groups: [{ name: 'a', replicatedVMs: ['db', 'ghost'] }] } });
    const ghostly = await waitForObject(fx.kc, plans, ref('ghostly'), conditionIs('Stalled', 'True'), 'plan with a missing VM stalled');
    expect(ghostly?.status).toMatchObject({ memberCount: 2, missing: ['ghost'] });
    expect(ghostly?.status?.conditions?.find((c) => c.type === 'Ready')?.reason).toBe('MembersMissing');
    await failovers.create(ns, { metadata: { name: 'of-twice' }, spec: { recoveryPlanName: 'twice', type: 'Test' } });
    await failovers.create(ns, { metadata: { name: 'of-nothing' }, spec: { recoveryPlanName: 'nothing', type: 'Test' } });
    await failovers.create(ns, { metadata: { name: 'of-empty' }, spec: { recoveryPlanName: 'empty', type: 'Test' } });
    const reasons = await Promise.all(['of-twice', 'of-nothing', 'of-empty'].map(async (name) => (await waitFor(name, finished, `${name} refused`))?.status?.conditions?.find((c) => c.type === 'Succeeded')));
    expect(reasons.map((c) => [c?.status, c?.reason])).toEqual([['False', 'InvalidRecoveryPlan'], ['False', 'RecoveryPlanNotFound'], ['False', 'EmptyRecoveryPlan']]);
    expect(reasons[0]?.message).toContain('ReplicatedVM db is named in group a and in group b');
  });

  it('fails the members of a consistency group over to one group cycle, also across plan groups', async () => {
    for (const name of ['db', 'web']) await fx.clients.vms.mergePatch(ref(name), { spec: { consistencyGroup: 'shop' } });
    const points = new CustomResourceClient<RecoveryPoint>(fx.kc, 'RecoveryPoint');
    const cyclesOf = async (vm: string) => (await points.list(ns, `${CONSISTENCY_GROUP_LABEL}=shop`)).items.filter((p) => p.spec.replicatedVMName === vm).map((p) => p.status?.groupCycle);
    const commonCycle = async () => {
      const db = new Set(await cyclesOf('db'));
      return (await cyclesOf('web')).some((c) => c !== undefined && db.has(c));
    };
    await expect.poll(commonCycle, { timeout: 60_000, interval: 500 }).toBe(true);
    // Two plan groups: web starts only after db runs, when newer group cycles are sealed; it keeps db's cycle.
    await plans.create(ns, { metadata: { name: 'together' }, spec: { groups: [{ name: 'data', replicatedVMs: ['db'] }, { name: 'web', replicatedVMs: ['web'] }] } });
    await failovers.create(ns, { metadata: { name: 'together' }, spec: { recoveryPlanName: 'together', type: 'Test' } });
    const fo = await waitFor('together', finished, 'plan failover of a consistency group');
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    const chosen = await Promise.all(
      ['db', 'web'].map(async (vm) => {
        const member = await failovers.get(ref(memberFailoverName('together', vm)));
        const point = await points.get(ref(member?.spec.recoveryPoint as string));
        return { vm: point?.spec.replicatedVMName, cycle: point?.status?.groupCycle, group: point?.metadata.labels?.[CONSISTENCY_GROUP_LABEL] };
      }),
    );
    expect(chosen[0]?.cycle).toBeTypeOf('number');
    expect(chosen).toEqual([{ vm: 'db', cycle: chosen[0]?.cycle, group: 'shop' }, { vm: 'web', cycle: chosen[0]?.cycle, group: 'shop' }]);
    expect(Math.max(...(await cyclesOf('db')).map(Number)), 'newer group cycles were sealed meanwhile').toBeGreaterThanOrEqual(chosen[0]?.cycle as number);
    await deletePlanFailover('together', ['db', 'web']);
    for (const name of ['db', 'web']) await fx.clients.vms.mergePatch(ref(name), { spec: { consistencyGroup: null } });
  });

  it('a DrillSchedule of a plan: one Test plan failover, every member verified by checksums, the probe gets all test VMs, all cleaned up', async () => {
    await plans.create(ns, { metadata: { name: 'shop-drill' }, spec: { groups: [{ name: 'data', replicatedVMs: ['db'] }, { name: 'web', replicatedVMs: ['web'] }] } });
    const schedules = new CustomResourceClient<DrillSchedule>(fx.kc, 'DrillSchedule');
    const probe = { job: { spec: { backoffLimit: 0, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'probe', image: 'busybox', command: ['true'] }] } } } } };
    await schedules.create(ns, { metadata: { name: 'shop-weekly', annotations: { [RUN_NOW_ANNOTATION]: 'first' } }, spec: { schedule: '0 3 * * 0', target: { recoveryPlanName: 'shop-drill' }, probe } });
    const probing = await waitForObject(fx.kc, schedules, ref('shop-weekly'), (o) => Boolean(o?.status?.currentRun?.jobName), 'the plan drill waits for its probe', 120_000);
    const run = probing!.status!.currentRun!;
    expect(run.targetVirtualMachineIds).toHaveLength(2);
    expect(run.verifiedBytes).toBe(2 * DISK_BYTES);
    expect(run.message).toBe(`db: Checksums: os ${DISK_BYTES} bytes equal; web: Checksums: os ${DISK_BYTES} bytes equal`);
    const plan = await failovers.get(ref(run.failoverRequestName!));
    expect(plan?.spec).toMatchObject({ recoveryPlanName: 'shop-drill', type: 'Test' });
    const env = Object.fromEntries((await readJob(fx.kc, ns, run.jobName!)).spec?.template.spec?.containers[0]?.env?.map((e) => [e.name, e.value]) ?? []);
    expect(env.SITE_RECOVERY_TARGET_VM_IDS).toBe(run.targetVirtualMachineIds!.join(','));
    expect(env.SITE_RECOVERY_TARGET_VM_IPS?.split(',')).toHaveLength(2);
    await endJob(fx.kc, ns, run.jobName!, 'Complete');
    const done = await waitForObject(fx.kc, schedules, ref('shop-weekly'), (o) => Boolean(o?.status?.lastRun && !o.status.currentRun), 'the plan drill finished', 120_000);
    expect(done!.status!.lastRun).toMatchObject({ result: 'Passed', verifiedBytes: 2 * DISK_BYTES, targetVirtualMachineIds: run.targetVirtualMachineIds });
    expect((await failovers.list(ns)).items.map((f) => f.metadata.name).filter((n) => n?.startsWith('shop-weekly'))).toEqual([]);
    expect(await testResourcesLeft()).toEqual([]);
    await schedules.delete(ref('shop-weekly'));
  });

  it('Planned: every VM of the plan comes up with disks equal to its source disks', async () => {
    for (const id of [...fx.sourceDiskIds, ...webDiskIds]) await writeRandom(diskBlob(fx.sb, id), 256 * 1024, 1024 * 1024);
    await plans.create(ns, { metadata: { name: 'all' }, spec: { groups: [{ name: 'all', replicatedVMs: ['db', 'web'] }] } });
    await failovers.create(ns, { metadata: { name: 'move' }, spec: { recoveryPlanName: 'all', type: 'Planned' } });
    const fo = await waitFor('move', finished, 'planned plan failover', 180_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    for (const [rg, name, sourceDisks] of [[RG.db, 'db', fx.sourceDiskIds], [RG.web, 'web', webDiskIds]] as const) {
      const targetDisks = await fx.diskIdsOf(`${rg}-asr`, name);
      expect(fo?.status?.members?.find((m) => m.replicatedVMName === name)?.targetVirtualMachineId?.toLowerCase()).toContain(`/resourcegroups/${rg}-asr/`);
      for (const [i, id] of sourceDisks.entries()) expect(await fx.diskHash(targetDisks[i] as string), `${name} disk ${i}`).toBe(await fx.diskHash(id));
    }
  });
});

// Beyond azure-roles.test.ts's scenario: the plan's scheduled drill verifies through snapshots.
nothingRefused(() => fx.sb, {
  operator: ['Microsoft.Compute/snapshots/beginGetAccess/action', 'Microsoft.Compute/snapshots/delete', 'Microsoft.Compute/snapshots/endGetAccess/action', 'Microsoft.Compute/snapshots/write'],
});
