// Fleet benchmark (issue #17): the operator and the datapath at fleet scale, against Azure's published ARM
// limits. Three parts, each on its own control plane and local Azure (pick with `--parts`):
//
//   operator     N ReplicatedVMs (`--vms`, default 1000) enabled by the operator as its own process
//                (bench/lib/operator-fleet.ts, as bench/operator.ts does), then a steady-state window
//                (`--steady` seconds, default 600) with nothing changing: the operator's peak RSS, the
//                enable rate, and Azure calls and API-server writes per VM per hour at steady state (goal:
//                no Azure call beyond the drift check);
//   datapath     M VMs (`--datapath-vms`, default 200) × 2 small disks replicating at `--interval` (default
//                1m) through one datapath replica as its own process, under the sandbox's ARM throttling
//                (ARM's published buckets, bench/arm-throttling.ts) scaled to the fleet: the buckets refill
//                at `--headroom` (default 2) × what the fleet's cycles need, and the replica is given the
//                same budget. ARM reads, writes and deletes per VM-cycle, throttled responses (goal 0), RPO
//                p50/p99 against the interval, the replica's peak RSS;
//   infeasible   the same fleet with buckets refilled at half what its cycles need: the ReplicationPolicy
//                reports IntervalInfeasible (its controller runs in this process, as in
//                test/integration/arm-budget.test.ts), and every VM's largest RPO over the window is within
//                2× the stretched interval.
// The datapath parts sample every VM's RPO (now − its newest point's time) every `--sample` seconds for
// `--window` seconds (default 10 intervals, 5 stretched intervals for `infeasible`).
//
// Usage: node bench/fleet.ts [--vms=1000] [--steady=600] [--datapath-vms=200] [--interval=1m] [--window=SECONDS]
//        [--headroom=2] [--parts=operator,datapath,infeasible] [--node-options='--max-semi-space-size=1 ...']
//        [--initial-sync-concurrency=N] [--compiled]
//        --node-options: the replica's node arguments (default the chart's datapath.nodeOptions);
//        --initial-sync-concurrency: its limit (default the CLI's);
//        --compiled: the replica runs the compiled JavaScript as the image does (bin/site-recovery.js; `npm run build`
//        first), not the TypeScript sources (type stripping adds about 18 MiB).
//        reduced: --vms=100 --steady=60 --datapath-vms=20 --interval=20s
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import type { ReplicationPolicy } from '../src/api/types.ts';
import { ARM_PUBLISHED_BUCKETS, formatArmBudget, scaleBudget, type ArmBudgetLimits } from '../src/azure/arm-budget.ts';
import { cycleCost } from '../src/azure/cycle-cost.ts';
import { buildOperatorCache } from '../src/controllers/operator-cache.ts';
import { replicationPolicyController } from '../src/controllers/replication-policy.ts';
import { CustomResourceClient } from '../src/kube/custom-resources.ts';
import { KubeEventRecorder } from '../src/runtime/events.ts';
import { Manager } from '../src/runtime/manager.ts';
import { parseDuration } from '../src/util/duration.ts';
import { parse as parseYaml } from 'yaml';
import { startControlPlane, type ControlPlane } from '../sandbox/src/kube/controlplane.ts';
import { createPolicy, createProtectedVm, replicatedVms, startDatapathChild, startDatapathSandbox, type DatapathChild, type DatapathSandbox } from '../test/support/datapath-sandbox.ts';
import { startLocalAzure } from '../test/support/local-azure.ts';
import { crClients } from '../test/support/operator-fixtures.ts';
import { apiServerWrites, writesBetween } from './lib/apiserver-writes.ts';
import { createSourceEstate, enableAll, spawnOperator } from './lib/operator-fleet.ts';
import { peakRss, percentile, rssMiB } from './lib/process-rss.ts';

const { values } = parseArgs({
  options: {
    vms: { type: 'string', default: '1000' },
    groups: { type: 'string', default: '10' },
    workers: { type: 'string', default: '8' },
    steady: { type: 'string', default: '600' },
    'datapath-vms': { type: 'string', default: '200' },
    interval: { type: 'string', default: '1m' },
    window: { type: 'string' },
    sample: { type: 'string', default: '5' },
    headroom: { type: 'string', default: '2' },
    parts: { type: 'string', default: 'operator,datapath,infeasible' },
    'node-options': { type: 'string' },
    'initial-sync-concurrency': { type: 'string' },
    compiled: { type: 'boolean', default: false },
  },
});
const parts = new Set(values.parts.split(','));
const DISKS = 2;
const POLICY_INTERVAL_MS = 60_000;
const intervalMs = parseDuration(values.interval);
const dpVms = Number(values['datapath-vms']);
const round = (n: number, d = 2) => Number(n.toFixed(d));
const MiB = 1024 * 1024;
const result: Record<string, unknown> = {};
/** The datapath's Node options as the chart deploys it (values.yaml, datapath.nodeOptions): the replica runs as it would in a cluster. */
const chartValues = parseYaml(fs.readFileSync(path.join(import.meta.dirname, '..', 'charts', 'site-recovery-operator', 'values.yaml'), 'utf8')) as { datapath: { nodeOptions?: string } };
const DATAPATH_NODE_OPTIONS = values['node-options'] ?? chartValues.datapath.nodeOptions ?? '';

// ------------------------------------------------------------------ operator

async function operatorPart(): Promise<unknown> {
  const vmCount = Number(values.vms);
  const steadySeconds = Number(values.steady);
  const cp = await startControlPlane({});
  const azure = await startLocalAzure({ latency: 0 });
  const clients = crClients(cp.kubeConfig);
  const ns = 'fleet';
  await cp.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  console.error(`operator: creating ${vmCount} source VMs...`);
  const vmIds = await createSourceEstate(azure, clients, ns, vmCount, Number(values.groups));
  const child = spawnOperator(cp, azure, ns, values.workers);
  const rss = peakRss(child.pid);
  azure.arm.stats.reset();
  const start = performance.now();
  await enableAll(cp, clients, ns, vmIds);
  const enableSeconds = (performance.now() - start) / 1000;
  const enableCalls = azure.arm.stats.summary().total;
  const rssAfterEnable = rss.peakMiB;

  console.error(`operator: ${vmIds.length} enabled in ${enableSeconds.toFixed(1)} s; steady state for ${steadySeconds} s...`);
  azure.arm.stats.reset();
  const writesBefore = await apiServerWrites(cp.kubeConfig);
  await new Promise((r) => setTimeout(r, steadySeconds * 1000));
  const writes = writesBetween(writesBefore, await apiServerWrites(cp.kubeConfig));
  const arm = azure.arm.stats.summary();
  rss.stop();
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await azure.stop();
  await cp.stop();
  const perVmHour = (n: number) => round((n / vmIds.length) * (3600 / steadySeconds), 3);
  const writesTotal = Object.values(writes).reduce((a, b) => a + b, 0);
  return {
    vms: vmIds.length,
    enableSeconds: round(enableSeconds, 1),
    vmsPerSecond: round(vmIds.length / enableSeconds),
    armCallsPerVmToEnable: round(enableCalls / vmIds.length, 1),
    peakRssMiB: { afterEnable: round(rssAfterEnable, 1), overall: round(rss.peakMiB, 1) },
    steady: {
      seconds: steadySeconds,
      azureCallsPerVmHour: perVmHour(arm.total),
      azureCallsByOperation: Object.fromEntries(Object.entries(arm.byOperation).map(([op, c]) => [op, c.calls])),
      apiServerWritesPerVmHour: perVmHour(writesTotal),
      apiServerWritesByResource: writes,
    },
  };
}

// ------------------------------------------------------------------ datapath (both budgets)

interface Fleet {
  cp: ControlPlane;
  sb: DatapathSandbox;
  ns: string;
  names: string[];
}

async function startFleet(): Promise<Fleet> {
  const cp = await startControlPlane({});
  const sb = await startDatapathSandbox();
  const ns = 'fleet-dp';
  await cp.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  await createPolicy(cp.kubeConfig, ns, 'fleet', { recoveryPointInterval: '1m', retention: '1h' });
  console.error(`datapath: protecting ${dpVms} VMs × ${DISKS} disks...`);
  const names = Array.from({ length: dpVms }, (_, i) => `dp-${i}`);
  const lanes = 8; // each in its own resource group: its network is created once, not concurrently
  await Promise.all(Array.from({ length: lanes }, async (_, lane) => {
    for (let i = lane; i < names.length; i += lanes) {
      await createProtectedVm(sb, cp.kubeConfig, ns, names[i]!, { dataDisks: DISKS - 1, policy: 'fleet', diskBytes: 8 * MiB, seedBytes: 256 * 1024, resourceGroup: `fleet-src-${lane}` });
    }
  }));
  return { cp, sb, ns, names };
}

/** The whole fleet's ARM demand per second at `intervalMs` (cycle-cost.ts: what one VM-cycle costs). */
function fleetDemand(): ArmBudgetLimits {
  const cost = cycleCost(DISKS);
  const per = (n: number) => ({ size: n * dpVms, refillPerSecond: (n * dpVms * 1000) / intervalMs });
  return { reads: per(cost.reads), writes: per(cost.writes), deletes: per(cost.deletes) };
}

/**
 * Runs a budget: ARM's buckets scaled so that writes (the scarcest kind for a VM-cycle) refill at
 * `ratio` × the fleet's need; the sandbox throttles at that, the replica is given it as its budget, and the
 * policy's controller (in this process) judges the interval against it — on the datapath's time scale
 * (`--interval` stands for the policy's 1m, as in test/integration/arm-budget.test.ts).
 */
async function runBudget(fleet: Fleet, identity: string, ratio: number): Promise<{ child: DatapathChild; scale: number; stopOperator(): Promise<void> }> {
  const scale = (fleetDemand().writes.refillPerSecond * ratio) / ARM_PUBLISHED_BUCKETS.writes.refillPerSecond;
  const budget = scaleBudget(ARM_PUBLISHED_BUCKETS, scale);
  fleet.sb.arm.throttling.configure({ enabled: true, scale });
  const stop = new AbortController();
  const kc = fleet.cp.kubeConfig;
  const cache = buildOperatorCache({ kubeConfig: kc, azure: { ...fleet.sb.azure, armBudget: scaleBudget(budget, intervalMs / POLICY_INTERVAL_MS) }, events: new KubeEventRecorder(kc, 'site-recovery-operator', 'fleet-bench'), namespace: fleet.ns });
  const manager = new Manager({ kubeConfig: kc, identity: `fleet-bench-${identity}` });
  manager.addInformer(cache.informers.policies);
  manager.addInformer(cache.informers.vms);
  manager.addController(replicationPolicyController(cache));
  const running = manager.run(stop.signal);
  const child = startDatapathChild(fleet.sb, fleet.cp.kubeconfigPath, identity, { namespace: fleet.ns, cycleInterval: values.interval, leaseDuration: '15s', extraEnv: { SITE_RECOVERY_ARM_BUDGET: formatArmBudget(budget), LOG_LEVEL: 'warn' }, nodeArgs: DATAPATH_NODE_OPTIONS.split(' ').filter(Boolean), ...(values.compiled ? { entry: 'bin/site-recovery.js' } : {}), extraArgs: values['initial-sync-concurrency'] ? [`--initial-sync-concurrency=${values['initial-sync-concurrency']}`] : [] });
  return {
    child,
    scale,
    async stopOperator() {
      stop.abort();
      await running;
    },
  };
}

const cycleOf = (o: { status?: { replication?: { cycle?: number } } }) => o.status?.replication?.cycle ?? 0;

async function listFleet(fleet: Fleet) {
  return (await replicatedVms(fleet.cp.kubeConfig).list(fleet.ns)).items;
}

/** Waits until every VM sealed a point at least `after` (epoch ms) or fails after `timeoutMs`. */
async function untilAllSealedAfter(fleet: Fleet, after: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const vms = await listFleet(fleet);
    const behind = vms.filter((o) => !(Date.parse(o.status?.lastRecoveryPoint?.time ?? '') >= after)).length;
    if (!behind && vms.length === fleet.names.length) return;
    if (Date.now() > deadline) throw new Error(`${behind} of ${fleet.names.length} VMs sealed no point in time`);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** Samples every VM's RPO for `seconds`; ARM counts and sealed cycles over the same window. */
async function measureWindow(fleet: Fleet, child: DatapathChild, seconds: number) {
  const start = new Map((await listFleet(fleet)).map((o) => [o.metadata.name ?? '', cycleOf(o)]));
  fleet.sb.arm.stats.reset();
  const samples: number[] = [];
  const maxRpo = new Map<string, number>();
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    const now = Date.now();
    for (const o of await listFleet(fleet)) {
      const rpo = (now - Date.parse(o.status?.lastRecoveryPoint?.time ?? '')) / 1000;
      if (!Number.isFinite(rpo)) continue;
      samples.push(rpo);
      maxRpo.set(o.metadata.name ?? '', Math.max(rpo, maxRpo.get(o.metadata.name ?? '') ?? 0));
    }
    await new Promise((r) => setTimeout(r, Number(values.sample) * 1000));
  }
  const arm = fleet.sb.arm.stats.summary();
  const datapath = arm.byClient['site-recovery-datapath'] ?? { reads: 0, writes: 0, deletes: 0, throttled: 0 };
  const cycles = (await listFleet(fleet)).reduce((n, o) => n + cycleOf(o) - (start.get(o.metadata.name ?? '') ?? 0), 0);
  const perCycle = (n: number) => round(n / Math.max(1, cycles));
  return {
    seconds,
    vmCycles: cycles,
    armPerVmCycle: { reads: perCycle(datapath.reads), writes: perCycle(datapath.writes), deletes: perCycle(datapath.deletes) },
    throttled: arm.throttled,
    rpoSeconds: { p50: round(percentile(samples, 50), 1), p99: round(percentile(samples, 99), 1), samples: samples.length },
    maxRpoSeconds: maxRpo,
    replicaPeakRssMiB: round(rssMiB(child.process.pid, 'VmHWM'), 1),
  };
}

async function datapathParts(): Promise<void> {
  const fleet = await startFleet();
  const intervalSeconds = intervalMs / 1000;
  try {
    if (parts.has('datapath')) {
      const headroom = Number(values.headroom);
      const syncStart = performance.now();
      const run = await runBudget(fleet, 'dp-fleet', headroom);
      console.error(`datapath: ${dpVms} VMs replicating at ${values.interval}, ARM buckets × ${run.scale.toFixed(3)} (${headroom}× the fleet's writes)...`);
      await untilAllSealedAfter(fleet, 0, 20 * intervalMs + 10 * 60_000);
      const initialSync = { seconds: round((performance.now() - syncStart) / 1000, 1), replicaPeakRssMiB: round(rssMiB(run.child.process.pid, 'VmHWM'), 1) };
      const window = await measureWindow(fleet, run.child, Number(values.window ?? 10 * intervalSeconds));
      const policy = await readPolicy(fleet);
      await run.child.kill('SIGTERM');
      await run.stopOperator();
      const { maxRpoSeconds, ...rest } = window;
      result.datapath = { vms: dpVms, disksPerVm: DISKS, intervalSeconds, nodeOptions: DATAPATH_NODE_OPTIONS, initialSyncConcurrency: values['initial-sync-concurrency'] ?? 'default', compiled: values.compiled, initialSync, armThrottlingScale: round(run.scale, 3), policy, ...rest, maxRpoSeconds: round(Math.max(...maxRpoSeconds.values()), 1) };
    }
    if (parts.has('infeasible')) {
      const run = await runBudget(fleet, 'dp-fleet-tight', 0.5);
      const stretchedSeconds = 2 * intervalSeconds;
      console.error(`infeasible: the same fleet, ARM buckets × ${run.scale.toFixed(3)} (half the fleet's writes): stretched interval ${stretchedSeconds} s...`);
      const policy = await untilInfeasible(fleet, 10 * 60_000);
      // One stretched interval for the new spacing to settle, then the window.
      await untilAllSealedAfter(fleet, Date.now(), 4 * stretchedSeconds * 1000 + 5 * 60_000);
      const window = await measureWindow(fleet, run.child, Number(values.window ?? 5 * stretchedSeconds));
      await run.child.kill('SIGTERM');
      await run.stopOperator();
      const { maxRpoSeconds, ...rest } = window;
      const worst = Math.max(...maxRpoSeconds.values());
      result.infeasible = {
        vms: dpVms,
        armThrottlingScale: round(run.scale, 3),
        policy,
        stretchedIntervalSeconds: stretchedSeconds,
        ...rest,
        maxRpoSeconds: round(worst, 1),
        vmsWithMaxRpoWithin2xStretched: [...maxRpoSeconds.values()].filter((s) => s <= 2 * stretchedSeconds).length,
        vmsSampled: maxRpoSeconds.size,
      };
    }
  } finally {
    await fleet.sb.close();
    await fleet.cp.stop();
  }
}

async function readPolicy(fleet: Fleet) {
  const policy = await new CustomResourceClient<ReplicationPolicy>(fleet.cp.kubeConfig, 'ReplicationPolicy').get({ namespace: fleet.ns, name: 'fleet' });
  const c = policy?.status?.conditions?.find((x) => x.type === 'IntervalFeasible');
  return { intervalFeasible: c?.status, reason: c?.reason, message: c?.message, effectiveRecoveryPointInterval: policy?.status?.effectiveRecoveryPointInterval };
}

async function untilInfeasible(fleet: Fleet, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const policy = await readPolicy(fleet);
    if (policy.reason === 'IntervalInfeasible') return policy;
    if (Date.now() > deadline) throw new Error(`the policy never reported IntervalInfeasible: ${JSON.stringify(policy)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}


if (parts.has('operator')) result.operator = await operatorPart();
if (parts.has('datapath') || parts.has('infeasible')) await datapathParts();
// The machine is shared: its 1, 5 and 15-minute load averages when the run ended.
result.loadAverage = os.loadavg().map((l) => round(l, 1));
console.log(JSON.stringify(result, null, 2));
process.exit(0);
