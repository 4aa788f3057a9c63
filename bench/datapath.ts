// Datapath benchmark (issue 6), every figure a ratio against a raw ceiling of this machine in this run:
//   apply    one replica's apply of a full cycle (Put Page From URL from the cache segments, 4 MiB,
//            CRC-64 verified by storage) ÷ raw putPages of the same bytes from memory (4 MiB, same
//            concurrency, same endpoint), and ÷ raw Put Page From URL (the storage operation apply is made
//            of, issued back to back with nothing else: what is left is the datapath's own overhead);
//   capture  one replica's capture of the same cycle (restore point, page ranges, Put Block From URL from
//            the disk restore point into cache segments, manifest) ÷ raw ranged reads of the same bytes,
//            and ÷ raw Put Block From URL;
//   RPO      p50/p99 of (now − capture time of the newest sealed point), sampled every second while a
//            workload writes `--churn` per disk with a `--interval` recovery point interval, by a datapath
//            replica running as its own process; its peak RSS (VmHWM) is reported too.
// Usage: node bench/datapath.ts [--size 1024] [--duration 5m] [--interval 1m] [--churn 5] [--concurrency 8]
//        (size in MiB, churn in MiB/s per disk; `--duration 60s --interval 15s` for a quick run)
import { parseArgs } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import { BlobServiceClient } from '@azure/storage-blob';
import { AzureClients } from '../src/azure/clients.ts';
import { captureCycle } from '../src/datapath/capture.ts';
import { BlobFence } from '../src/datapath/fence.ts';
import { RestorePoints, restorePointName } from '../src/datapath/restore-points.ts';
import { BlobAccess } from '../src/datapath/storage.ts';
import { applyDisk, openTarget } from '../src/datapath/target.ts';
import { startControlPlane } from '../sandbox/src/kube/controlplane.ts';
import { parseDuration } from '../src/util/duration.ts';
import { percentile, rssMiB } from './lib/process-rss.ts';
import { createPolicy, createProtectedVm, hashBlob, replicatedVms, sourcePointBlobs, startDatapathChild, startDatapathSandbox, startWorkload } from '../test/support/datapath-sandbox.ts';

const MiB = 1024 * 1024;
const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1024' },
    duration: { type: 'string', default: '5m' },
    interval: { type: 'string', default: '1m' },
    churn: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '8' },
  },
});
const size = Number(values.size) * MiB;
const durationMs = parseDuration(values.duration);
const concurrency = Number(values.concurrency);
const churn = Number(values.churn) * MiB;

const cp = await startControlPlane({});
const sb = await startDatapathSandbox();
const kc = cp.kubeConfig;
const ns = 'bench-datapath';
await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
await createPolicy(kc, ns, 'fast', { recoveryPointInterval: '1m', retention: '1h' });
const az = new AzureClients(sb.azure);
const blobs = new BlobAccess(az, sb.azure.credential);
const signal = new AbortController().signal;

/** Runs `count` 4 MiB operations, `concurrency` at a time; returns MiB/s. */
async function throughput(bytes: number, op: (offset: number, n: number) => Promise<unknown>): Promise<number> {
  const offsets = Array.from({ length: Math.ceil(bytes / (4 * MiB)) }, (_, i) => i * 4 * MiB);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let o = offsets.shift(); o !== undefined; o = offsets.shift()) await op(o, Math.min(4 * MiB, bytes - o));
    }),
  );
  return bytes / MiB / ((performance.now() - t0) / 1000);
}

// 1. Raw ceilings through the same endpoint and credential: putPages from memory, ranged reads, and the two
//    server-side copies the datapath is made of (Put Block From URL from a page blob, Put Page From URL
//    from a block blob, with the checksum the service gave).
const targetService = new BlobServiceClient(await blobs.endpoint(sb.targetAccountId), sb.azure.credential);
const raw = targetService.getContainerClient('bench-raw');
await raw.createIfNotExists();
const rawBlob = raw.getPageBlobClient('raw.vhd');
await rawBlob.create(size);
const payload = Buffer.alloc(4 * MiB, 0xa5);
for (let i = 0; i < payload.length; i += 4096) payload.writeUInt32LE(i, i);
const rawPut = await throughput(size, (o, n) => rawBlob.uploadPages(payload.subarray(0, n), o, n));
const rawRead = await throughput(size, async (o, n) => {
  const r = await rawBlob.download(o, n);
  for await (const _ of r.readableStreamBody!) void _;
});
const auth = await blobs.copySourceAuthorization();
const block = (o: number) => Buffer.from(String(o / (4 * MiB)).padStart(6, '0')).toString('base64');
const segmentBlob = raw.getBlockBlobClient('segment');
const crcs = new Map<number, Uint8Array>();
const rawStage = await throughput(size, async (o, n) => {
  const staged = await segmentBlob.stageBlockFromURL(block(o), rawBlob.url, o, n, { sourceAuthorization: auth });
  crcs.set(o, staged.xMsContentCrc64!);
});
await segmentBlob.commitBlockList([...crcs.keys()].sort((a, b) => a - b).map(block));
const copyBlob = raw.getPageBlobClient('copy.vhd');
await copyBlob.create(size);
const rawPutFromUrl = await throughput(size, (o, n) => copyBlob.uploadPagesFromURL(segmentBlob.url, o, o, n, { sourceAuthorization: auth, sourceContentCrc64: crcs.get(o)! }));
await raw.delete(); // gives the sandbox's memory back before the next parts

// 2. One replica's capture and apply of a full cycle of `size` bytes (the datapath's own code).
const vm = await createProtectedVm(sb, kc, ns, 'bulk', { dataDisks: 0, seedBytes: size, diskBytes: size + 8 * MiB });
const vmObject = (await replicatedVms(kc).get({ namespace: ns, name: 'bulk' }))!;
const disk = vmObject.status!.disks![0]!;
const id = (role: string) => vmObject.status!.targetResources!.find((r) => r.role === role)!.id;
await sb.c.compute.restorePoints.beginCreateAndWait(vm.collection.resourceGroup, vm.collection.name, restorePointName(1), { consistencyMode: 'CrashConsistent' }, { updateIntervalInMs: 50 });
const cache = await blobs.container(id('CacheContainer'));
const t0 = performance.now();
const { record } = await captureCycle(
  { points: new RestorePoints(az, id('RestorePointCollection')), blobs, cache, concurrency, signal },
  { cycle: 1, consistency: 'CrashConsistent', base: undefined, resync: [], disks: [{ name: disk.name, sourceDiskId: disk.sourceDiskId }] },
);
const captureSeconds = (performance.now() - t0) / 1000;
const fence = new BlobFence('bench');
const target = await openTarget(await blobs.container(id('ReplicaContainer')), disk, fence, 'bench');
const entry = record.disks[disk.name]!;
const t1 = performance.now();
await applyDisk({ blobs, cache, fence, epoch: 'bench', concurrency, signal }, target, record, entry);
const applySeconds = (performance.now() - t1) / 1000;
const source = (await sourcePointBlobs(sb, vm, 1)).get(disk.sourceDiskId.toLowerCase())!;
const verified = (await hashBlob(target.blob)) === (await hashBlob(source));
await fence.release(target.blob);
const capture = entry.bytes / MiB / captureSeconds;
const apply = entry.bytes / MiB / applySeconds;

// 3. RPO under churn, one replica as its own process.
const churnVm = await createProtectedVm(sb, kc, ns, 'churn', { dataDisks: 1, seedBytes: 16 * MiB, diskBytes: 512 * MiB });
const replica = startDatapathChild(sb, cp.kubeconfigPath, 'dp-bench', { namespace: ns, cycleInterval: values.interval, leaseDuration: '15s' });
const vms = replicatedVms(kc);
const readVm = () => vms.get({ namespace: ns, name: 'churn' });
for (let o = await readVm(); !o?.status?.lastRecoveryPoint; o = await readVm()) await new Promise((r) => setTimeout(r, 500));
const rssOf = (field: 'VmRSS' | 'VmHWM') => rssMiB(replica.process.pid, field);
const idleRssMiB = rssOf('VmRSS');
const workload = startWorkload(sb, churnVm.diskIds, { spanBytes: 500 * MiB, rateBytesPerSecond: churn * churnVm.diskIds.length });
const samples: number[] = [];
let maxPending = 0;
const end = Date.now() + durationMs;
while (Date.now() < end) {
  const o = await readVm();
  const time = o?.status?.lastRecoveryPoint?.time;
  if (time) samples.push((Date.now() - Date.parse(time)) / 1000);
  maxPending = Math.max(maxPending, o?.status?.replication?.pendingCycles ?? 0);
  await new Promise((r) => setTimeout(r, 1000));
}
await workload.stop();
const peakRssMiB = rssOf('VmHWM');
const points = (await readVm())?.status?.replication?.cycle ?? 0;
await replica.kill('SIGTERM');
await sb.close();
await cp.stop();

const pct = (p: number) => percentile(samples, p);
const f = (x: number, d = 1) => x.toFixed(d);
const result = {
  sizeMiB: size / MiB,
  concurrency,
  rawMiBps: { putPages: Number(f(rawPut)), rangedReads: Number(f(rawRead)), putPageFromUrl: Number(f(rawPutFromUrl)), putBlockFromUrl: Number(f(rawStage)) },
  apply: { MiBps: Number(f(apply)), ratioToRawPutPages: Number(f(apply / rawPut, 3)), ratioToRawPutPageFromUrl: Number(f(apply / rawPutFromUrl, 3)), verified },
  capture: { MiBps: Number(f(capture)), ratioToRawRangedReads: Number(f(capture / rawRead, 3)), ratioToRawPutBlockFromUrl: Number(f(capture / rawStage, 3)) },
  rpo: { intervalSeconds: parseDuration(values.interval) / 1000, churnMiBpsPerDisk: churn / MiB, disks: churnVm.diskIds.length, durationSeconds: durationMs / 1000, samples: samples.length, p50Seconds: Number(f(pct(50))), p99Seconds: Number(f(pct(99))), maxPendingCycles: maxPending, sealedCycles: points, workloadMiB: Number(f(workload.bytes / MiB)) },
  replicaRssMiB: { afterInitialSync: Number(f(idleRssMiB)), peak: Number(f(peakRssMiB)) },
};
console.log(`datapath benchmark: ${result.sizeMiB} MiB full cycle, ${concurrency} transfers in flight, 4 MiB requests`);
console.log(`  raw putPages             ${f(rawPut).padStart(8)} MiB/s`);
console.log(`  raw Put Page From URL    ${f(rawPutFromUrl).padStart(8)} MiB/s`);
console.log(`  apply (one replica)      ${f(apply).padStart(8)} MiB/s   ratio to raw putPages ${f(apply / rawPut, 3)}, to raw Put Page From URL ${f(apply / rawPutFromUrl, 3)}   replica equals source: ${verified}`);
console.log(`  raw ranged reads         ${f(rawRead).padStart(8)} MiB/s`);
console.log(`  raw Put Block From URL   ${f(rawStage).padStart(8)} MiB/s`);
console.log(`  capture (one replica)    ${f(capture).padStart(8)} MiB/s   ratio to raw reads ${f(capture / rawRead, 3)}, to raw Put Block From URL ${f(capture / rawStage, 3)}`);
console.log(`  RPO at ${result.rpo.churnMiBpsPerDisk} MiB/s per disk x ${result.rpo.disks} disks, interval ${values.interval}, ${values.duration}: p50 ${f(pct(50))} s   p99 ${f(pct(99))} s   (${samples.length} samples, ${points} cycles sealed, backlog max ${maxPending})`);
console.log(`  replica RSS              ${f(peakRssMiB).padStart(8)} MiB peak   (${f(idleRssMiB)} MiB after the initial sync)`);
console.log(JSON.stringify(result, null, 2));
process.exit(0);
