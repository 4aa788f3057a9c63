// A quiet steady state (issue #17): a few protected VMs, the operator and a datapath replica in this
// process, nothing changing. Over several recovery point intervals the operator makes no Azure call
// (the datapath's cycles are the only ARM traffic), no ReplicatedVM, ReplicationPolicy or NetworkMapping
// is reconciled for the datapath's status writes, and the datapath writes each VM's status about once per
// sealed point (the age of the point is computed by readers, not written). The drift check still looks at
// Azure at its interval.
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ReplicatedVM } from '../../src/api/types.ts';
import { buildDatapath } from '../../src/datapath/datapath.ts';
import { buildOperator } from '../../src/operator/run-operator.ts';
import { reconcileTotal } from '../../src/runtime/metrics.ts';
import { createSmallVm, DISK_BYTES, startDatapathSandbox, type DatapathSandbox } from '../support/datapath-sandbox.ts';
import { chartServiceAccountKubeConfig } from '../support/helm-rbac.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';
import { crClients, type Clients } from '../support/operator-fixtures.ts';
import { waitForObject } from '../support/wait.ts';

const VMS = ['quiet-a', 'quiet-b', 'quiet-c'];
const CYCLE_MS = 1500;
/** Intervals the quiet window lasts: every VM seals this many more points. */
const INTERVALS = 6;

let sb: DatapathSandbox;
let kc: KubeConfig;
let ns: string;
let clients: Clients;
const stop = new AbortController();
const running: Array<Promise<void>> = [];
let stopOperator = new AbortController();
let operator: Promise<void>;
let operatorKc: KubeConfig;
/** MODIFIED events of each ReplicatedVM seen by a watch (every status write that changed the object). */
const modified = new Map<string, number>();

/** The capacity check's calls: Resource Skus - List and Usage - List. */
const CAPACITY_CALLS = /\/providers\/Microsoft\.Compute\/(skus|locations\/[^/]+\/usages)$/i;

const cycle = (o: ReplicatedVM | undefined) => o?.status?.replication?.cycle ?? 0;

async function reconciles(): Promise<Record<string, number>> {
  const metric = await reconcileTotal.get();
  const counts: Record<string, number> = {};
  for (const v of metric.values) counts[String(v.labels.kind)] = (counts[String(v.labels.kind)] ?? 0) + v.value;
  return counts;
}

beforeAll(async () => {
  sb = await startDatapathSandbox();
  kc = testKubeConfig();
  ns = await createTestNamespace(kc, 'quiet');
  clients = crClients(kc);
  await clients.policies.create(ns, { metadata: { name: 'fast' }, spec: { recoveryPointInterval: '1m', retention: '1h' } });
  for (const name of VMS) {
    const rg = `${name}-rg`;
    const source = await createSmallVm(sb, rg, name, 1, DISK_BYTES);
    const vnet = `/subscriptions/${sb.arm.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${rg}-vnet`;
    await clients.mappings.create(ns, { metadata: { name: `${name}-net` }, spec: { sourceVirtualNetworkId: vnet, targetLocation: 'northeurope', targetResourceGroup: `${rg}-asr` } });
    await clients.vms.create(ns, { metadata: { name }, spec: { sourceVirtualMachineId: source.id as string, targetLocation: 'northeurope', policyRef: { name: 'fast' }, networkMappingRef: { name: `${name}-net` } } });
  }
  operatorKc = await chartServiceAccountKubeConfig(kc, 'operator', ns);
  const datapathKc = await chartServiceAccountKubeConfig(kc, 'datapath', ns);
  operator = buildOperator({ kubeConfig: operatorKc, azure: sb.azure, namespace: ns, workers: 4 }).run(AbortSignal.any([stop.signal, stopOperator.signal]));
  running.push(operator);
  running.push(
    buildDatapath({ kubeConfig: datapathKc, azure: sb.azure, identity: 'dp-quiet', namespace: ns, watchNamespace: ns, port: 0, leaseDurationMs: 3000, worker: { cycleIntervalMs: CYCLE_MS, statusIntervalMs: 500, retryMs: 300 } }).run(stop.signal),
  );
  for (const name of VMS) {
    await waitForObject(kc, clients.vms, { namespace: ns, name }, (o) => o?.status?.phase === 'Protected' && cycle(o) >= 2, `${name} protected`, 180_000);
  }
  const request = await new Watch(kc).watch(`/apis/siterecovery.io/v1alpha1/namespaces/${ns}/replicatedvms`, {}, (phase, o: ReplicatedVM) => {
    if (phase === 'MODIFIED') modified.set(o.metadata.name ?? '', (modified.get(o.metadata.name ?? '') ?? 0) + 1);
  }, () => undefined);
  stop.signal.addEventListener('abort', () => request.abort(), { once: true });
}, 300_000);

afterAll(async () => {
  stop.abort();
  await Promise.allSettled([...running, operator]);
  await sb?.close();
});

describe('a quiet steady state', () => {
  it(`makes no operator Azure call and no reconcile on status-only updates over ${INTERVALS} intervals`, async () => {
    const start = new Map<string, number>();
    for (const name of VMS) start.set(name, cycle(await clients.vms.get({ namespace: ns, name })));
    await sb.arm.idle();
    sb.arm.stats.reset();
    modified.clear();
    const before = await reconciles();

    for (const name of VMS) {
      await waitForObject(kc, clients.vms, { namespace: ns, name }, (o) => cycle(o) >= start.get(name)! + INTERVALS, `${name} sealed ${INTERVALS} more points`, 120_000);
    }
    const after = await reconciles();
    const operations = sb.arm.stats.byOperation();
    // This file's own resource groups: the sandbox's ARM emulator is shared with test files running beside it.
    const ours = new RegExp(`/resourcegroups/(${VMS.map((name) => `${name}-rg`).join('|')})(-asr)?(/|$)`, 'i');
    const requests = sb.arm.stats.requests().filter((r) => ours.test(r.path));
    const writes = Object.fromEntries(VMS.map((name) => [name, modified.get(name) ?? 0]));
    console.log(JSON.stringify({ intervals: INTERVALS, armTotal: sb.arm.stats.total, operations, reconciles: Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - (before[k] ?? 0)])), statusWritesPerVm: writes }, null, 2));

    // The operator's resources are not read between drift checks: only the datapath's cycles reach ARM.
    const operatorReads = requests.filter(
      (r) =>
        /^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+$/i.test(r.path) ||
        /\/providers\/Microsoft\.(Network\/virtualNetworks|Network\/networkInterfaces|Storage\/storageAccounts)\b/i.test(r.path),
    );
    expect(operatorReads.map((r) => `${r.method} ${r.path}`)).toEqual([]);
    // Nor the target region's capacity (CapacityAtRisk is asked at the drift-check cadence; this emulator is this file's own).
    expect(sb.arm.stats.requests({ path: CAPACITY_CALLS }).map((r) => `${r.method} ${r.path}`)).toEqual([]);
    // No reconcile of what the datapath's status writes touch.
    for (const kind of ['ReplicatedVM', 'ReplicationPolicy', 'NetworkMapping']) expect(after[kind] ?? 0, kind).toBe(before[kind] ?? 0);
    // A status write per VM per sealed point, and one more when the status check sees a cycle still pending
    // (before: one at every status check, the RPO having changed — about 4 per interval here).
    for (const name of VMS) expect(writes[name], name).toBeLessThanOrEqual(2 * INTERVALS + 1);
  }, 180_000);

  it('still looks at Azure once per drift check interval', async () => {
    stopOperator.abort();
    await operator;
    stopOperator = new AbortController();
    const vmReconciles = async () => (await reconciles()).ReplicatedVM ?? 0;
    const before = await vmReconciles();
    sb.arm.stats.reset();
    const startedAt = Date.now();
    operator = buildOperator({ kubeConfig: operatorKc, azure: sb.azure, namespace: ns, workers: 4, resyncMs: 3000 }).run(AbortSignal.any([stop.signal, stopOperator.signal]));
    // A pass per VM when the operator starts, then one per drift check (3 s ± 20 %).
    await vi.waitFor(async () => expect(await vmReconciles()).toBeGreaterThanOrEqual(before + 3 * VMS.length), { timeout: 60_000, interval: 200 });
    const elapsed = Date.now() - startedAt;
    expect(elapsed).toBeGreaterThanOrEqual(2 * 2400);
    expect(await vmReconciles()).toBeLessThanOrEqual(before + VMS.length * (1 + Math.ceil(elapsed / 2400)));
    // A drift check reads what the operator created for each VM.
    expect(sb.arm.stats.requests({ method: 'GET', path: /\/resourcegroups\/quiet-a-rg-asr$/i }).length).toBeGreaterThanOrEqual(3);
    // ... and asks about the target region's capacity: its SKUs and usages, read once per drift check
    // interval for all the VMs failing over there.
    const capacity = sb.arm.stats.requests({ path: CAPACITY_CALLS }).length;
    expect(capacity).toBeGreaterThanOrEqual(2);
    expect(capacity).toBeLessThanOrEqual(2 * (1 + Math.ceil(elapsed / 2250)));
  }, 120_000);
});
