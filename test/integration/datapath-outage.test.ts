// The datapath in a source-region outage (issue #14): two VMs replicating from two regions through one
// in-process replica; VM A's region "goes down" (the ARM emulator hangs, then answers 503 to everything
// under A's restore point collection) while VM B's keeps working. B keeps sealing points on schedule; A
// shows SourceRegionUnavailable with a since-time, its RPO grows in status and in the metric and its
// health degrades by the policy's thresholds; once the faults are gone A recovers. Hung requests exercise
// the per-attempt timeout and the per-call deadline of the ARM clients (short ones here).
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReplicatedVM } from '../../src/api/types.ts';
import { findCondition } from '../../src/runtime/conditions.ts';
import { buildDatapath, type Datapath } from '../../src/datapath/datapath.ts';
import { createPolicy, createProtectedVm, replicatedVms, startDatapathSandbox, SOURCE_LOCATION, type DatapathSandbox, type ProtectedVm } from '../support/datapath-sandbox.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';
import { waitForObject } from '../support/wait.ts';

const INTERVAL_MS = 3000;
const OTHER_LOCATION = 'francecentral';
const MiB = 1024 * 1024;

let sb: DatapathSandbox;
let kc: KubeConfig;
let ns: string;
let a: ProtectedVm;
let b: ProtectedVm;
let datapath: Datapath;
const stop = new AbortController();
let running: Promise<void>;

const waitVm = (vm: ProtectedVm, what: string, predicate: (o: ReplicatedVM | undefined) => boolean, timeoutMs = 60_000) =>
  waitForObject(kc, replicatedVms(kc), { namespace: ns, name: vm.name }, predicate, what, timeoutMs);
const sealed = (o: ReplicatedVM | undefined) => o?.status?.replication?.cycle ?? 0;
const outage = (o: ReplicatedVM | undefined) => findCondition(o?.status?.conditions, 'SourceRegionUnavailable');
const sinceOf = (o: ReplicatedVM | undefined) => Date.parse(/unreachable since (\S+Z):/.exec(outage(o)?.message ?? '')?.[1] ?? '');
/** Everything A's capture asks ARM: its restore point collection, restore points and disk restore point grants. */
const aPath = () => `/restorePointCollections/${a.collection.name}`;

/** The RPO a reader of status computes: the age of the newest point, in seconds. */
const rpoOf = (o: ReplicatedVM | undefined) => (Date.now() - Date.parse(o?.status?.lastRecoveryPoint?.time ?? '')) / 1000;

async function metric(name: string, vm: ProtectedVm): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${datapath.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{namespace="${ns}",name="${vm.name}"}`));
  return Number(line?.split(' ').at(-1));
}

beforeAll(async () => {
  sb = await startDatapathSandbox();
  kc = testKubeConfig();
  ns = await createTestNamespace(kc, 'dp-outage');
  await createPolicy(kc, ns, 'fast', { rpoWarningThreshold: '15s', rpoCriticalThreshold: '30s' });
  // B replicates from another region, through a cache account of its own region.
  const cacheB = await sb.c.storage.storageAccounts.beginCreateAndWait('dp-asr', 'dpcachefr', { location: OTHER_LOCATION, sku: { name: 'Standard_LRS' }, kind: 'StorageV2' }, { updateIntervalInMs: 20 });
  const small = { dataDisks: 1, diskBytes: 16 * MiB, seedBytes: MiB };
  a = await createProtectedVm(sb, kc, ns, 'vma', small);
  b = await createProtectedVm(sb, kc, ns, 'vmb', { ...small, location: OTHER_LOCATION, resourceGroup: `src-${ns}-fr`.slice(0, 60), cacheAccountId: cacheB.id! });
  datapath = buildDatapath({
    kubeConfig: kc,
    // Short deadlines, so that hung requests fail within a cycle or two: 2 s per attempt, 5 s per call, 8 s per LRO.
    azure: { ...sb.azure, requestTimeoutMs: 2000, callTimeoutMs: 5000, lroTimeoutMs: 8000, maxRetries: 3 },
    identity: 'dp-outage',
    namespace: ns,
    watchNamespace: ns,
    port: 0,
    leaseDurationMs: 3000,
    worker: { cycleIntervalMs: INTERVAL_MS, statusIntervalMs: 500, retryMs: 300 },
  });
  running = datapath.run(stop.signal);
  await waitVm(a, 'A to seal its first point', (o) => Boolean(o?.status?.lastRecoveryPoint), 90_000);
  await waitVm(b, 'B to seal its first point', (o) => Boolean(o?.status?.lastRecoveryPoint), 90_000);
});

afterAll(async () => {
  sb?.arm.faults.clear();
  stop.abort();
  await running?.catch(() => undefined);
  await sb?.close();
});

describe('datapath in a source-region outage', () => {
  it("A's region stops answering: A reports SourceRegionUnavailable, its RPO grows and health degrades; B keeps sealing on schedule", async () => {
    const bStart = sealed(await replicatedVms(kc).get({ namespace: ns, name: b.name }));
    const downAt = Date.now();
    // First the region hangs: every request to it waits until the client gives up (deadlines).
    const hang = sb.arm.faults.inject({ kind: 'hang', path: aPath(), count: 1e9 });

    const reported = await waitVm(a, 'A to report SourceRegionUnavailable', (o) => outage(o)?.status === 'True', 2 * INTERVAL_MS + 60_000);
    expect(Date.now() - downAt).toBeLessThan(2 * INTERVAL_MS + 60_000);
    expect(outage(reported)).toMatchObject({ status: 'True', reason: 'SourceRegionUnavailable' });
    expect(outage(reported)?.message).toMatch(new RegExp(`^source region ${SOURCE_LOCATION} unreachable since \\S+Z: ETIMEDOUT: .*no answer within`));
    const since = sinceOf(reported);
    expect(since).toBeGreaterThanOrEqual(downAt - INTERVAL_MS - 1000); // a capture already under way when it went down
    expect(since).toBeLessThanOrEqual(downAt + 2 * INTERVAL_MS);
    expect(findCondition(reported?.status?.conditions, 'Replicating')).toMatchObject({ status: 'False', reason: 'SourceRegionUnavailable' });
    expect(hang.hits).toBeGreaterThan(0);

    // Then it answers 503: the same outage (same since), now with the region's error.
    const unavailable = sb.arm.faults.inject({ kind: 'error', path: aPath(), status: 503, code: 'ServiceUnavailable', message: 'The service is unavailable in this region.', count: 1e9 });
    sb.arm.faults.remove(hang.id);
    const answered503 = await waitVm(a, 'the outage message to show the 503', (o) => /ServiceUnavailable/.test(outage(o)?.message ?? ''));
    expect(sinceOf(answered503)).toBe(since);

    // The RPO keeps growing, in status (the age of the newest point's time, which stays put) and in the metric.
    const warning = await waitVm(a, "A's health to turn Warning (RPO above 15s)", (o) => o?.status?.health === 'Warning');
    expect(rpoOf(warning)).toBeGreaterThanOrEqual(15);
    const rpoAtWarning = await metric('site_recovery_datapath_rpo_seconds', a);
    expect(rpoAtWarning).toBeGreaterThanOrEqual(15);
    const critical = await waitVm(a, "A's health to turn Critical (RPO above 30s)", (o) => o?.status?.health === 'Critical');
    expect(critical?.status?.lastRecoveryPoint?.time).toBe(warning?.status?.lastRecoveryPoint?.time);
    expect(rpoOf(critical)).toBeGreaterThan(30);
    expect(outage(critical)?.status).toBe('True');
    expect(await metric('site_recovery_datapath_rpo_seconds', a)).toBeGreaterThan(Math.max(30, rpoAtWarning));
    expect(await metric('site_recovery_datapath_source_region_unavailable', a)).toBe(1);
    expect(unavailable.hits).toBeGreaterThan(0);

    // B, in the other region, kept its schedule: at least N new points in N+1 intervals.
    const bNow = (await replicatedVms(kc).get({ namespace: ns, name: b.name }))!;
    const intervals = Math.floor((Date.now() - downAt) / INTERVAL_MS);
    expect(sealed(bNow) - bStart, `B sealed ${sealed(bNow) - bStart} points in ${intervals} intervals`).toBeGreaterThanOrEqual(intervals - 1);
    expect(bNow.status?.health).toBe('Normal');
    expect(outage(bNow)).toBeUndefined();
    expect(findCondition(bNow.status?.conditions, 'Replicating')?.status).toBe('True');
    expect(await metric('site_recovery_datapath_source_region_unavailable', b)).toBe(0);
  });

  it('the region answers again: A captures, seals new points and reports the outage over', async () => {
    const before = sealed(await replicatedVms(kc).get({ namespace: ns, name: a.name }));
    sb.arm.faults.clear();
    const recovered = await waitVm(a, 'A to seal a new point and report the region available', (o) => sealed(o) > before && outage(o)?.status === 'False');
    expect(outage(recovered)).toMatchObject({ status: 'False', reason: 'SourceRegionAvailable' });
    const normal = await waitVm(a, "A's health back to Normal", (o) => o?.status?.health === 'Normal' && findCondition(o.status.conditions, 'Replicating')?.status === 'True');
    expect(rpoOf(normal)).toBeLessThan(15);
    expect(await metric('site_recovery_datapath_rpo_seconds', a)).toBeLessThan(15);
    expect(await metric('site_recovery_datapath_source_region_unavailable', a)).toBe(0);
  });
});
