// Consistency group benchmark (issue 19): one group of `--vms` VMs (one small disk each) under a light
// workload, captured by one datapath replica in this process until `--cycles` group cycles are sealed by
// every member. Reports, over the group cycles every member sealed:
//   skew     p50/p99 of the cycle's groupSkewMilliseconds (latest minus earliest member restore point);
//   offsets  p50/p99 of each member's restore point time after the cycle's earliest one (all members, all
//            cycles pooled: how far a typical member is from the first);
//   members  how many members each group cycle held, and how long a group cycle took from the first
//            member's restore point to the last member's seal.
// The restore points are the ARM emulator's (zero latency): the skew measured here is the datapath's
// own — releasing the members together and creating 64 restore points at once through ARM — not Azure's
// restore point latency.
// Usage: node bench/consistency-group.ts [--vms 64] [--cycles 6] [--interval 15s]
import { parseArgs } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import type { RecoveryPoint } from '../src/api/types.ts';
import { buildDatapath } from '../src/datapath/datapath.ts';
import { CustomResourceClient } from '../src/kube/custom-resources.ts';
import { newestGroupCycles, type SealedGroupCycle } from '../src/reconcilers/failover/group-cycle.ts';
import { parseDuration } from '../src/util/duration.ts';
import { startControlPlane } from '../sandbox/src/kube/controlplane.ts';
import { createPolicy, createProtectedVm, replicatedVms, startDatapathSandbox, startWorkload } from '../test/support/datapath-sandbox.ts';
import { CONSISTENCY_GROUP_LABEL } from '../src/api/contract.ts';

const MiB = 1024 * 1024;
const { values } = parseArgs({ options: { vms: { type: 'string', default: '64' }, cycles: { type: 'string', default: '6' }, interval: { type: 'string', default: '15s' } } });
const count = Number(values.vms);
const wantedCycles = Number(values.cycles);
const intervalMs = parseDuration(values.interval);

const cp = await startControlPlane({});
const sb = await startDatapathSandbox();
const kc = cp.kubeConfig;
const ns = 'bench-cgroup';
await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
await createPolicy(kc, ns, 'fast', { recoveryPointInterval: '1m', retention: '1h' });
const names = Array.from({ length: count }, (_, i) => `vm-${String(i).padStart(3, '0')}`);
const vms = [];
const setupStart = performance.now();
for (let i = 0; i < names.length; i += 8) {
  vms.push(...(await Promise.all(names.slice(i, i + 8).map((name) => createProtectedVm(sb, kc, ns, name, { dataDisks: 0, seedBytes: MiB, diskBytes: 4 * MiB, resourceGroup: `src-${name}` })))));
}
for (const name of names) await replicatedVms(kc).mergePatch({ namespace: ns, name }, { spec: { consistencyGroup: 'bench' } });
console.error(`${count} protected VMs in one group set up in ${((performance.now() - setupStart) / 1000).toFixed(1)} s`);

// Writes spread over every member's disk (a few KiB/s each): the capture has something to copy.
const workload = startWorkload(sb, vms.map((v) => v.diskIds[0]!), { spanBytes: 2 * MiB, pauseMs: 20 });
const stop = new AbortController();
const running = buildDatapath({ kubeConfig: kc, azure: sb.azure, identity: 'dp-bench-cgroup', namespace: ns, watchNamespace: ns, leaseDurationMs: 30_000, worker: { cycleIntervalMs: intervalMs, statusIntervalMs: 5000, retryMs: 500, groupGatherMs: intervalMs / 2 } }).run(stop.signal);
const points = new CustomResourceClient<RecoveryPoint>(kc, 'RecoveryPoint');
const members = names.map((name) => ({ name, group: 'bench' }));
const list = async () => (await points.list(ns, `${CONSISTENCY_GROUP_LABEL}=bench`)).items;

/** Group cycles every member sealed, by cycle. */
function completeCycles(all: RecoveryPoint[]): Map<number, RecoveryPoint[]> {
  const by = new Map<number, RecoveryPoint[]>();
  for (const p of all) {
    const c = p.status?.groupCycle;
    if (c !== undefined) by.set(c, [...(by.get(c) ?? []), p]);
  }
  return new Map([...by].filter(([, ps]) => ps.length === count));
}

const started = performance.now();
let complete = new Map<number, RecoveryPoint[]>();
while (complete.size < wantedCycles + 1) {
  if (performance.now() - started > (wantedCycles + 4) * intervalMs * 3 + 300_000) throw new Error(`only ${complete.size} complete group cycles after ${((performance.now() - started) / 1000).toFixed(0)} s`);
  await new Promise((resolve) => setTimeout(resolve, 2000)); // a benchmark's sampling period, not a test's wait
  complete = completeCycles(await list());
}
const all = await list();
const chosen = newestGroupCycles(members, all).get('bench') as SealedGroupCycle;
await workload.stop();
stop.abort();
await running;
await sb.close();
await cp.stop();

// The first group cycle is the initial sync (every disk copied in full): left out.
const cycles = [...completeCycles(all).entries()].sort(([a], [b]) => a - b).slice(1);
const skews = cycles.map(([, ps]) => ps[0]!.status?.groupSkewMilliseconds ?? NaN).sort((a, b) => a - b);
const offsets = cycles.flatMap(([, ps]) => {
  const times = ps.map((p) => Date.parse(p.spec.time));
  const first = Math.min(...times);
  return times.map((t) => t - first);
}).sort((a, b) => a - b);
const spans = cycles.map(([, ps]) => (Math.max(...ps.map((p) => new Date(p.metadata.creationTimestamp ?? p.spec.time).getTime())) - Math.min(...ps.map((p) => Date.parse(p.spec.time)))) / 1000).sort((a, b) => a - b);
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const result = {
  vms: count,
  intervalSeconds: intervalMs / 1000,
  groupCycles: cycles.length,
  membersPerCycle: [...new Set(cycles.map(([, ps]) => ps.length))],
  skewMilliseconds: { p50: pct(skews, 50), p99: pct(skews, 99), max: skews.at(-1) },
  memberOffsetMilliseconds: { samples: offsets.length, p50: pct(offsets, 50), p99: pct(offsets, 99) },
  cycleSpanSeconds: { p50: pct(spans, 50), max: spans.at(-1) },
  newestCompleteGroupCycle: chosen.cycle,
};
console.log(`consistency group of ${count} VMs, ${cycles.length} group cycles every member sealed (initial sync excluded), interval ${values.interval}`);
console.log(`  skew between members' restore points   p50 ${result.skewMilliseconds.p50} ms   p99 ${result.skewMilliseconds.p99} ms`);
console.log(`  member offset from the first           p50 ${result.memberOffsetMilliseconds.p50} ms   p99 ${result.memberOffsetMilliseconds.p99} ms   (${offsets.length} samples)`);
console.log(`  first restore point to last seal       p50 ${result.cycleSpanSeconds.p50?.toFixed(1)} s`);
console.log(JSON.stringify(result, null, 2));
