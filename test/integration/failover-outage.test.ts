// Failover with the source region down, emulated by the ARM emulator's fault injection (every call into
// the source resource group and the restore point collections answers 503 or drops the connection) and by
// a stopped datapath (a sync-now never gets an answer). Two protected VMs in one source resource group:
// `app` is refused a Planned failover (flagged by its ReplicatedVM's condition, then by the source region
// not answering) and then fails over Unplanned from `Latest` after the final sync's deadline; `db` fails
// over Unplanned from `LatestProcessed`. Each failed-over VM's disks equal the chosen point byte for byte.
// Last, re-protect waits for the original region instead of failing, and deallocates the original VM
// once it answers again.
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FailoverRequest, RecoveryPoint } from '../../src/api/types.ts';
import type { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { createSmallVm, diskBlob, hashBlob, listRecoveryPoints, writeRandom } from '../support/datapath-sandbox.ts';
import { finished, startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import { enforceShippedRoles, nothingRefused } from '../support/shipped-roles.ts';
import type { Clients } from '../support/operator-fixtures.ts';
import { waitForObject } from '../support/wait.ts';

const DISK_BYTES = 8 * 1024 * 1024;
const rg = 'outage-src';
/** The source region's ARM paths: the source resource group (not `outage-src-asr`) and the restore points. */
const SOURCE_GROUP = new RegExp(`/resourceGroups/${rg}/`, 'i');

let fx: FailoverFixture;
let kc: KubeConfig;
let ns: string;
let clients: Clients;
let failovers: CustomResourceClient<FailoverRequest>;
const sourceHashes = new Map<string, string[]>();
const foRef = (name: string) => ({ namespace: ns, name });
const succeeded = (o: FailoverRequest | undefined) => o?.status?.conditions?.find((c) => c.type === 'Succeeded');
const step = (o: FailoverRequest | undefined, name: string) => o?.status?.steps?.find((s) => s.name === name);
/** The failover's calls to the source VM's power (instance view, power off, deallocate, start) since `from`. */
const powerCalls = (vm: string, from = 0) => fx.sb.arm.stats.requests({ path: new RegExp(`/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${vm}/(instanceView|powerOff|deallocate|start)`, 'i') }).slice(from);

beforeAll(async () => {
  fx = await startFailoverFixture({ principals: true, namespacePrefix: 'fo-outage', rg, vmName: 'app', disks: 2, diskBytes: DISK_BYTES });
  enforceShippedRoles(fx.sb);
  ({ kc, ns, clients, failovers } = fx);
  await createSmallVm(fx.sb, rg, 'db', 2, DISK_BYTES);
  for (const vm of ['app', 'db']) {
    const disks = await fx.diskIdsOf(rg, vm);
    for (const [i, id] of disks.entries()) await writeRandom(diskBlob(fx.sb, id), 1024 * 1024, 1024 * 1024 * (1 + i));
    sourceHashes.set(vm, await Promise.all(disks.map((id) => fx.diskHash(id))));
  }
  await fx.runInProcess('dp-outage', { failover: { sourceProbeTimeoutMs: 3_000 } });
  await fx.protect(2);
  const source = (await fx.sb.c.compute.virtualMachines.get(rg, 'db')).id as string;
  await clients.vms.create(ns, { metadata: { name: 'db' }, spec: { sourceVirtualMachineId: source, targetLocation: 'northeurope', policyRef: { name: 'fast' }, networkMappingRef: { name: 'net' } } });
  await waitForObject(kc, clients.vms, foRef('db'), (o) => o?.status?.phase === 'Protected' && (o.status.replication?.cycle ?? 0) >= 2, 'db protected', 180_000);
  // No more writes, and from here on no datapath: every sealed point equals the source disks.
  await fx.stopDatapath();
}, 300_000);

afterAll(async () => {
  fx?.sb.arm.faults.clear();
  await fx?.close();
});

/** Every disk of the failed-over VM equals the chosen point's replica snapshot and the source disk. */
async function expectByteExact(fo: FailoverRequest | undefined, vm: string): Promise<RecoveryPoint> {
  const points = await listRecoveryPoints(kc, ns, vm);
  const newest = points.sort((a, b) => b.spec.time.localeCompare(a.spec.time))[0] as RecoveryPoint;
  expect(fo?.status?.recoveryPointName).toBe(newest.metadata.name);
  const target = await fx.diskIdsOf(`${rg}-asr`, vm);
  const disks = newest.spec.disks.slice().sort((a, b) => Number(b.role === 'OS') - Number(a.role === 'OS') || (a.lun ?? 0) - (b.lun ?? 0));
  expect(target).toHaveLength(disks.length);
  for (const [i, id] of target.entries()) {
    const hash = await fx.diskHash(id);
    expect(hash, `${vm} ${disks[i]?.name} equals the point`).toBe(await hashBlob(fx.pointSnapshot(newest, disks[i]?.name as string)));
    expect(hash, `${vm} ${disks[i]?.name} equals the source`).toBe(sourceHashes.get(vm)?.[i]);
  }
  return newest;
}

it('refuses a Planned failover without calling Azure when the ReplicatedVM reports its source region unavailable', async () => {
  const condition = { type: 'SourceRegionUnavailable', status: 'True', reason: 'SourceUnreachable', message: 'westeurope does not answer', lastTransitionTime: new Date().toISOString() };
  await clients.vms.applyStatus(foRef('app'), { conditions: [condition] }, 'outage-test');
  const before = powerCalls('app').length;
  await failovers.create(ns, { metadata: { name: 'planned-flagged' }, spec: { replicatedVMName: 'app', type: 'Planned' } });
  const fo = await waitForObject(kc, failovers, foRef('planned-flagged'), finished, 'refusal', 60_000);
  expect(fo?.status?.phase).toBe('Failed');
  expect(succeeded(fo)).toMatchObject({ status: 'False', reason: 'SourceRegionUnavailable' });
  expect(succeeded(fo)?.message).toMatch(/westeurope does not answer.*use an Unplanned failover/);
  expect(step(fo, 'ShutdownSource')?.state).toBe('Pending');
  expect(powerCalls('app', before)).toEqual([]);
  await clients.vms.applyStatus(foRef('app'), { conditions: [] }, 'outage-test');
});

it('fails a Planned failover at once with SourceRegionUnavailable when the source region does not answer', async () => {
  fx.sb.arm.faults.inject({ kind: 'error', path: SOURCE_GROUP, status: 503, code: 'ServiceUnavailable', count: 1e9 });
  fx.sb.arm.faults.inject({ kind: 'drop', path: /restorePointCollections/i, count: 1e9 });
  await failovers.create(ns, { metadata: { name: 'planned-down' }, spec: { replicatedVMName: 'app', type: 'Planned' } });
  const fo = await waitForObject(kc, failovers, foRef('planned-down'), finished, 'refusal', 60_000);
  expect(fo?.status?.phase).toBe('Failed');
  expect(succeeded(fo)).toMatchObject({ status: 'False', reason: 'SourceRegionUnavailable' });
  expect(succeeded(fo)?.message).toMatch(/source region does not answer.*use an Unplanned failover/);
  expect(step(fo, 'ShutdownSource')?.state).toBe('Failed');
  expect(step(fo, 'FinalSync')?.state).toBe('Pending');
  expect(fo?.status?.targetResources ?? []).toEqual([]);
});

it('fails over Unplanned from LatestProcessed with nothing from the source region, byte for byte', async () => {
  const before = powerCalls('db').length;
  await failovers.create(ns, { metadata: { name: 'db-down' }, spec: { replicatedVMName: 'db', type: 'Unplanned' } });
  const fo = await waitForObject(kc, failovers, foRef('db-down'), finished, 'unplanned failover', 120_000);
  expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
  expect(fo?.status?.steps?.map((s) => s.name)).toEqual(['SelectRecoveryPoint', 'CreateDisks', 'CreateNetworkInterfaces', 'CreateVirtualMachine', 'StartVirtualMachine']);
  expect(fo?.status?.recoveryPointReason).toBe('the newest sealed point');
  await expectByteExact(fo, 'db');
  expect(powerCalls('db', before)).toEqual([]);
});

it('fails over Unplanned from Latest with the newest sealed point once the final sync deadline passes, saying so', async () => {
  const before = powerCalls('app').length;
  await failovers.create(ns, { metadata: { name: 'app-down' }, spec: { replicatedVMName: 'app', type: 'Unplanned', recoveryPoint: 'Latest', finalSyncTimeout: '3s' } });
  const fo = await waitForObject(kc, failovers, foRef('app-down'), finished, 'unplanned failover', 120_000);
  expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
  const finalSync = step(fo, 'FinalSync');
  expect(finalSync?.state).toBe('Succeeded');
  expect(finalSync?.message).toBe('final sync did not finish within 3s (source region unreachable?); using the newest sealed point');
  expect(Date.parse(finalSync?.completionTime ?? '') - Date.parse(finalSync?.startTime ?? '')).toBeGreaterThanOrEqual(3_000);
  expect(fo?.status?.recoveryPointReason).toBe('the newest sealed point, as the final sync did not finish within 3s (source region unreachable?)');
  const point = await expectByteExact(fo, 'app');
  expect(step(fo, 'SelectRecoveryPoint')?.message).toContain(`${point.metadata.name} (`);
  expect(step(fo, 'SelectRecoveryPoint')?.message).toContain('did not finish within 3s');
  expect(powerCalls('app', before)).toEqual([]);
});

it('re-protect waits while the original region does not answer, then deallocates the original VM and never starts it', async () => {
  const before = powerCalls('app').length;
  await failovers.mergePatch(foRef('app-down'), { spec: { commit: true, reprotect: true } });
  const waitingFo = await waitForObject(kc, failovers, foRef('app-down'), (o) => /original region does not answer/.test(step(o, 'DeallocateSourceVirtualMachine')?.message ?? ''), 're-protect waiting', 60_000);
  expect(step(waitingFo, 'DeallocateSourceVirtualMachine')?.state).toBe('Running');
  expect(waitingFo?.status?.conditions?.find((c) => c.type === 'Reprotected')).toMatchObject({ status: 'False', reason: 'Reprotecting' });
  expect(waitingFo?.status?.phase).toBe('Committed');

  fx.sb.arm.faults.clear();
  await waitForObject(kc, failovers, foRef('app-down'), (o) => step(o, 'DeallocateSourceVirtualMachine')?.state === 'Succeeded', 'original VM deallocated', 120_000);
  const view = await fx.sb.c.compute.virtualMachines.instanceView(rg, 'app');
  expect(view.statuses?.find((s) => s.code?.startsWith('PowerState/'))?.code).toBe('PowerState/deallocated');
  expect(powerCalls('app', before).filter((r) => /\/start$/i.test(r.path))).toEqual([]);
});

// Beyond azure-roles.test.ts's scenario: re-protect deallocates the original VM.
nothingRefused(() => fx.sb, { operator: ['Microsoft.Compute/virtualMachines/deallocate/action'] });
