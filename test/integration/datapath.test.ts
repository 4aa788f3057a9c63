// The datapath against the real control plane and local Azure, one replica in this process, a workload
// writing and trimming the source disks: initial sync, continuous cycles whose sealed points equal the
// source restore points byte for byte, multi-disk consistency, corrupted/missing cache data repaired from
// the source, sync-now, and stopping on failover (leases released).
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReplicatedVM } from '../../src/api/types.ts';
import { findCondition } from '../../src/runtime/conditions.ts';
import { buildDatapath, type Datapath } from '../../src/datapath/datapath.ts';
import type { JournalState } from '../../src/datapath/journal.ts';
import { manifestName, segmentName } from '../../src/datapath/manifest.ts';
import { SYNC_NOW_ANNOTATION } from '../../src/api/contract.ts';
import { OPERATOR_FIELD_MANAGER, statusOwnedBy } from '../../src/api/contract.ts';
import {
  createPolicy,
  createProtectedVm,
  diskBlob,
  hashBlob,
  listRecoveryPoints,
  pointBlob,
  replicatedVms,
  sourcePointBlobs,
  stampOf,
  startDatapathSandbox,
  startWorkload,
  verifyPoint,
  type DatapathSandbox,
  type ProtectedVm,
} from '../support/datapath-sandbox.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';
import { waitForObject } from '../support/wait.ts';

let sb: DatapathSandbox;
let kc: KubeConfig;
let ns: string;
let vm: ProtectedVm;
let datapath: Datapath;
const stop = new AbortController();
let running: Promise<void>;

const vms = () => replicatedVms(kc);
const ref = () => ({ namespace: ns, name: vm.name });
const waitVm = (what: string, predicate: (o: ReplicatedVM | undefined) => boolean, timeoutMs = 90_000) => waitForObject(kc, vms(), ref(), predicate, what, timeoutMs);
const sealedCycle = (o: ReplicatedVM | undefined) => o?.status?.replication?.cycle ?? 0;

function targetContainer() {
  const account = sb.targetAccountId.split('/').pop()!;
  return new BlobServiceClient(sb.storage.blobEndpoint(account), new StorageSharedKeyCredential(account, sb.storage.accountKey(account))).getContainerClient(vm.replicaContainer);
}
function cacheContainer() {
  const account = sb.cacheAccountId.split('/').pop()!;
  return new BlobServiceClient(sb.storage.blobEndpoint(account), new StorageSharedKeyCredential(account, sb.storage.accountKey(account))).getContainerClient(vm.cacheContainer);
}

beforeAll(async () => {
  sb = await startDatapathSandbox();
  kc = testKubeConfig();
  ns = await createTestNamespace(kc, 'datapath');
  await createPolicy(kc, ns, 'fast');
  vm = await createProtectedVm(sb, kc, ns, 'app', { dataDisks: 1 });
  // Keep every source restore point while the test compares against them (the datapath retries).
  sb.arm.faults.inject({ kind: 'error', method: 'DELETE', path: /restorePoints\/sr-/i, status: 409, code: 'OperationNotAllowed', message: 'held by the test', count: 1e9 });
  datapath = buildDatapath({ kubeConfig: kc, azure: sb.azure, identity: 'dp-inproc', namespace: ns, watchNamespace: ns, port: 0, leaseDurationMs: 3000, worker: { cycleIntervalMs: 1500, statusIntervalMs: 500, retryMs: 300 } });
  running = datapath.run(stop.signal);
});

afterAll(async () => {
  stop.abort();
  await running?.catch(() => undefined);
  await sb?.close();
});

describe('datapath, one replica', () => {
  it('initial sync, then cycles of random writes and trims: each sealed point equals the source restore point of its cycle, disks consistent', async () => {
    const synced = await waitVm('the initial sync to seal a point', (o) => Boolean(o?.status?.lastRecoveryPoint));
    expect(synced?.status?.initialSync).toMatchObject({ percent: 100, percentText: '100%', completionTime: expect.any(String) });
    expect(synced?.status?.initialSync?.bytesTotal).toBeGreaterThan(0);
    expect(synced?.status?.replication?.owner).toBe('dp-inproc');
    expect(synced?.status?.health).toBe('Normal');
    expect(datapath.owned).toEqual([`${ns}/app`]);
    const first = sealedCycle(synced);

    const workload = startWorkload(sb, vm.diskIds, { spanBytes: 16 * 1024 * 1024 });
    await waitVm('four more sealed cycles under the workload', (o) => sealedCycle(o) >= first + 4);
    await workload.stop();
    expect(workload.writes).toBeGreaterThan(0);
    expect(workload.trims).toBeGreaterThan(0);

    const points = await listRecoveryPoints(kc, ns, vm.name);
    expect(points.length).toBeGreaterThanOrEqual(5);
    const cycles = points.map((p) => p.spec.cycle!);
    expect(cycles).toEqual([...cycles].sort((a, b) => a - b));
    for (const point of points) {
      expect(point.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'ReplicatedVM', name: vm.name });
      expect(point.spec.disks.map((d) => d.name)).toEqual(['os', 'lun0']);
      for (const { disk, replica, source } of await verifyPoint(sb, vm, point)) expect(replica, `cycle ${point.spec.cycle} disk ${disk}`).toBe(source);
      // Disk 0 is stamped before disk 1: one instant shows equal stamps or disk 0 one ahead.
      const [os, lun0] = [await stampOf(pointBlob(sb, point, 'os')), await stampOf(pointBlob(sb, point, 'lun0'))];
      expect(os - lun0 === 0 || os - lun0 === 1, `cycle ${point.spec.cycle}: os ${os} lun0 ${lun0}`).toBe(true);
    }
    const status = (await vms().get(ref()))!.status!;
    // No age in status (it would change at every write): the RPO is the age of the newest point's time.
    expect(status).not.toHaveProperty('rpoSeconds');
    expect(status).not.toHaveProperty('rpo');
    expect(Date.parse(status.lastRecoveryPoint?.time ?? '')).toBeLessThanOrEqual(Date.now());
    expect(String(status.lastRecoveryPoint?.name) >= String(points.at(-1)?.metadata.name)).toBe(true);
    expect(findCondition(status.conditions, 'Replicating')).toMatchObject({ status: 'True', reason: 'Replicating' });
    expect(findCondition(status.conditions, 'ReplicationEnabled')).toMatchObject({ status: 'True' }); // the operator's condition is kept

    // Metrics and events.
    const metrics = await (await fetch(`http://127.0.0.1:${datapath.port}/metrics`)).text();
    const series = `{namespace="${ns}",name="app"}`;
    for (const name of ['site_recovery_datapath_rpo_seconds', 'site_recovery_datapath_captured_bytes_total', 'site_recovery_datapath_applied_bytes_total', 'site_recovery_datapath_backlog_bytes']) {
      expect(metrics).toContain(`${name}${series}`);
    }
    expect(metrics).toMatch(/site_recovery_datapath_cycle_duration_seconds_count\{stage="apply"\} [1-9]/);
    expect(await (await fetch(`http://127.0.0.1:${datapath.port}/readyz`)).text()).toMatch(/^ok/);
    const events = await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: ns });
    expect(events.items.map((e) => e.reason)).toContain('InitialSyncCompleted');
  });

  it('never applies corrupted or missing cache data: the affected disks are copied again from the source', async () => {
    const workload = startWorkload(sb, vm.diskIds, { spanBytes: 16 * 1024 * 1024 });
    const start = sealedCycle(await vms().get(ref()));
    const replicaUrls = ['os.vhd', 'lun0.vhd'].map((b) => targetContainer().getBlobClient(b).url);
    let damaged = 0;
    // Hold writes to the replica blobs so that a captured cycle waits in the cache; damage it there.
    await sb.storage.freezeWrites(replicaUrls, async () => {
      // Not the oldest pending cycle (its apply may have begun before the freeze): a later one.
      const usable = (j: JournalState) => j.pending.slice(1).find((p) => p.disks.os!.chunks > 0 && p.disks.lun0!.chunks > 0);
      const record = usable(await waitForJournal((j) => usable(j) !== undefined))!;
      damaged = record.cycle;
      const segment = cacheContainer().getBlockBlobClient(segmentName(record.cycle, record.attempt, 'os', 0));
      const length = (await segment.getProperties()).contentLength!;
      await segment.upload(Buffer.alloc(length, 0x5a), length); // same size, other bytes
      await cacheContainer().deleteBlob(manifestName(record.cycle, record.attempt, 'lun0'));
    });
    const healed = await waitVm('a point sealed after the damaged cycle', (o) => sealedCycle(o) > damaged, 120_000);
    await workload.stop();
    expect(findCondition(healed!.status!.conditions, 'Replicating')?.status).toBe('True');
    const points = await listRecoveryPoints(kc, ns, vm.name);
    expect(points.map((p) => p.spec.cycle)).not.toContain(damaged);
    for (const point of points.filter((p) => p.spec.cycle! > start)) {
      for (const { disk, replica, source } of await verifyPoint(sb, vm, point)) expect(replica, `cycle ${point.spec.cycle} disk ${disk}`).toBe(source);
    }
  });

  it('sync-now: captures, applies and seals at once, and answers in status', async () => {
    const marker = Buffer.alloc(4096, 0xc3);
    await diskBlob(sb, vm.diskIds[1]!).uploadPages(marker, 24 * 1024 * 1024, marker.length);
    const requestedAt = Date.now();
    await vms().mergePatch(ref(), { metadata: { annotations: { [SYNC_NOW_ANNOTATION]: 'failover-1' } } });
    const answered = await waitVm('the sync-now answer', (o) => o?.status?.replication?.syncNow?.token === 'failover-1' && o.status.replication.syncNow.state === 'Succeeded');
    const answer = answered!.status!.replication!.syncNow!;
    expect(Date.parse(answer.recoveryPointTime!)).toBeGreaterThanOrEqual(requestedAt - 1000);
    const point = (await listRecoveryPoints(kc, ns, vm.name)).find((p) => p.metadata.name === answer.recoveryPointName)!;
    expect(point).toBeDefined();
    expect((await pointBlob(sb, point, 'lun0').downloadToBuffer(24 * 1024 * 1024, marker.length)).equals(marker)).toBe(true);
    const sources = await sourcePointBlobs(sb, vm, point.spec.cycle!);
    expect(await hashBlob(pointBlob(sb, point, 'lun0'))).toBe(await hashBlob(sources.get(vm.diskIds[1]!.toLowerCase())!));
  });

  it('removes source restore points once they are no longer a diff base', async () => {
    sb.arm.faults.clear();
    const before = sealedCycle(await vms().get(ref()));
    await waitVm('two more cycles', (o) => sealedCycle(o) >= before + 2);
    const remaining = async () => {
      const collection = await sb.c.compute.restorePointCollections.get(vm.collection.resourceGroup, vm.collection.name, { expand: 'restorePoints' });
      return (collection.restorePoints ?? []).map((p) => Number(p.name!.slice(3)));
    };
    // Left: the diff base, at most one being removed and one being captured; nothing from before.
    await expect.poll(async () => (await remaining()).every((c) => c > before), { timeout: 20_000 }).toBe(true);
    expect((await remaining()).length).toBeLessThanOrEqual(3);
  });

  it('stops replicating a VM that failed over and releases its blob leases; resumes when it is protected again', async () => {
    const setPhase = async (phase: 'FailedOver' | 'Protected') => {
      const current = (await vms().get(ref()))!;
      await vms().applyStatus(ref(), { ...statusOwnedBy('operator', current.status), phase }, OPERATOR_FIELD_MANAGER);
    };
    await setPhase('FailedOver');
    await expect.poll(() => datapath.owned, { timeout: 20_000 }).toEqual([]);
    const leaseStates = async () => Promise.all(['os.vhd', 'lun0.vhd'].map(async (b) => (await targetContainer().getBlobClient(b).getProperties()).leaseState));
    await expect.poll(leaseStates, { timeout: 20_000 }).toEqual(['available', 'available']);
    await setPhase('Protected');
    const before = sealedCycle(await vms().get(ref()));
    await waitVm('replication to resume', (o) => sealedCycle(o) > before);
    expect((await targetContainer().getBlobClient('os.vhd').getProperties()).leaseState).toBe('leased');
  });
});

/** Reads the VM's journal (test view, with the account key) until `predicate` holds. */
async function waitForJournal(predicate: (j: JournalState) => boolean, timeoutMs = 60_000): Promise<JournalState> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const response = await cacheContainer().getBlobClient('journal.json').download(); // one GET: one version
    const chunks: Buffer[] = [];
    for await (const chunk of response.readableStreamBody!) chunks.push(chunk as Buffer);
    const journal = JSON.parse(Buffer.concat(chunks).toString()) as JournalState;
    if (predicate(journal)) return journal;
    if (Date.now() > deadline) throw new Error(`journal never matched: ${JSON.stringify(journal).slice(0, 1000)}`);
    await new Promise((r) => setTimeout(r, 200)); // polling storage: there is nothing to watch
  }
}
