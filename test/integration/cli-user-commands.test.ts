// The user commands through the real binary against the real API server (no operator runs: the test plays
// the operator's and the datapath's part by writing status): the namespace comes from the kubeconfig
// context, failover/commit/cleanup/reprotect write the FailoverRequest, --wait follows it to the end with
// the exit code of its outcome, sync-now waits for the datapath's answer, status and points print tables,
// and every refusal is one line with its exit code.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CoordinationV1Api, V1MicroTime, type KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATAPATH_FIELD_MANAGER, OPERATOR_FIELD_MANAGER, SYNC_NOW_ANNOTATION } from '../../src/api/contract.ts';
import { RESOURCES, type FailoverRequest, type RecoveryPoint, type ReplicatedVM } from '../../src/api/types.ts';
import { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { REPO_ROOT } from '../support/helm.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';
import { waitForObject } from '../support/wait.ts';

const MAIN = path.join(REPO_ROOT, 'src', 'cli', 'main.ts');
const KINDS = Object.keys(RESOURCES).length;
const example = <T>(file: string) => parse(fs.readFileSync(path.join(REPO_ROOT, 'deploy/examples', file), 'utf8')) as T;

let kc: KubeConfig;
let ns: string;
let kubeconfigFile: string;
let vms: CustomResourceClient<ReplicatedVM>;
let failovers: CustomResourceClient<FailoverRequest>;
let points: CustomResourceClient<RecoveryPoint>;

const env = () => ({ ...process.env, KUBECONFIG: kubeconfigFile, SITE_RECOVERY_NAMESPACE: '', LOG_LEVEL: 'error' });
const cli = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: env(), timeout: 60_000 });

/** Runs a command that waits; resolves with its exit code and output once it ends. */
function cliWaiting(...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

beforeAll(async () => {
  kc = testKubeConfig();
  ns = await createTestNamespace(kc, 'cli');
  // A kubeconfig whose context names the namespace: the commands get no -n.
  const mine = testKubeConfig();
  const context = mine.getContextObject(mine.getCurrentContext());
  mine.contexts = mine.contexts.map((c) => (c.name === context?.name ? { ...c, namespace: ns } : c));
  kubeconfigFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cli-kubeconfig-')), 'config');
  fs.writeFileSync(kubeconfigFile, mine.exportConfig());
  vms = new CustomResourceClient<ReplicatedVM>(kc, 'ReplicatedVM');
  failovers = new CustomResourceClient<FailoverRequest>(kc, 'FailoverRequest');
  points = new CustomResourceClient<RecoveryPoint>(kc, 'RecoveryPoint');
  const vm = example<ReplicatedVM>('replicatedvm.yaml');
  await vms.create(ns, { metadata: { name: 'app' }, spec: vm.spec });
  await vms.applyStatus({ namespace: ns, name: 'app' }, { phase: 'Protected', health: 'Normal', lastRecoveryPoint: { name: 'app-000001', time: new Date(Date.now() - 90_000).toISOString(), consistency: 'CrashConsistent' } }, DATAPATH_FIELD_MANAGER);
  const point = example<RecoveryPoint>('recoverypoint.yaml');
  await points.create(ns, { metadata: { name: 'app-000001', labels: { 'siterecovery.io/replicated-vm': 'app' } }, spec: { ...point.spec, replicatedVMName: 'app' } });
});

afterAll(() => {
  if (kubeconfigFile) fs.rmSync(path.dirname(kubeconfigFile), { recursive: true, force: true });
});

describe('status and points', () => {
  it('prints the protected VMs of the context namespace as a table', () => {
    const out = cli('status');
    expect(out.status, out.stderr).toBe(0);
    const [header, row] = out.stdout.trim().split('\n');
    expect(header).toMatch(/^NAME\s+PHASE\s+INITIAL-SYNC\s+RPO\s+HEALTH\s+LAST-POINT\s+POINT-TIME$/);
    // The RPO is the age of the point's time (status carries the time, not the age).
    expect(row).toMatch(/^app\s+Protected\s+-\s+1m\d\ds\s+Normal\s+app-000001\s+\d{4}-\d\d-\d\dT/);
  });

  it("lists a VM's recovery points, and names a VM that does not exist in one line", () => {
    const out = cli('points', 'app');
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^NAME\s+TIME\s+CONSISTENCY\s+DISKS\napp-000001\s+\S+\s+CrashConsistent\s+\d+\n$/);
    const missing = cli('points', 'nope');
    expect(missing.status).toBe(1);
    expect(missing.stderr.trim()).toBe(`site-recovery: ReplicatedVM nope not found in namespace ${ns}`);
  });
});

describe('failover, cleanup, commit and reprotect', () => {
  it('creates a Test failover request and cleans it up; a Test failover is not committed', async () => {
    const out = cli('failover', 'app', '--type', 'Test', '--name', 'drill-1', '--point', 'app-000001');
    expect(out.status, out.stderr).toBe(0);
    expect((await failovers.get({ namespace: ns, name: 'drill-1' }))?.spec).toMatchObject({ replicatedVMName: 'app', type: 'Test', recoveryPoint: 'app-000001' });
    const commit = cli('commit', 'drill-1');
    expect(commit.status).toBe(1);
    expect(commit.stderr.trim()).toBe('site-recovery: drill-1 is a Test failover: it is cleaned up, not committed');
    expect(cli('cleanup', 'drill-1').status).toBe(0);
    expect((await failovers.get({ namespace: ns, name: 'drill-1' }))?.spec.cleanup).toBe(true);
  });

  it('refuses a failover without a type in one line with exit code 2', () => {
    const out = cli('failover', 'app');
    expect(out.status).toBe(2);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toMatch(/--type <type>/);
  });

  it('waits for a Planned failover to succeed, then commit and re-protect follow it', async () => {
    const waiting = cliWaiting('failover', 'app', '--type', 'Planned', '--name', 'move', '--wait', '--timeout', '60s');
    const ref = { namespace: ns, name: 'move' };
    await waitForObject(kc, failovers, ref, (o) => o !== undefined, 'request created');
    const early = cli('reprotect', 'move');
    expect(early.status).toBe(1);
    expect(early.stderr.trim()).toBe('site-recovery: move is Pending: commit it first (site-recovery commit move)');
    await failovers.applyStatus(ref, { phase: 'Succeeded', targetVirtualMachineId: '/subscriptions/s/resourceGroups/app-rg-asr/providers/Microsoft.Compute/virtualMachines/app-vm-1' }, OPERATOR_FIELD_MANAGER);
    const done = await waiting;
    expect(done.status, done.stderr).toBe(0);
    expect(done.stdout).toContain('FailoverRequest move: Succeeded');

    const committing = cliWaiting('commit', 'move', '--wait', '--timeout', '60s');
    await waitForObject(kc, failovers, ref, (o) => o?.spec.commit === true, 'commit requested');
    await failovers.applyStatus(ref, { phase: 'Committed' }, OPERATOR_FIELD_MANAGER);
    expect((await committing).status).toBe(0);
    expect(cli('reprotect', 'move').status).toBe(0);
    expect((await failovers.get(ref))?.spec.reprotect).toBe(true);
  });

  it('exits 1 when the followed failover fails, with its reason', async () => {
    const waiting = cliWaiting('failover', 'app', '--type', 'Unplanned', '--name', 'doomed', '--wait', '--timeout', '60s');
    const ref = { namespace: ns, name: 'doomed' };
    await waitForObject(kc, failovers, ref, (o) => o !== undefined, 'request created');
    const failed = { type: 'Succeeded', status: 'False', reason: 'ConcurrentFailover', message: 'one real failover at a time', lastTransitionTime: new Date().toISOString() };
    await failovers.applyStatus(ref, { phase: 'Failed', conditions: [failed] }, OPERATOR_FIELD_MANAGER);
    const done = await waiting;
    expect(done.status).toBe(1);
    expect(done.stdout).toContain('FailoverRequest doomed: Failed (ConcurrentFailover: one real failover at a time)');
  });
});

describe('sync-now', () => {
  it('annotates the VM and waits for the datapath to seal the point', async () => {
    const waiting = cliWaiting('sync-now', 'app', '--wait', '--timeout', '60s');
    const ref = { namespace: ns, name: 'app' };
    const asked = await waitForObject(kc, vms, ref, (o) => Boolean(o?.metadata.annotations?.[SYNC_NOW_ANNOTATION]), 'sync-now annotation');
    const token = asked?.metadata.annotations?.[SYNC_NOW_ANNOTATION] as string;
    await vms.applyStatus(ref, { replication: { syncNow: { token, state: 'Succeeded', recoveryPointName: 'app-000002' } } }, DATAPATH_FIELD_MANAGER);
    const done = await waiting;
    expect(done.status, done.stderr).toBe(0);
    expect(done.stdout).toContain('sealed app-000002');
  });
});

describe('check (the helm test hook)', () => {
  const leases = () => kc.makeApiClient(CoordinationV1Api);
  const lease = (renewedAgoMs: number) => ({
    metadata: { name: 'site-recovery-operator', namespace: ns },
    spec: { holderIdentity: 'operator-0', leaseDurationSeconds: 15, renewTime: new V1MicroTime(Date.now() - renewedAgoMs) },
  });

  it('fails with one line while no operator replica leads', () => {
    const r = cli('check', '--lease-namespace', ns);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toMatch(new RegExp(`^site-recovery: Lease ${ns}/site-recovery-operator: .*not found`, 'i'));
    // An operator run without leader election has no Lease: --no-lease checks the CRDs only.
    const crdsOnly = cli('check', '--lease-namespace', ns, '--no-lease');
    expect([crdsOnly.status, crdsOnly.stdout]).toEqual([0, `ok: ${KINDS} siterecovery.io kinds served\n`]);
  });

  it('fails when the Lease holder stopped renewing, and passes while it renews', async () => {
    await leases().createNamespacedLease({ namespace: ns, body: lease(60_000) });
    const stale = cli('check', '--lease-namespace', ns);
    expect(stale.status).toBe(1);
    expect(stale.stderr.trim()).toMatch(/held by operator-0 was last renewed 6\ds ago \(duration 15s\): its holder is gone$/);

    await leases().replaceNamespacedLease({ namespace: ns, name: 'site-recovery-operator', body: { ...lease(1_000), metadata: { ...(await leases().readNamespacedLease({ namespace: ns, name: 'site-recovery-operator' })).metadata } } });
    const ok = cli('check', '--lease-namespace', ns);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toBe(`ok: ${KINDS} siterecovery.io kinds served; an operator replica leads (Lease ${ns}/site-recovery-operator)\n`);
    expect(ok.status).toBe(0);
  });
});
