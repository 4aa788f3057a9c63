// The DR system survives the region (DESIGN §2 "Regions fail"): a brand-new cluster, given the same
// manifests again as Argo CD would, adopts the target resources, rebuilds the RecoveryPoint objects from
// the replica snapshots' metadata in target storage, resumes replication where it stopped (no initial
// sync), resyncs only what differs when the journal in the cache account is lost, and fails over
// Unplanned from a rebuilt point byte for byte. While the source region is down, a new cluster restores
// the VM's registration from the replica container and rebuilds the points. The real operator and datapath run
// in this process, first against the test cluster, then against a second control plane started here.
import { BlockBlobClient } from '@azure/storage-blob';
import { sandboxStorageCredential } from '../../sandbox/src/storage/token.ts';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RESOURCE_ROLE } from '../../src/api/contract.ts';
import { parseArmId } from '../../src/azure/arm-id.ts';
import type { FailoverRequest, RecoveryPoint, ReplicatedVM } from '../../src/api/types.ts';
import { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { registry } from '../../src/runtime/metrics.ts';
import { startControlPlane, type ControlPlane } from '../../sandbox/src/kube/controlplane.ts';
import { endOutage, startOutage } from '../../sandbox/src/outage.ts';
import { diskBlob, hashBlob, listRecoveryPoints, SOURCE_LOCATION, writeRandom } from '../support/datapath-sandbox.ts';
import { finished, startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import { crClients, type Clients } from '../support/operator-fixtures.ts';
import { waitForObject } from '../support/wait.ts';

const DISK_BYTES = 16 * 1024 * 1024;
const WRITTEN = 2 * 1024 * 1024;
const rg = 'rebuild-src';
const vmName = 'app';

let fx: FailoverFixture;
let second: ControlPlane | undefined;
let down: FailoverFixture | undefined;
let third: ControlPlane | undefined;

beforeAll(async () => {
  fx = await startFailoverFixture({ namespacePrefix: 'rebuild', rg, vmName, disks: 2, diskBytes: DISK_BYTES });
  for (const [i, id] of fx.sourceDiskIds.entries()) await writeRandom(diskBlob(fx.sb, id), WRITTEN, 1024 * 1024 * (1 + i));
  await fx.runInProcess('dp-first');
  await fx.protect(3);
});

afterAll(async () => {
  await fx?.close();
  await second?.stop();
  await down?.close();
  await third?.stop();
});

const capturedBytes = async (ns: string) =>
  ((await registry.getSingleMetric('site_recovery_datapath_captured_bytes_total')?.get())?.values ?? [])
    .filter((v) => v.labels.namespace === ns && v.labels.name === vmName)
    .reduce((n, v) => n + v.value, 0);

it('a new cluster with the same manifests adopts, rebuilds the points, resumes without an initial sync, survives a lost journal and fails over from a rebuilt point byte for byte', async () => {
  const { ns } = fx;
  // The first cluster: what it sealed, what it recorded, what the source holds (no writes since protect).
  await fx.stopInProcess();
  const before = (await fx.clients.vms.get({ namespace: ns, name: vmName })) as ReplicatedVM;
  const points = await listRecoveryPoints(fx.kc, ns, vmName);
  expect(points.length).toBeGreaterThanOrEqual(3);
  const sourceHashes = await Promise.all(fx.sourceDiskIds.map((id) => fx.diskHash(id)));
  const accountsBefore = await listNames(() => fx.sb.c.storage.storageAccounts.listByResourceGroup(`${rg}-asr`));

  // A brand-new cluster: CRDs, the same namespace, the same manifests, the operator and the datapath.
  second = await startControlPlane();
  const kc2: KubeConfig = second.kubeConfig;
  await kc2.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  const clients2: Clients = crClients(kc2);
  await fx.applyManifests(clients2);
  // Changes made while no cluster replicated: the resumed cycle carries them, and only them.
  for (const id of fx.sourceDiskIds) await writeRandom(diskBlob(fx.sb, id), 64 * 1024, 8 * 1024 * 1024);
  await fx.runInProcess('dp-second', {}, kc2);

  // The points reappear with the same names and specs (time, consistency, cycle, disks and snapshots).
  const lastOld = Math.max(...points.map((p) => p.spec.cycle ?? 0));
  const resumed = await waitForObject(kc2, clients2.vms, { namespace: ns, name: vmName }, (o) => o?.status?.phase === 'Protected' && (o.status.replication?.cycle ?? 0) >= lastOld + 2, 'replication resumed with new points', 180_000);
  const rebuilt = await listRecoveryPoints(kc2, ns, vmName);
  const byName = new Map(rebuilt.map((p) => [p.metadata.name, p]));
  for (const point of points) {
    const again = byName.get(point.metadata.name);
    expect(again?.spec, point.metadata.name).toEqual(point.spec);
    expect(again?.metadata.labels).toEqual(point.metadata.labels);
    expect(again?.metadata.ownerReferences?.[0]?.uid).toBe(resumed?.metadata.uid);
  }
  const events = await kc2.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: ns, fieldSelector: 'reason=RecoveryPointsRebuilt' });
  expect(events.items.map((e) => e.message)).toEqual([expect.stringMatching(new RegExp(`^${points.length} recovery point\\(s\\) rebuilt`))]);

  // Adopted, not duplicated: the same resources, recorded as the operator's own.
  const roles = (vm: ReplicatedVM | undefined) => Object.fromEntries((vm?.status?.targetResources ?? []).map((r) => [r.role, r.id.toLowerCase()]));
  expect(roles(resumed)).toEqual(roles(before));
  expect(resumed?.status?.targetResources?.filter((r) => !r.created).map((r) => r.role)).toEqual([]);
  expect(await listNames(() => fx.sb.c.storage.storageAccounts.listByResourceGroup(`${rg}-asr`))).toEqual(accountsBefore);

  // Resumed, not restarted: numbering continues, the initial sync is the first cluster's, and only the
  // changes since the last point were captured (a full copy would move every written MiB again).
  expect(resumed?.status?.initialSync?.completionTime).toBe(before.status?.initialSync?.completionTime);
  const captured = await capturedBytes(ns);
  expect(captured).toBeGreaterThanOrEqual(2 * 64 * 1024);
  expect(captured).toBeLessThan(WRITTEN / 2);
  const newPoints = rebuilt.filter((p) => (p.spec.cycle ?? 0) > lastOld);
  expect(newPoints.length).toBeGreaterThanOrEqual(2);

  // The journal lost with the cache account: the resync copies only what differs from the replicas.
  await fx.stopInProcess();
  const cache = parseArmId(resumed?.status?.targetResources?.find((r) => r.role === RESOURCE_ROLE.cacheContainer)?.id ?? '');
  const origin = new URL(point0(points).spec.disks[0]?.blobUrl ?? '').origin;
  const account = cache.names[0] as string;
  await new BlockBlobClient(`${origin}/${account}/${cache.name}/journal.json`, sandboxStorageCredential()).delete();
  for (const id of fx.sourceDiskIds) await writeRandom(diskBlob(fx.sb, id), 64 * 1024, 10 * 1024 * 1024);
  await fx.runInProcess('dp-second', {}, kc2);
  const resynced = await waitForObject(kc2, clients2.vms, { namespace: ns, name: vmName }, (o) => Boolean(o?.status?.initialSync?.completionTime) && o?.status?.initialSync?.completionTime !== before.status?.initialSync?.completionTime, 'resynced after the journal was lost', 180_000);
  expect(resynced?.status?.initialSync?.bytesMatched).toBeGreaterThan(0);
  const recaptured = await capturedBytes(ns);
  expect(recaptured).toBeGreaterThanOrEqual(2 * 64 * 1024);
  expect(recaptured).toBeLessThan(WRITTEN / 2);
  expect((await listRecoveryPoints(kc2, ns, vmName)).map((p) => p.metadata.name)).toEqual(expect.arrayContaining(points.map((p) => p.metadata.name)));

  // Unplanned failover from a rebuilt point: the disks equal that point and the source when it was sealed.
  const point = points.sort((a, b) => (a.spec.cycle ?? 0) - (b.spec.cycle ?? 0)).at(-1) as RecoveryPoint;
  const failovers = new CustomResourceClient<FailoverRequest>(kc2, 'FailoverRequest');
  await failovers.create(ns, { metadata: { name: 'from-rebuilt' }, spec: { replicatedVMName: vmName, type: 'Unplanned', recoveryPoint: point.metadata.name as string } });
  const fo = await waitForObject(kc2, failovers, { namespace: ns, name: 'from-rebuilt' }, finished, 'unplanned failover', 120_000);
  expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
  expect(fo?.status?.recoveryPointName).toBe(point.metadata.name);
  const target = await fx.diskIdsOf(`${rg}-asr`, vmName);
  expect(target).toHaveLength(point.spec.disks.length);
  for (const [i, id] of target.entries()) {
    const hash = await fx.diskHash(id);
    expect(hash, `${point.spec.disks[i]?.name} equals the rebuilt point`).toBe(await hashBlob(fx.pointSnapshot(point, point.spec.disks[i]?.name as string)));
    expect(hash, `${point.spec.disks[i]?.name} equals the source when sealed`).toBe(sourceHashes[i]);
  }
});

it('while the source region is down, a new cluster restores the registration and the mapping from the target region, rebuilds the points and fails over from one byte for byte', async () => {
  const dx = (down = await startFailoverFixture({ namespacePrefix: 'rebuild-down', rg: 'regiondown-src', vmName, disks: 2, diskBytes: DISK_BYTES }));
  for (const [i, id] of dx.sourceDiskIds.entries()) await writeRandom(diskBlob(dx.sb, id), WRITTEN, 1024 * 1024 * (1 + i));
  // Short Azure deadlines for the new cluster's operator: the source region hangs as well as failing.
  const operator = { azure: { ...dx.sb.azure, requestTimeoutMs: 2000, callTimeoutMs: 5000 } };
  await dx.runInProcess('dp-before', operator);
  await dx.protect(2);
  await dx.stopInProcess();
  const { ns } = dx;
  const before = (await dx.clients.vms.get({ namespace: ns, name: vmName })) as ReplicatedVM;
  const points = await listRecoveryPoints(dx.kc, ns, vmName);

  // The source region goes down, and with it the first cluster; a brand-new one gets the same manifests.
  const control = { endpoint: dx.sb.arm.endpoint, token: dx.sb.token };
  await startOutage(control, SOURCE_LOCATION);
  try {
    third = await startControlPlane();
    const kc3: KubeConfig = third.kubeConfig;
    await kc3.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
    const clients3: Clients = crClients(kc3);
    await dx.applyManifests(clients3);
    await dx.runInProcess('dp-during', operator, kc3);

    // The registration comes back from the replica container, the points from the replica snapshots.
    const restored = await waitForObject(kc3, clients3.vms, { namespace: ns, name: vmName }, (o) => o?.status?.conditions?.some((c) => c.type === 'ReplicationEnabled' && c.reason === 'RestoredFromTargetRegion') ?? false, 'registration restored', 120_000);
    const ready = restored?.status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'SourceRegionUnavailable' });
    for (const field of ['disks', 'sourceLocation', 'sourceVmSize', 'sourceOsType', 'sourceNetworkInterfaces', 'targetResourceGroupId', 'targetStorageAccountId', 'targetVirtualNetworkId'] as const) {
      expect(restored?.status?.[field], field).toEqual(before.status?.[field]);
    }
    const pointClient = new CustomResourceClient<RecoveryPoint>(kc3, 'RecoveryPoint');
    for (const p of points) await waitForObject(kc3, pointClient, { namespace: ns, name: p.metadata.name as string }, Boolean, `${p.metadata.name} rebuilt`, 120_000);
    const rebuilt = await listRecoveryPoints(kc3, ns, vmName);
    expect(rebuilt.map((p) => p.spec)).toEqual(expect.arrayContaining(points.map((p) => p.spec)));

    // The mapping is read back from the target network, and a failover runs from a rebuilt point (a Test
    // one, so that the VM is registered from its source again once the region is back).
    const mapping = await waitForObject(kc3, clients3.mappings, { namespace: ns, name: 'net' }, (o) => o?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false, 'mapping resolved from the target network', 120_000);
    expect(mapping?.status?.conditions?.find((c) => c.type === 'Ready')?.reason).toBe('MappedFromTargetNetwork');
    const failovers = new CustomResourceClient<FailoverRequest>(kc3, 'FailoverRequest');
    await failovers.create(ns, { metadata: { name: 'during-outage' }, spec: { replicatedVMName: vmName, type: 'Test' } });
    const fo = await waitForObject(kc3, failovers, { namespace: ns, name: 'during-outage' }, finished, 'test failover during the outage', 120_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    const point = rebuilt.find((p) => p.metadata.name === fo?.status?.recoveryPointName) as RecoveryPoint;
    expect(point, 'failed over from a rebuilt point').toBeDefined();
    const disks = (fo?.status?.targetResources ?? []).filter((r) => r.kind === 'Disk');
    expect(disks).toHaveLength(point.spec.disks.length);
    for (const d of point.spec.disks) {
      const created = disks.find((r) => r.id.includes(`-${d.name}-test-`));
      expect(created, d.name).toBeDefined();
      expect(await dx.diskHash(created?.id as string), `${d.name} equals the rebuilt point`).toBe(await hashBlob(dx.pointSnapshot(point, d.name)));
    }
  } finally {
    await endOutage(control, SOURCE_LOCATION);
  }
  // The source region answers again: the normal enable replication takes over (registered from the source).
  await waitForObject(third.kubeConfig, crClients(third.kubeConfig).vms, { namespace: ns, name: vmName }, (o) => o?.status?.conditions?.some((c) => c.type === 'ReplicationEnabled' && c.reason === 'Registered') ?? false, 'registered from the source again', 120_000);
});

const point0 = (points: RecoveryPoint[]) => points[0] as RecoveryPoint;

async function listNames(list: () => AsyncIterable<{ name?: string }>): Promise<string[]> {
  const names: string[] = [];
  for await (const item of list()) names.push(item.name ?? '');
  return names.sort();
}
