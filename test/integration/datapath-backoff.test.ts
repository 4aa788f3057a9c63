// A VM whose source is deleted does not take a healthy VM's share of the ARM budget (issue #17): one
// in-process replica with a tight write budget owns a healthy VM and three VMs whose source VMs were
// deleted. The broken VMs' captures fail (restore point PUT: 404) and back off (src/datapath/backoff.ts):
// they stop counting in the replica's pacing (its stretch is back to 1, VmWorker.broken), and each makes
// at most one attempt per few cycle spacings, so the healthy VM seals points at its interval.
// Before: the broken VMs counted as demand (every cycle stretched 2.7×) and retried every few hundred ms,
// spending the replica's write tokens.
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ReplicatedVM } from '../../src/api/types.ts';
import type { ArmBudgetLimits } from '../../src/azure/arm-budget.ts';
import { buildDatapath, type Datapath } from '../../src/datapath/datapath.ts';
import { createPolicy, createProtectedVm, listRecoveryPoints, replicatedVms, startDatapathSandbox, type DatapathSandbox, type ProtectedVm } from '../support/datapath-sandbox.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';
import { waitForObject } from '../support/wait.ts';

const CYCLE_MS = 2000;
/**
 * An OS disk only: 3 writes per VM-cycle, 1.5/s at CYCLE_MS. The budget refills 2.25 writes/s: the
 * healthy VM fits; four VMs (6/s) would be stretched 2.67×.
 */
const BUDGET: ArmBudgetLimits = { reads: { size: 250, refillPerSecond: 25 }, writes: { size: 6, refillPerSecond: 2.25 }, deletes: { size: 200, refillPerSecond: 10 } };
const BROKEN = ['gone-1', 'gone-2', 'gone-3'];

let sb: DatapathSandbox;
let kc: KubeConfig;
let ns: string;
let healthy: ProtectedVm;
const broken: ProtectedVm[] = [];
let datapath: Datapath;
const stop = new AbortController();
let running: Promise<void> | undefined;

const cycle = (o: ReplicatedVM | undefined) => o?.status?.replication?.cycle ?? 0;

beforeAll(async () => {
  sb = await startDatapathSandbox();
  kc = testKubeConfig();
  ns = await createTestNamespace(kc, 'backoff');
  await createPolicy(kc, ns, 'fast', { recoveryPointInterval: '1m', retention: '1h' });
  const small = { dataDisks: 0, diskBytes: 4 * 1024 * 1024, seedBytes: 256 * 1024 };
  healthy = await createProtectedVm(sb, kc, ns, 'well', small);
  for (const name of BROKEN) {
    const vm = await createProtectedVm(sb, kc, ns, name, small);
    const rg = vm.sourceVmId.split('/')[4]!;
    await sb.c.compute.virtualMachines.beginDeleteAndWait(rg, name, { updateIntervalInMs: 50 });
    broken.push(vm);
  }
  datapath = buildDatapath({
    kubeConfig: kc,
    azure: { ...sb.azure, armBudget: BUDGET },
    identity: 'dp-backoff',
    namespace: ns,
    watchNamespace: ns,
    leaseDurationMs: 3000,
    worker: { cycleIntervalMs: CYCLE_MS, statusIntervalMs: 500, retryMs: 300 },
  });
  running = datapath.run(stop.signal);
  await waitForObject(kc, replicatedVms(kc), { namespace: ns, name: healthy.name }, (o) => cycle(o) >= 1, 'the healthy VM replicating', 60_000);
}, 120_000);

afterAll(async () => {
  stop.abort();
  await running;
  await sb?.close();
});

describe('a VM whose source is deleted', () => {
  it('backs off and leaves the healthy VM its interval and its share of the budget', async () => {
    // The broken VMs failed three times in a row: the replica's pacing leaves them out.
    await vi.waitFor(() => expect(datapath.armBudget.stretch).toBe(1), { timeout: 20_000, interval: 200 });

    sb.arm.stats.reset();
    const from = cycle(await replicatedVms(kc).get({ namespace: ns, name: healthy.name }));
    const started = Date.now();
    const more = 4;
    await waitForObject(kc, replicatedVms(kc), { namespace: ns, name: healthy.name }, (o) => cycle(o) >= from + more, `the healthy VM sealed ${more} more points`, 40_000);
    const windowMs = Date.now() - started;

    const points = (await listRecoveryPoints(kc, ns, healthy.name)).filter((p) => (p.spec.cycle ?? 0) >= from);
    const times = points.map((p) => Date.parse(p.spec.time)).sort((a, b) => a - b);
    const meanGapMs = (times.at(-1)! - times[0]!) / (times.length - 1);
    const attempts = (vm: ProtectedVm) => sb.arm.stats.requests().filter((r) => r.method === 'PUT' && r.path.includes(`/restorePointCollections/${vm.collection.name}/`)).length;
    const brokenAttempts = Object.fromEntries(broken.map((vm) => [vm.name, attempts(vm)]));
    console.log(JSON.stringify({ windowMs, healthyPoints: more, meanGapMs, brokenAttempts, throttledByBudget: datapath.armBudget }));

    // At its interval (not stretched 2.67×), give or take a loaded machine's capture time.
    expect(meanGapMs).toBeLessThan(1.75 * CYCLE_MS);
    // Each broken VM: at most one capture attempt per cycle spacing (in fact one per few), not one every few hundred ms.
    for (const vm of broken) expect(attempts(vm), `${vm.name}: capture attempts in ${windowMs} ms`).toBeLessThanOrEqual(Math.ceil(windowMs / CYCLE_MS));
  }, 60_000);
});
