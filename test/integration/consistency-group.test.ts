// Multi-VM consistency groups against local Azure and the real control plane: three VMs of one group under
// one workload (a sequence stamp written to each VM's disk in turn, then random writes) are captured in
// group cycles — every member's RecoveryPoint of a cycle carries the group's label, the same groupCycle
// and the measured skew; the first cycle is quiesced through Run Command (the emulated guest holds the
// VM's writes), so its points are byte-exact images of one instant across all three VMs. A member taken
// out of the group goes on alone and the group without it; points rebuilt from target storage keep their
// group cycle. And the emulator's Run Command: a frozen
// guest's writes wait for the thaw; a stopped VM and a failing script are failures the datapath sees.
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSISTENCY_GROUP_LABEL } from '../../src/api/contract.ts';
import type { RecoveryPoint, ReplicatedVM } from '../../src/api/types.ts';
import { AzureClients } from '../../src/azure/clients.ts';
import { buildDatapath, type Datapath } from '../../src/datapath/datapath.ts';
import { runCommandRunner } from '../../src/datapath/group-quiesce.ts';
import { rebuildRecoveryPoints } from '../../src/datapath/point-metadata.ts';
import { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { newestGroupCycles, type SealedGroupCycle } from '../../src/reconcilers/failover/group-cycle.ts';
import {
  createPolicy,
  createProtectedVm,
  createSmallVm,
  diskBlob,
  listRecoveryPoints,
  pointBlob,
  replicatedVms,
  stampOf,
  startDatapathSandbox,
  startWorkload,
  verifyPoint,
  type DatapathSandbox,
  type ProtectedVm,
  type Workload,
} from '../support/datapath-sandbox.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';
import { enforceShippedRoles, nothingRefused, sandboxPrincipalAzure } from '../support/shipped-roles.ts';
import { waitForObject } from '../support/wait.ts';

const MiB = 1024 * 1024;
const FREEZE = { script: ['sync', 'fsfreeze --freeze /data'] };
const THAW = { script: ['fsfreeze --unfreeze /data'] };

let sb: DatapathSandbox;
let kc: KubeConfig;
let datapath: Datapath | undefined;
const stop = new AbortController();
let running: Promise<void> | undefined;

beforeAll(async () => {
  sb = await startDatapathSandbox();
  enforceShippedRoles(sb);
  kc = testKubeConfig();
});

afterAll(async () => {
  stop.abort();
  await running?.catch(() => undefined);
  await sb?.close();
});

const sealed = (o: ReplicatedVM | undefined) => o?.status?.replication?.cycle ?? 0;
const waitSealed = (ns: string, name: string, cycle: number) => waitForObject(kc, replicatedVms(kc), { namespace: ns, name }, (o) => sealed(o) >= cycle, `${name}: cycle ${cycle} sealed`, 90_000);

async function groupPoints(ns: string, names: string[]): Promise<RecoveryPoint[]> {
  return (await Promise.all(names.map((n) => listRecoveryPoints(kc, ns, n)))).flat();
}

/** Every member's point of each group cycle, by cycle. */
function byGroupCycle(points: RecoveryPoint[]): Map<number, RecoveryPoint[]> {
  const out = new Map<number, RecoveryPoint[]>();
  for (const p of points) {
    const cycle = p.status?.groupCycle;
    if (cycle !== undefined) out.set(cycle, [...(out.get(cycle) ?? []), p]);
  }
  return out;
}

describe('consistency groups', () => {
  it('three VMs under churn are captured in group cycles; the quiesced one is one instant across them; a member leaves the group', { timeout: 180_000 }, async () => {
    const ns = await createTestNamespace(kc, 'cgroup');
    await createPolicy(kc, ns, 'fast', { appConsistentInterval: '1h' });
    const names = ['db', 'app', 'web'];
    const vms: ProtectedVm[] = [];
    for (const name of names) vms.push(await createProtectedVm(sb, kc, ns, name, { dataDisks: 0, seedBytes: MiB, diskBytes: 4 * MiB }));
    for (const name of names) await replicatedVms(kc).mergePatch({ namespace: ns, name }, { spec: { consistencyGroup: 'shop', quiesce: { preFreeze: FREEZE, thaw: THAW } } });
    // Keep the source restore points: the points are compared with them.
    sb.arm.faults.inject({ kind: 'error', method: 'DELETE', path: /restorePoints\/sr-/i, status: 409, code: 'OperationNotAllowed', message: 'held by the test', count: 1e9 });
    // One writer over the three VMs' disks, in order: an image of one instant shows stamps that never
    // increase along db, app, web and differ by at most one.
    let complete: Array<[number, RecoveryPoint[]]>;
    const workload: Workload = startWorkload(sb, vms.map((v) => v.diskIds[0]!), { spanBytes: 2 * MiB, pauseMs: 5 });
    datapath = buildDatapath({ kubeConfig: kc, azure: sandboxPrincipalAzure(sb, 'datapath'), identity: 'dp-cgroup', namespace: ns, watchNamespace: ns, leaseDurationMs: 3000, worker: { cycleIntervalMs: 2000, statusIntervalMs: 500, retryMs: 300, groupGatherMs: 1000 } });
    running = datapath.run(stop.signal);
    try {
      await Promise.all(names.map((n) => waitSealed(ns, n, 4)));
      const cycles = byGroupCycle(await groupPoints(ns, names));
      complete = [...cycles.entries()].filter(([, ps]) => ps.length === 3).sort(([a], [b]) => a - b);
      expect(complete.length).toBeGreaterThanOrEqual(3);
      for (const [cycle, points] of complete) {
        for (const p of points) {
          expect(p.metadata.labels?.[CONSISTENCY_GROUP_LABEL]).toBe('shop');
          expect(p.status).toMatchObject({ groupCycle: cycle, groupMembers: 3 });
          expect(p.status?.groupSkewMilliseconds).toBeGreaterThanOrEqual(0);
          expect(p.status?.groupSkewMilliseconds).toBeLessThan(2000);
        }
        expect(new Set(points.map((p) => p.status?.groupSkewMilliseconds)).size).toBe(1);
      }
      // What a failover of the group would use: the newest cycle all three sealed.
      const chosen = newestGroupCycles(names.map((name) => ({ name, group: 'shop' })), await groupPoints(ns, names)).get('shop') as SealedGroupCycle;
      expect(chosen.cycle).toBeGreaterThanOrEqual(complete.at(-1)![0]);

      // The first group cycle was quiesced (the policy's app-consistent cadence was due): AppConsistent,
      // byte-exact, and one instant across the three VMs; the later ones are crash-consistent.
      const [, quiesced] = complete[0]!;
      expect(quiesced.map((p) => p.spec.consistency)).toEqual(['AppConsistent', 'AppConsistent', 'AppConsistent']);
      expect(complete.slice(1).flatMap(([, ps]) => ps.map((p) => p.spec.consistency))).not.toContain('AppConsistent');
      const ordered = names.map((n) => quiesced.find((p) => p.spec.replicatedVMName === n)!);
      const stamps = await Promise.all(ordered.map((p) => stampOf(pointBlob(sb, p, 'os'))));
      expect(stamps[0]).toBeGreaterThan(0);
      expect(stamps[0]! - stamps[2]!).toBeLessThanOrEqual(1);
      expect(stamps[0]! >= stamps[1]! && stamps[1]! >= stamps[2]!).toBe(true);
      for (const [i, p] of ordered.entries()) for (const d of await verifyPoint(sb, vms[i]!, p)) expect(d.replica).toBe(d.source);
      const [, crash] = complete.at(-1)!;
      for (const p of crash) for (const d of await verifyPoint(sb, vms[names.indexOf(p.spec.replicatedVMName)]!, p)) expect(d.replica).toBe(d.source);

      // web leaves the group: its points from then on carry no group, and the group goes on with two
      // members (cycles captured before the change may still be sealed with three).
      const groupBefore = Math.max(...cycles.keys());
      await replicatedVms(kc).mergePatch({ namespace: ns, name: 'web' }, { spec: { consistencyGroup: null } });
      await Promise.all(names.map(async (n) => waitSealed(ns, n, sealed(await replicatedVms(kc).get({ namespace: ns, name: n })) + 3)));
      const webNewest = (await listRecoveryPoints(kc, ns, 'web')).at(-1)!;
      expect([webNewest.metadata.labels?.[CONSISTENCY_GROUP_LABEL], webNewest.status?.groupCycle]).toEqual([undefined, undefined]);
      const all = byGroupCycle(await groupPoints(ns, names));
      const newest = Math.max(...all.keys());
      expect(newest).toBeGreaterThan(groupBefore);
      expect(all.get(newest)!.map((p) => [p.spec.replicatedVMName, p.status?.groupMembers]).sort()).toEqual([['app', 2], ['db', 2]]);
      const two = newestGroupCycles([{ name: 'db', group: 'shop' }, { name: 'app', group: 'shop' }], await groupPoints(ns, names)).get('shop') as SealedGroupCycle;
      expect(two.cycle).toBe(newest);
    } finally {
      await workload.stop();
      stop.abort();
      await running;
    }

    // A new cluster rebuilds the points from target storage alone: with their group cycle.
    const [groupCycle, lost] = complete.at(-1)!;
    const db = lost.find((p) => p.spec.replicatedVMName === 'db')!;
    const points = new CustomResourceClient<RecoveryPoint>(kc, 'RecoveryPoint');
    await points.delete({ namespace: ns, name: db.metadata.name! });
    const account = sb.targetAccountId.split('/').pop()!;
    const replica = new BlobServiceClient(sb.storage.blobEndpoint(account), new StorageSharedKeyCredential(account, sb.storage.accountKey(account))).getContainerClient(vms[0]!.replicaContainer);
    const dbObject = (await replicatedVms(kc).get({ namespace: ns, name: 'db' }))!;
    expect(await rebuildRecoveryPoints(points, dbObject, replica, 3600_000)).toContain(db.metadata.name);
    const rebuilt = (await points.get({ namespace: ns, name: db.metadata.name! }))!;
    expect(rebuilt.metadata.labels?.[CONSISTENCY_GROUP_LABEL]).toBe('shop');
    expect(rebuilt.status).toMatchObject({ groupCycle, groupMembers: 3, groupSkewMilliseconds: db.status?.groupSkewMilliseconds });
  });

  it('Run Command: a frozen guest\'s writes wait for the thaw; a stopped VM or a failing script is a failure', { timeout: 60_000 }, async () => {
    const rg = 'cg-runcommand';
    const vm = await createSmallVm(sb, rg, 'frozen', 1, 4 * MiB);
    const runner = runCommandRunner(new AzureClients(sandboxPrincipalAzure(sb, 'datapath')));
    const disk = diskBlob(sb, vm.storageProfile!.osDisk!.managedDisk!.id!);
    const signal = new AbortController().signal;
    await runner.run(vm.id!, FREEZE, signal);
    const page = Buffer.alloc(512, 7);
    let landed = false;
    const write = disk.uploadPages(page, 0, 512).then(() => (landed = true));
    // A read passes the frozen guest: the write has not landed.
    expect((await disk.downloadToBuffer(0, 512)).equals(page)).toBe(false);
    expect(landed).toBe(false);
    await runner.run(vm.id!, THAW, signal);
    await write;
    expect((await disk.downloadToBuffer(0, 512)).equals(page)).toBe(true);

    await expect(runner.run(vm.id!, { script: ['echo bad', 'exit 3'] }, signal)).rejects.toThrow(/stderr: script exited with status 3/);
    await sb.c.compute.virtualMachines.beginPowerOffAndWait(rg, 'frozen', { updateIntervalInMs: 20 });
    await expect(runner.run(vm.id!, FREEZE, signal)).rejects.toThrow(/because the VM is stopped/);
  });
});

// Beyond azure-roles.test.ts's scenario: the pre-freeze and thaw commands of a quiesced group.
nothingRefused(() => sb, { datapath: ['Microsoft.Compute/virtualMachines/runCommand/action'] });
