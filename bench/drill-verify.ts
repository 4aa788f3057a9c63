// Drill verification (issue 20): Checksums (storage computes CRC-64s of each 4 MiB of both sides) against
// Full (both sides read through the process and hashed with sha256) on the same failed-over disks. A VM
// with `--disks` disks (OS disk included) of `--size` MiB, `--fill` % of each written in scattered 1 MiB
// pieces, is protected and failed over (Test) once; then the verification engine checks every failed-over
// disk against the recovery point's replica snapshot with each method, `--rounds` times, alternating, and
// reports per method the time and the disk bytes that crossed the network to the process.
// Usage: node bench/drill-verify.ts [--disks 2] [--size 256] [--fill 50] [--rounds 2]
import { parseArgs } from 'node:util';
import type { RecoveryPoint } from '../src/api/types.ts';
import { AzureClients } from '../src/azure/clients.ts';
import { DiskVerifier, type VerifyMethod } from '../src/azure/verify/disk-verifier.ts';
import { createSmallVm, diskBlob, writeRandom } from '../test/support/datapath-sandbox.ts';
import { startHarness, until } from './lib/harness.ts';

const MiB = 1024 * 1024;
const { values } = parseArgs({ options: { disks: { type: 'string', default: '2' }, size: { type: 'string', default: '256' }, fill: { type: 'string', default: '50' }, rounds: { type: 'string', default: '2' } } });
const disks = Number(values.disks);
const size = Number(values.size) * MiB;
const fill = Number(values.fill) / 100;
const rounds = Number(values.rounds);

const { sb, ns, clients, failovers, close } = await startHarness('bench-drill-verify', 5000);
const diskIdsOf = async (resourceGroup: string, name: string) => {
  const vm = await sb.c.compute.virtualMachines.get(resourceGroup, name);
  return [vm.storageProfile!.osDisk!.managedDisk!.id!, ...vm.storageProfile!.dataDisks!.map((d) => d.managedDisk!.id!)];
};

// The source: `fill` of every disk written, 1 MiB pieces spread evenly over the disk.
const source = await createSmallVm(sb, 'bench-src', 'app', disks, size);
const pieces = Math.round((size * fill) / MiB);
for (const id of await diskIdsOf('bench-src', 'app')) {
  for (let i = 0; i < pieces; i++) await writeRandom(diskBlob(sb, id), MiB, Math.floor((i * size) / pieces / MiB) * MiB);
}
await clients.policies.create(ns, { metadata: { name: 'p' }, spec: { recoveryPointInterval: '1m' } });
await clients.mappings.create(ns, { metadata: { name: 'net' }, spec: { sourceVirtualNetworkId: `/subscriptions/${sb.arm.subscriptionId}/resourceGroups/bench-src/providers/Microsoft.Network/virtualNetworks/bench-src-vnet`, targetLocation: 'northeurope', targetResourceGroup: 'bench-src-asr' } });
await clients.vms.create(ns, { metadata: { name: 'app' }, spec: { sourceVirtualMachineId: source.id as string, targetLocation: 'northeurope', policyRef: { name: 'p' }, networkMappingRef: { name: 'net' } } });
await until(() => clients.vms.get({ namespace: ns, name: 'app' }), (o) => o?.status?.phase === 'Protected', 1_800_000);

// One Test failover: the disks every method checks.
await failovers.create(ns, { metadata: { name: 'drill' }, spec: { replicatedVMName: 'app', type: 'Test' } });
const fo = await until(() => failovers.get({ namespace: ns, name: 'drill' }), (o) => ['Succeeded', 'Failed'].includes(o?.status?.phase ?? ''), 600_000);
if (fo?.status?.phase !== 'Succeeded') throw new Error(`failover failed: ${JSON.stringify(fo?.status?.conditions)}`);
const point = (await clients.points.get({ namespace: ns, name: fo.status.recoveryPointName as string })) as RecoveryPoint;
const target = fo.status.targetVirtualMachineId!.split('/');
const targetDisks = await diskIdsOf(target[4]!, target[8]!);

const verifier = new DiskVerifier(new AzureClients(sb.azure), sb.azure.credential, `${ns}/drill`);
const totals: Record<string, { seconds: number[]; bytesRead: number; bytesCompared: number; pass: boolean }> = {};
for (let round = 0; round < rounds; round++) {
  const order: VerifyMethod[] = round % 2 === 0 ? ['Checksums', 'Full'] : ['Full', 'Checksums'];
  for (const method of order) {
    const t0 = performance.now();
    let bytesRead = 0;
    let bytesCompared = 0;
    let pass = true;
    for (const [i, d] of point.spec.disks.entries()) {
      const v = await verifier.verify({ method, diskId: targetDisks[i]!, expected: { kind: 'RecoveryPointSnapshot', blobUrl: d.blobUrl, snapshot: d.snapshot }, sizeBytes: d.sizeBytes });
      bytesRead += v.bytesRead;
      bytesCompared += v.bytesCompared ?? 0;
      pass &&= v.pass;
    }
    const t = (totals[method] ??= { seconds: [], bytesRead: 0, bytesCompared: 0, pass: true });
    t.seconds.push(Number(((performance.now() - t0) / 1000).toFixed(2)));
    t.bytesRead = bytesRead;
    t.bytesCompared = bytesCompared;
    t.pass &&= pass;
  }
}
await failovers.delete({ namespace: ns, name: 'drill' });
await until(() => failovers.get({ namespace: ns, name: 'drill' }), (o) => o === undefined, 300_000);
await close();

const best = (m: string) => Math.min(...(totals[m]?.seconds ?? [Infinity]));
console.log(JSON.stringify({
  disks,
  diskMiB: size / MiB,
  filledPercent: fill * 100,
  allocatedMiBPerDisk: pieces,
  checksums: { ...totals.Checksums, bestSeconds: best('Checksums'), MiBReadByClient: (totals.Checksums?.bytesRead ?? 0) / MiB },
  full: { ...totals.Full, bestSeconds: best('Full'), MiBReadByClient: (totals.Full?.bytesRead ?? 0) / MiB },
  timeRatioChecksumsToFull: Number((best('Checksums') / best('Full')).toFixed(3)),
}, null, 2));
