// A real regional outage, end to end (issue #14): the sandbox takes westeurope down (`startOutage`: ARM
// answers 503/500/resets/hangs, storage resets or hangs, the VMs' disks stop) while the real operator and
// datapath run in this process with short deadlines. Two protected VMs under a small write load, both
// failing over to northeurope: A and C in westeurope (down), B in francecentral (up). A reports
// SourceRegionUnavailable in time and its RPO grows while B keeps sealing on schedule; a hung storage call
// to A's cache account fails within the storage call deadline; a Planned failover of A is refused at once;
// an Unplanned one from `Latest` falls back to the newest sealed point after its final sync timeout, disks
// equal to that point; C fails over Unplanned from `LatestProcessed` at once, needing nothing from the dead
// region, its disk equal to its newest point. With the region back: commit and re-protect seeded from the original disks, the
// original VM never started, and a Planned failback onto its name.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FailoverRequest, RecoveryPoint, ReplicatedVM } from '../../src/api/types.ts';
import { AzureClients, type AzureConfig } from '../../src/azure/clients.ts';
import { powerState } from '../../src/azure/failover-resources.ts';
import { rpoSeconds as rpoGauge } from '../../src/datapath/metrics.ts';
import { unanswered } from '../../src/datapath/source-call.ts';
import { BlobAccess } from '../../src/datapath/storage.ts';
import { findCondition } from '../../src/runtime/conditions.ts';
import { endOutage, startOutage } from '../../sandbox/src/outage.ts';
import { diskBlob, hashBlob, listRecoveryPoints, startWorkload, writeRandom, type Workload } from '../support/datapath-sandbox.ts';
import { finished, startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import { waitForObject } from '../support/wait.ts';

const MiB = 1024 * 1024;
const DISK_BYTES = 8 * MiB;
/** The fixture's datapath cycle (its recovery point interval). */
const INTERVAL_MS = 1500;
const R1 = 'westeurope';
const R2 = 'francecentral';
const rgA = 'outage-a';
const rgB = 'outage-b';
const rgC = 'outage-c';
/** Short deadlines, so that a hung request fails within seconds (the defaults are 30 s/120 s ARM, 60 s/90 s storage). */
const AZURE: Partial<AzureConfig> = { requestTimeoutMs: 3000, callTimeoutMs: 8000, lroTimeoutMs: 10_000, storageTimeoutMs: 4000, storageCallTimeoutMs: 6000 };

let fx: FailoverFixture;
let az: AzureClients;
let vmA: { sourceVmId: string; diskIds: string[] };
let workloadA: Workload;
let workloadB: Workload;
let failedOverDiskIds: string[];
const conn = () => ({ endpoint: fx.sb.arm.endpoint, token: fx.sb.token });
const ref = (name: string) => ({ namespace: fx.ns, name });
const waitVm = (name: string, what: string, predicate: (o: ReplicatedVM | undefined) => boolean, timeoutMs = 60_000) => waitForObject(fx.kc, fx.clients.vms, ref(name), predicate, what, timeoutMs);
const sealed = (o: ReplicatedVM | undefined) => o?.status?.replication?.cycle ?? 0;
const outage = (o: ReplicatedVM | undefined) => findCondition(o?.status?.conditions, 'SourceRegionUnavailable');
/** The RPO a reader of status computes: the age of the newest point, in seconds. */
const rpoOf = (o: ReplicatedVM | undefined) => (Date.now() - Date.parse(o?.status?.lastRecoveryPoint?.time ?? '')) / 1000;
/** site_recovery_datapath_rpo_seconds of a VM (the datapath runs in this process). */
const rpoMetric = async (name: string) => (await rpoGauge.get()).values.find((v) => v.labels.namespace === fx.ns && v.labels.name === name)?.value ?? 0;
const succeeded = (o: FailoverRequest | undefined) => o?.status?.conditions?.find((c) => c.type === 'Succeeded');
const step = (o: FailoverRequest | undefined, name: string) => o?.status?.steps?.find((s) => s.name === name);
/** Requests to start the original VM A, from the ARM emulator's request log (complete: it holds 5000, and every request is counted). */
function startsOfA() {
  const { stats } = fx.sb.arm;
  expect(Object.values(stats.byOperation()).reduce((x, y) => x + y, 0), 'requests logged').toBe(stats.total);
  return stats.requests({ method: 'POST', path: new RegExp(`/resourceGroups/${rgA}/providers/Microsoft.Compute/virtualMachines/a/start$`, 'i') });
}

beforeAll(async () => {
  fx = await startFailoverFixture({ namespacePrefix: 'outage-e2e', rg: rgA, vmName: 'a', disks: 2, diskBytes: DISK_BYTES, azure: AZURE });
  az = new AzureClients(fx.sb.azure);
  for (const [i, id] of fx.sourceDiskIds.entries()) await writeRandom(diskBlob(fx.sb, id), MiB, MiB * (1 + i));
  await fx.runInProcess('dp-outage-e2e');
  await fx.protect(2);
  vmA = { sourceVmId: fx.sourceVmId, diskIds: fx.sourceDiskIds };
  const vmB = await fx.protectVm({ rg: rgB, name: 'b', location: R2 }, 2);
  const vmC = await fx.protectVm({ rg: rgC, name: 'c', location: R1, disks: 1 }, 1);
  await writeRandom(diskBlob(fx.sb, vmC.diskIds[0] as string), MiB, 2 * MiB);
  const load = { spanBytes: 4 * MiB, rateBytesPerSecond: 256 * 1024 };
  workloadA = startWorkload(fx.sb, vmA.diskIds, load);
  workloadB = startWorkload(fx.sb, vmB.diskIds, load);
  await waitVm('a', 'A to seal a point with the load running', (o) => sealed(o) >= 4);
  const cWritten = sealed(await fx.clients.vms.get(ref('c')));
  await waitVm('c', "C to seal a point holding its last writes", (o) => sealed(o) >= cWritten + 2);
}, 400_000);

afterAll(async () => {
  await workloadA?.stop().catch(() => undefined);
  await workloadB?.stop().catch(() => undefined);
  if (fx) await endOutage(conn(), R1).catch(() => undefined);
  await fx?.close();
});

describe(`${R1} goes down`, () => {
  it('A reports SourceRegionUnavailable in time, its RPO grows; B keeps sealing on schedule; a hung storage call fails by its deadline', async () => {
    const cacheA = (await fx.clients.vms.get(ref('a')))?.status?.cacheStorageAccountId as string;
    const blobs = new BlobAccess(new AzureClients({ ...fx.sb.azure, ...AZURE }), fx.sb.azure.credential, { tryTimeoutMs: AZURE.storageTimeoutMs });
    const cache = await blobs.service(cacheA); // the endpoint comes from ARM, which will not answer for it
    // A's VM stops with its region: its writes end here.
    await workloadA.stop();
    const bStart = sealed(await fx.clients.vms.get(ref('b')));
    const downAt = Date.now();
    await startOutage(conn(), R1);

    const reported = await waitVm('a', 'A to report SourceRegionUnavailable', (o) => outage(o)?.status === 'True', 2 * INTERVAL_MS + 60_000);
    expect(Date.now() - downAt).toBeLessThan(2 * INTERVAL_MS + 60_000);
    expect(outage(reported)).toMatchObject({ reason: 'SourceRegionUnavailable' });
    expect(outage(reported)?.message).toMatch(new RegExp(`^source region ${R1} unreachable since \\S+Z: `));
    const since = Date.parse(/since (\S+Z):/.exec(outage(reported)?.message ?? '')?.[1] ?? '');
    expect(since).toBeGreaterThanOrEqual(downAt - INTERVAL_MS - 2000);
    expect(findCondition(reported?.status?.conditions, 'Replicating')).toMatchObject({ status: 'False', reason: 'SourceRegionUnavailable' });
    // A's RPO keeps growing: in the RPO metric, and in status as the age of the newest point's time, which
    // stays put (status carries the time, not the age).
    const rpo = await rpoMetric('a');
    await vi.waitFor(async () => expect(await rpoMetric('a')).toBeGreaterThanOrEqual(rpo + 3), { timeout: 30_000, interval: 250 });
    const later = await fx.clients.vms.get(ref('a'));
    expect(sealed(later)).toBe(sealed(reported));
    expect(later?.status?.lastRecoveryPoint?.time).toBe(reported?.status?.lastRecoveryPoint?.time);
    expect(rpoOf(later)).toBeGreaterThanOrEqual(rpo + 3);

    // The cache account hangs or resets: a call fails within the storage call deadline, as "no answer".
    const callStart = Date.now();
    const error = await cache.getContainerClient('probe').getProperties().then(() => undefined, (e: unknown) => e);
    expect(Date.now() - callStart).toBeLessThan(AZURE.storageCallTimeoutMs! + 1000);
    expect(error).toMatchObject({ code: 'ETIMEDOUT' });
    expect(unanswered(error)).toBe(true);

    // B, in the other region, kept its schedule: at least N-1 new points in N intervals, and no outage.
    const b = await fx.clients.vms.get(ref('b'));
    const intervals = Math.floor((Date.now() - downAt) / INTERVAL_MS);
    expect(sealed(b) - bStart, `B sealed ${sealed(b) - bStart} points in ${intervals} intervals`).toBeGreaterThanOrEqual(intervals - 1);
    expect(outage(b)).toBeUndefined();
    expect(findCondition(b?.status?.conditions, 'Replicating')?.status).toBe('True');
    expect(workloadB.writes).toBeGreaterThan(0);
  });

  it('refuses a Planned failover of A at once, creating nothing', async () => {
    const started = Date.now();
    await fx.failovers.create(fx.ns, { metadata: { name: 'a-planned' }, spec: { replicatedVMName: 'a', type: 'Planned' } });
    const fo = await waitForObject(fx.kc, fx.failovers, ref('a-planned'), finished, 'refusal', 30_000);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(fo?.status?.phase).toBe('Failed');
    expect(succeeded(fo)).toMatchObject({ status: 'False', reason: 'SourceRegionUnavailable' });
    expect(succeeded(fo)?.message).toMatch(/use an Unplanned failover/);
    expect(fo?.status?.targetResources ?? []).toEqual([]);
    expect(startsOfA()).toEqual([]);
  });

  it('fails A over Unplanned from Latest: the newest sealed point after the final sync timeout, disks equal to it', async () => {
    await fx.failovers.create(fx.ns, { metadata: { name: 'a-down' }, spec: { replicatedVMName: 'a', type: 'Unplanned', recoveryPoint: 'Latest', finalSyncTimeout: '3s' } });
    const fo = await waitForObject(fx.kc, fx.failovers, ref('a-down'), finished, 'unplanned failover', 120_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    expect(step(fo, 'FinalSync')).toMatchObject({ state: 'Succeeded', message: 'final sync did not finish within 3s (source region unreachable?); using the newest sealed point' });
    expect(fo?.status?.recoveryPointReason).toBe('the newest sealed point, as the final sync did not finish within 3s (source region unreachable?)');
    const newest = (await listRecoveryPoints(fx.kc, fx.ns, 'a')).sort((x, y) => y.spec.time.localeCompare(x.spec.time))[0] as RecoveryPoint;
    expect(fo?.status?.recoveryPointName).toBe(newest.metadata.name);
    expect(step(fo, 'SelectRecoveryPoint')?.message).toContain(`${newest.metadata.name} (`);

    failedOverDiskIds = await fx.diskIdsOf(`${rgA}-asr`, 'a');
    const disks = newest.spec.disks.slice().sort((x, y) => Number(y.role === 'OS') - Number(x.role === 'OS') || (x.lun ?? 0) - (y.lun ?? 0));
    expect(failedOverDiskIds).toHaveLength(disks.length);
    for (const [i, id] of failedOverDiskIds.entries()) expect(await fx.diskHash(id), disks[i]?.name).toBe(await hashBlob(fx.pointSnapshot(newest, disks[i]?.name as string)));
    expect(await powerState(az, fo?.status?.targetVirtualMachineId as string)).toBe('running');
    expect(startsOfA()).toEqual([]);
  });

  it('fails C over Unplanned from LatestProcessed without waiting on the dead region, its disk equal to its newest point', async () => {
    const newest = (await listRecoveryPoints(fx.kc, fx.ns, 'c')).sort((x, y) => y.spec.time.localeCompare(x.spec.time))[0] as RecoveryPoint;
    const started = Date.now();
    await fx.failovers.create(fx.ns, { metadata: { name: 'c-down' }, spec: { replicatedVMName: 'c', type: 'Unplanned', recoveryPoint: 'LatestProcessed' } });
    const fo = await waitForObject(fx.kc, fx.failovers, ref('c-down'), finished, 'unplanned failover from LatestProcessed', 120_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    // No step waited for a deadline of the dead region (an ARM call's is 8 s here, a final sync's 5 min).
    expect(Date.now() - started).toBeLessThan(AZURE.callTimeoutMs!);
    expect(step(fo, 'FinalSync')).toBeUndefined();
    expect(fo?.status?.recoveryPointName).toBe(newest.metadata.name);
    const [disk] = await fx.diskIdsOf(`${rgC}-asr`, 'c');
    expect(await fx.diskHash(disk as string)).toBe(await hashBlob(fx.pointSnapshot(newest, newest.spec.disks[0]?.name as string)));
    expect(await powerState(az, fo?.status?.targetVirtualMachineId as string)).toBe('running');
  });
});

describe(`${R1} comes back`, () => {
  it('commits and re-protects from the original disks; the original VM is deallocated and never started', async () => {
    expect(await endOutage(conn(), R1)).toBe(true);
    await fx.failovers.mergePatch(ref('a-down'), { spec: { commit: true, reprotect: true } });
    const fo = await waitForObject(fx.kc, fx.failovers, ref('a-down'), (o) => o?.status?.conditions?.some((c) => c.type === 'Reprotected' && c.status === 'True') ?? false, 'reprotected', 180_000);
    expect(fo?.status?.phase).toBe('Committed');
    expect(step(fo, 'DeallocateSourceVirtualMachine')?.state).toBe('Succeeded');
    expect(await powerState(az, vmA.sourceVmId)).toBe('deallocated');
    const reverse = await fx.clients.vms.get(ref('a-reverse'));
    expect(reverse?.spec).toMatchObject({ targetLocation: R1, targetResourceGroup: rgA, seedVirtualMachineId: vmA.sourceVmId });
    expect(reverse?.status?.initialSync?.bytesMatched, JSON.stringify(reverse?.status?.initialSync)).toBeGreaterThan(0);
    expect(startsOfA()).toEqual([]);
  });

  it('fails back with a Planned failover of the reverse ReplicatedVM: A runs again in its region with the failed-over data', async () => {
    expect(await powerState(az, vmA.sourceVmId)).toBe('deallocated');
    expect(startsOfA()).toEqual([]);
    await fx.failovers.create(fx.ns, { metadata: { name: 'a-back' }, spec: { replicatedVMName: 'a-reverse', type: 'Planned' } });
    const fo = await waitForObject(fx.kc, fx.failovers, ref('a-back'), finished, 'failback', 180_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    expect(fo?.status?.targetVirtualMachineId?.toLowerCase()).toBe(vmA.sourceVmId.toLowerCase());
    expect(await powerState(az, vmA.sourceVmId)).toBe('running');
    const back = await fx.diskIdsOf(rgA, 'a');
    for (const [i, id] of failedOverDiskIds.entries()) expect(await fx.diskHash(back[i] as string), `disk ${i}`).toBe(await fx.diskHash(id));
    // The checks above see a start of A when there is one.
    await fx.sb.c.compute.virtualMachines.beginStartAndWait(rgA, 'a', { updateIntervalInMs: 50 });
    expect(startsOfA()).toHaveLength(1);
  });
});
