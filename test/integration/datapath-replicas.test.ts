// Datapath replicas as separate processes (`node src/cli/main.ts datapath`), sharing VMs through member
// Leases and rendezvous hashing: a replica killed with SIGKILL in the middle of a cycle hands its VMs over
// without losing or harmfully repeating a cycle; three replicas split twenty VMs and rebalance when one
// stops.
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ReplicatedVM } from '../../src/api/types.ts';
import { ownerOf } from '../../src/datapath/rendezvous.ts';
import {
  createPolicy,
  createProtectedVm,
  listRecoveryPoints,
  pointBlob,
  replicatedVms,
  stampOf,
  startDatapathChild,
  startDatapathSandbox,
  startWorkload,
  verifyPoint,
  type DatapathChild,
  type DatapathSandbox,
  type ProtectedVm,
  type Workload,
} from '../support/datapath-sandbox.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';
import { waitForObject } from '../support/wait.ts';

let sb: DatapathSandbox;
let kc: KubeConfig;
const children: DatapathChild[] = [];

beforeAll(async () => {
  sb = await startDatapathSandbox();
  kc = testKubeConfig();
});

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill('SIGKILL')));
  await sb?.close();
});

function start(identity: string, namespace: string, cycleInterval: string): DatapathChild {
  const child = startDatapathChild(sb, inject('kubeconfigPath'), identity, { namespace, cycleInterval, leaseDuration: '5s' });
  children.push(child);
  return child;
}

const sealed = (o: ReplicatedVM | undefined) => o?.status?.replication?.cycle ?? 0;

function waitVm(ns: string, name: string, what: string, predicate: (o: ReplicatedVM | undefined) => boolean, timeoutMs = 120_000) {
  return waitForObject(kc, replicatedVms(kc), { namespace: ns, name }, predicate, `${name}: ${what}`, timeoutMs);
}

/** Resolves with the first JSON log line of `child` that matches, from now on. */
function nextLog(child: DatapathChild, match: (line: Record<string, unknown>) => boolean, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let rest = '';
    const timer = setTimeout(() => {
      child.process.stderr?.off('data', onData);
      reject(new Error(`no matching log line from ${child.identity} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const text of lines) {
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(text) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (match(line)) {
          clearTimeout(timer);
          child.process.stderr?.off('data', onData);
          resolve(line);
          return;
        }
      }
    };
    child.process.stderr?.on('data', onData);
  });
}

describe('datapath replicas', () => {
  it('a replica killed with SIGKILL mid-cycle hands its VMs over: nothing lost, no cycle applied twice harmfully', { timeout: 300_000 }, async () => {
    const ns = await createTestNamespace(kc, 'dp-kill');
    await createPolicy(kc, ns, 'fast');
    const vms: ProtectedVm[] = [];
    for (const name of ['web', 'db']) vms.push(await createProtectedVm(sb, kc, ns, name, { dataDisks: 1, seedBytes: 1024 * 1024, diskBytes: 8 * 1024 * 1024 }));
    sb.arm.faults.inject({ kind: 'error', method: 'DELETE', path: /restorePoints\/sr-/i, status: 409, code: 'OperationNotAllowed', message: 'held by the test', count: 1e9 });
    const replicas = [start('dp-a', ns, '3s'), start('dp-b', ns, '3s')];
    const workloads: Workload[] = vms.map((vm) => startWorkload(sb, vm.diskIds, { spanBytes: 6 * 1024 * 1024, pauseMs: 20 }));
    try {
      await Promise.all(vms.map((vm) => waitVm(ns, vm.name, 'two sealed points', (o) => sealed(o) >= 2)));
      const first = (await replicatedVms(kc).get({ namespace: ns, name: vms[0]!.name }))!;
      const victim = replicas.find((r) => r.identity === first.status?.replication?.owner)!;
      const survivor = replicas.find((r) => r !== victim)!;
      expect(victim).toBeDefined();

      // Mid-cycle: right after the victim committed a capture, while that cycle is being applied.
      const captured = await nextLog(victim, (l) => l.message === 'captured' && typeof l.cycle === 'number');
      await victim.kill('SIGKILL');
      const [vmKey, cycle] = [String(captured.vm), Number(captured.cycle)];
      const vmName = vmKey.split('/')[1]!;

      // The survivor takes every VM over (member lease 3 s; blob leases broken) and keeps sealing.
      const killedAt = Date.now();
      await Promise.all(vms.map((vm) => waitVm(ns, vm.name, `owned by ${survivor.identity} and sealing`, (o) => o?.status?.replication?.owner === survivor.identity && sealed(o) > cycle + 2)));
      expect(Date.now() - killedAt).toBeLessThan(60_000);
      await Promise.all(workloads.map((w) => w.stop()));

      // The cycle in flight at the kill was sealed by the survivor: nothing lost.
      const points = await listRecoveryPoints(kc, ns, vmName);
      expect(points.map((p) => p.spec.cycle)).toContain(cycle);
      for (const vm of vms) {
        const list = await listRecoveryPoints(kc, ns, vm.name);
        const cycles = list.map((p) => p.spec.cycle!);
        expect(new Set(cycles).size).toBe(cycles.length);
        const times = list.map((p) => Date.parse(p.spec.time));
        expect(times).toEqual([...times].sort((a, b) => a - b));
        // Every point equals its source restore point byte for byte; the two disks agree on the instant.
        for (const point of list) {
          for (const { disk, replica, source } of await verifyPoint(sb, vm, point)) expect(replica, `${vm.name} cycle ${point.spec.cycle} ${disk}`).toBe(source);
          const stamps = [await stampOf(pointBlob(sb, point, 'os')), await stampOf(pointBlob(sb, point, 'lun0'))];
          expect([0, 1]).toContain(stamps[0]! - stamps[1]!);
        }
      }
    } finally {
      await Promise.all(workloads.map((w) => w.stop()));
      sb.arm.faults.clear();
      await Promise.all(replicas.map((r) => r.kill('SIGTERM')));
    }
  });

  it('three replicas split twenty VMs and rebalance when one stops', { timeout: 300_000 }, async () => {
    const ns = await createTestNamespace(kc, 'dp-scale');
    await createPolicy(kc, ns, 'fast');
    const names = Array.from({ length: 20 }, (_, i) => `vm${String(i).padStart(2, '0')}`);
    for (const name of names) await createProtectedVm(sb, kc, ns, name, { dataDisks: 0, seedBytes: 256 * 1024, diskBytes: 8 * 1024 * 1024 });
    const replicas = [start('dp-a', ns, '3s'), start('dp-b', ns, '3s'), start('dp-c', ns, '3s')];
    const identities = replicas.map((r) => r.identity);
    try {
      const protectedVms = await Promise.all(names.map((name) => waitVm(ns, name, 'a sealed point', (o) => sealed(o) >= 1)));
      // Ownership settles on the rendezvous owner among the three.
      const settled = await Promise.all(
        protectedVms.map((vm) => waitVm(ns, vm!.metadata.name!, 'its rendezvous owner', (o) => o !== undefined && o.status?.replication?.owner === ownerOf(o.metadata.uid!, identities))),
      );
      const before = new Map(settled.map((vm) => [vm!.metadata.name!, { owner: vm!.status!.replication!.owner!, cycle: sealed(vm) }]));
      const counts = identities.map((id) => [...before.values()].filter((v) => v.owner === id).length);
      expect(counts.every((n) => n >= 1), `VMs per replica: ${counts.join(', ')}`).toBe(true);

      // One replica leaves gracefully: its VMs move to the two others, the rest stay where they are.
      const leaving = replicas[2]!;
      expect(await leaving.kill('SIGTERM')).toBe(0);
      const remaining = identities.slice(0, 2);
      const after = await Promise.all(
        settled.map((vm) => {
          const name = vm!.metadata.name!;
          const uid = vm!.metadata.uid!;
          const was = before.get(name)!;
          return waitVm(ns, name, 'owned by a remaining replica and sealing', (o) => o?.status?.replication?.owner === ownerOf(uid, remaining) && sealed(o) > was.cycle);
        }),
      );
      for (const vm of after) {
        const was = before.get(vm!.metadata.name!)!;
        if (was.owner !== leaving.identity) expect(vm!.status!.replication!.owner).toBe(was.owner);
        else expect(remaining).toContain(vm!.status!.replication!.owner);
      }
    } finally {
      await Promise.all(replicas.map((r) => r.kill('SIGTERM')));
    }
  });
});
