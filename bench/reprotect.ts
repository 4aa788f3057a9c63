// Re-protect (issue 7): how much a seeded reverse initial sync moves and how long it takes, against the
// full initial sync of the same VM measured in the same run. A VM with `--disks` disks of `--size` MiB,
// `--fill` % of each written, is protected (full initial sync), failed over Unplanned, `--changed` % of
// each failed-over disk is rewritten in scattered 256 KiB pieces, then re-protected: the reverse initial
// sync starts from the original disks and copies only the 64 KiB blocks that differ.
// Usage: node bench/reprotect.ts [--disks 2] [--size 256] [--fill 75] [--changed 5]
import { parseArgs } from 'node:util';
import type { ReplicatedVM } from '../src/api/types.ts';
import { createSmallVm, diskBlob, writeRandom } from '../test/support/datapath-sandbox.ts';
import { startHarness, until } from './lib/harness.ts';

const MiB = 1024 * 1024;
const { values } = parseArgs({ options: { disks: { type: 'string', default: '2' }, size: { type: 'string', default: '256' }, fill: { type: 'string', default: '75' }, changed: { type: 'string', default: '5' } } });
const disks = Number(values.disks);
const size = Number(values.size) * MiB;
const fill = Number(values.fill) / 100;
const changed = Number(values.changed) / 100;

const { sb, ns, clients, failovers, close } = await startHarness('bench-reprotect', 5000);
const diskIdsOf = async (resourceGroup: string, name: string) => {
  const vm = await sb.c.compute.virtualMachines.get(resourceGroup, name);
  return [vm.storageProfile!.osDisk!.managedDisk!.id!, ...vm.storageProfile!.dataDisks!.map((d) => d.managedDisk!.id!)];
};

// The source: `fill` of every disk written.
const source = await createSmallVm(sb, 'bench-src', 'app', disks, size);
for (const id of await diskIdsOf('bench-src', 'app')) {
  for (let offset = 0; offset < size * fill; offset += 4 * MiB) await writeRandom(diskBlob(sb, id), Math.min(4 * MiB, size * fill - offset), offset);
}
await clients.policies.create(ns, { metadata: { name: 'p' }, spec: { recoveryPointInterval: '1m' } });
await clients.mappings.create(ns, { metadata: { name: 'net' }, spec: { sourceVirtualNetworkId: `/subscriptions/${sb.arm.subscriptionId}/resourceGroups/bench-src/providers/Microsoft.Network/virtualNetworks/bench-src-vnet`, targetLocation: 'northeurope', targetResourceGroup: 'bench-src-asr' } });

// 1. Full initial sync.
let t0 = performance.now();
await clients.vms.create(ns, { metadata: { name: 'app' }, spec: { sourceVirtualMachineId: source.id as string, targetLocation: 'northeurope', policyRef: { name: 'p' }, networkMappingRef: { name: 'net' } } });
const forward = (await until(() => clients.vms.get({ namespace: ns, name: 'app' }), (o) => o?.status?.phase === 'Protected', 1_800_000)) as ReplicatedVM;
const forwardSeconds = (performance.now() - t0) / 1000;

// 2. Unplanned failover, then `changed` of every failed-over disk rewritten, scattered.
await failovers.create(ns, { metadata: { name: 'disaster' }, spec: { replicatedVMName: 'app', type: 'Unplanned' } });
const fo = await until(() => failovers.get({ namespace: ns, name: 'disaster' }), (o) => ['Succeeded', 'Failed'].includes(o?.status?.phase ?? ''), 600_000);
if (fo?.status?.phase !== 'Succeeded') throw new Error(`failover failed: ${JSON.stringify(fo?.status?.conditions)}`);
const piece = 256 * 1024;
const pieces = Math.round((size * changed) / piece);
for (const id of await diskIdsOf('bench-src-asr', 'app')) {
  for (let i = 0; i < pieces; i++) await writeRandom(diskBlob(sb, id), piece, Math.floor(((i + 0.5) * size) / pieces / piece) * piece);
}

// 3. Re-protect: seeded from the original disks.
t0 = performance.now();
await failovers.mergePatch({ namespace: ns, name: 'disaster' }, { spec: { commit: true, reprotect: true } });
const done = await until(() => failovers.get({ namespace: ns, name: 'disaster' }), (o) => o?.status?.conditions?.some((c) => c.type === 'Reprotected' && c.status === 'True') ?? false, 1_800_000);
const reprotectSeconds = (performance.now() - t0) / 1000;
const reverse = (await clients.vms.get({ namespace: ns, name: done?.status?.reverseReplicatedVMName as string })) as ReplicatedVM;

await close();

const f = forward.status?.initialSync;
const r = reverse.status?.initialSync;
console.log(JSON.stringify({
  disks,
  diskMiB: size / MiB,
  filledPercent: fill * 100,
  changedPercent: changed * 100,
  fullInitialSync: { seconds: Number(forwardSeconds.toFixed(1)), bytesCopied: f?.bytesCopied },
  seededReprotect: { seconds: Number(reprotectSeconds.toFixed(1)), bytesCompared: r?.bytesTotal, bytesCopied: r?.bytesCopied, bytesMatched: r?.bytesMatched },
  bytesRatio: Number(((r?.bytesCopied ?? 0) / (f?.bytesCopied ?? 1)).toFixed(3)),
  timeRatio: Number((reprotectSeconds / forwardSeconds).toFixed(3)),
}, null, 2));
