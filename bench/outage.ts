// Region outage (issue 14): N protected VMs under churn in one source region. First the operator's cluster
// is lost: a brand-new one gets the same manifests, and the time until every RecoveryPoint is rebuilt from
// target storage is measured. Then the region goes down (the sandbox's real outage: ARM, storage and disk
// exports of the region stop answering), and N Unplanned failovers are requested at once. Reports, per VM,
// the data-loss window (outage start less the capture time of the point failed over from) and, for the
// fleet, the time from the requests to every VM running.
// Usage: node bench/outage.ts [--vms 10] [--interval 15s]
import { parseArgs } from 'node:util';
import { endOutage, startOutage } from '../sandbox/src/outage.ts';
import { parseDuration } from '../src/util/duration.ts';
import { createSmallVm, diskBlob, SOURCE_LOCATION, writeRandom } from '../test/support/datapath-sandbox.ts';
import type { Clients } from '../test/support/operator-fixtures.ts';
import { startHarness, until } from './lib/harness.ts';

const { values } = parseArgs({ options: { vms: { type: 'string', default: '10' }, interval: { type: 'string', default: '15s' } } });
const count = Number(values.vms);
const intervalMs = parseDuration(values.interval);
const rg = 'bench-outage';
const names = Array.from({ length: count }, (_, i) => `vm${i}`);

const h = await startHarness('bench-outage', intervalMs);
const { sb, ns } = h;
const sources: Awaited<ReturnType<typeof createSmallVm>>[] = [];
for (const name of names) sources.push(await createSmallVm(sb, rg, name, 2, 16 * 1024 * 1024));
const vnet = `/subscriptions/${sb.arm.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${rg}-vnet`;
/** The manifests, as Git holds them: applied to the first cluster and again to a brand-new one. */
async function applyManifests(clients: Clients): Promise<void> {
  await clients.policies.create(ns, { metadata: { name: 'p' }, spec: { recoveryPointInterval: '1m' } });
  await clients.mappings.create(ns, { metadata: { name: 'net' }, spec: { sourceVirtualNetworkId: vnet, targetLocation: 'northeurope', targetResourceGroup: `${rg}-asr` } });
  for (const [i, name] of names.entries()) {
    await clients.vms.create(ns, { metadata: { name }, spec: { sourceVirtualMachineId: sources[i]!.id as string, targetLocation: 'northeurope', policyRef: { name: 'p' }, networkMappingRef: { name: 'net' } } });
  }
}
await applyManifests(h.clients);
const protectedAll = () => Promise.all(names.map((name) => h.clients.vms.get({ namespace: ns, name })));
await until(protectedAll, (vms) => vms.every((vm) => vm?.status?.phase === 'Protected'), 900_000, 1000);

// Churn: 256 KiB of random writes per disk per second, until the region goes down.
let churning = true;
const diskIds = sources.map((vm) => [vm.storageProfile!.osDisk!.managedDisk!.id!, ...(vm.storageProfile!.dataDisks ?? []).map((d) => d.managedDisk!.id!)]);
const churn = (async () => {
  for (let round = 0; churning; round++) {
    await Promise.all(diskIds.flat().map((id) => writeRandom(diskBlob(sb, id), 256 * 1024, 1024 * 1024 + ((round * 256 * 1024) % (8 * 1024 * 1024))).catch(() => undefined)));
    await new Promise((r) => setTimeout(r, 1000));
  }
})();
// Two more cycles sealed under churn for every VM.
const cycles = (await protectedAll()).map((vm) => vm?.status?.replication?.cycle ?? 0);
await until(protectedAll, (vms) => vms.every((vm, i) => (vm?.status?.replication?.cycle ?? 0) >= (cycles[i] ?? 0) + 2 && vm?.status?.lastRecoveryPoint), 900_000, 1000);

// The region fails at an arbitrary moment of a cycle, not just after a seal.
const offsetMs = Math.floor(Math.random() * intervalMs);
await new Promise((r) => setTimeout(r, offsetMs));
const pointNames = async () => new Set((await h.clients.points.list(ns)).items.map((p) => p.metadata.name));
const before = await pointNames();
const rebuildStarted = performance.now();
await h.freshCluster(applyManifests);
await until(pointNames, (now) => [...before].every((name) => now.has(name)), 900_000, 250);
const rebuildSeconds = (performance.now() - rebuildStarted) / 1000;
await until(protectedAll, (vms) => vms.every((vm) => vm?.status?.phase === 'Protected'), 900_000, 1000);

const outageStart = Date.now();
await startOutage({ endpoint: sb.arm.endpoint, token: sb.token }, SOURCE_LOCATION);
churning = false;
await churn;

const requested = performance.now();
await Promise.all(names.map((name) => h.failovers.create(ns, { metadata: { name: `${name}-out` }, spec: { replicatedVMName: name, type: 'Unplanned', recoveryPoint: 'LatestProcessed' } })));
const finished = await until(
  () => Promise.all(names.map((name) => h.failovers.get({ namespace: ns, name: `${name}-out` }))),
  (fos) => fos.every((fo) => ['Succeeded', 'Failed'].includes(fo?.status?.phase ?? '')),
  900_000,
  250,
);
const allRunningSeconds = (performance.now() - requested) / 1000;

const failed = finished.filter((fo) => fo?.status?.phase !== 'Succeeded');
const windows = finished.map((fo) => (outageStart - Date.parse(fo?.status?.recoveryPointTime ?? '')) / 1000).sort((a, b) => a - b);
const pct = (p: number) => Number((windows[Math.min(windows.length - 1, Math.floor(p * windows.length))] ?? NaN).toFixed(1));
console.log(JSON.stringify({
  vms: count,
  disksPerVm: 2,
  cycleIntervalSeconds: intervalMs / 1000,
  outageSecondsIntoCycle: Number((offsetMs / 1000).toFixed(1)),
  failoversSucceeded: count - failed.length,
  failedReasons: failed.map((fo) => fo?.status?.conditions?.find((c) => c.type === 'Succeeded')?.reason),
  dataLossWindowSeconds: { min: pct(0), p50: pct(0.5), max: pct(1), perVm: windows.map((w) => Number(w.toFixed(1))) },
  requestToAllRunningSeconds: Number(allRunningSeconds.toFixed(1)),
  freshCluster: { recoveryPointsRebuilt: before.size, secondsFromNewClusterToAllRebuilt: Number(rebuildSeconds.toFixed(1)) },
}, null, 2));
// The region returns before shutting down, so the datapath releases its leases at once.
await endOutage({ endpoint: sb.arm.endpoint, token: sb.token }, SOURCE_LOCATION);
await h.close();
