// Consistency groups in the datapath: group ownership by rendezvous, and the gathering of members into
// group cycles — a member missing a cycle, a capture that fails, a member leaving the group — and the
// coordinated quiesce around them (a preFreeze that fails, members without commands).
import { describe, expect, it, vi } from 'vitest';
import type { ReplicatedVM } from '../../src/api/types.ts';
import { GroupRegistry, GroupTurn, ownershipKey, READY_WAIT_MS, type GroupMemberHandle } from '../../src/datapath/consistency-group.ts';
import type { CommandRunner } from '../../src/datapath/group-quiesce.ts';
import { parseSnapshotMetadata, snapshotMetadata } from '../../src/datapath/point-metadata.ts';
import { ownerOf } from '../../src/datapath/rendezvous.ts';

function vm(name: string, group?: string, uid = `uid-${name}`): ReplicatedVM {
  return { metadata: { name, namespace: 'ns', uid }, spec: { ...(group ? { consistencyGroup: group } : {}) } } as ReplicatedVM;
}

describe('group stamp in target storage', () => {
  it('travels in the replica snapshots\' metadata, so a rebuilt point keeps its group cycle', () => {
    const spec = { replicatedVMName: 'db', time: '2026-01-01T00:00:00.000Z', consistency: 'AppConsistent' as const, cycle: 9, disks: [{ name: 'os', role: 'OS' as const, sizeBytes: 512, blobUrl: 'u', snapshot: '' }] };
    const stamp = { group: 'shop', cycle: 4, members: 3, skewMs: 12 };
    expect(parseSnapshotMetadata(snapshotMetadata(spec, 'os', stamp))?.group).toEqual(stamp);
    expect(parseSnapshotMetadata(snapshotMetadata(spec, 'os'))).not.toHaveProperty('group');
  });
});

describe('group ownership', () => {
  it('hashes every member of a group to the same replica, other VMs by their uid', () => {
    const replicas = ['r1', 'r2', 'r3', 'r4'];
    const owners = new Set(Array.from({ length: 20 }, (_, i) => ownerOf(ownershipKey(vm(`m${i}`, 'db')), replicas)));
    expect(owners.size).toBe(1);
    expect(ownershipKey(vm('solo'))).toBe('uid-solo');
    expect(ownershipKey(vm('m', 'db'))).not.toBe(ownershipKey({ ...vm('m', 'db'), metadata: { name: 'm', namespace: 'other' } } as ReplicatedVM));
  });
});

/** A member as the registry sees it, with its own object (the group it names can change). */
function member(registry: GroupRegistry, name: string, group: string | undefined, lastGroupCycle = 0, opts: { quiesce?: boolean; appDue?: boolean } = {}) {
  const object = vm(name, group);
  let wakes = 0;
  const warnings: string[] = [];
  const handle: GroupMemberHandle = {
    key: `ns/${name}`,
    group: () => object.spec.consistencyGroup,
    namespace: () => 'ns',
    lastGroupCycle: () => lastGroupCycle,
    wake: () => void wakes++,
    quiesce: () => (opts.quiesce ? { key: `ns/${name}`, vmId: `/vm/${name}`, preFreeze: { script: ['fsfreeze --freeze /data'] }, thaw: { script: ['fsfreeze --unfreeze /data'] } } : undefined),
    appDue: () => opts.appDue ?? false,
    warn: (reason, message) => void warnings.push(`${reason}: ${message}`),
  };
  const leave = registry.join(handle);
  return { object, handle, leave, wakes: () => wakes, warnings };
}

/** Run Command as the group sees it: records every command, fails the VMs listed in `failing`. */
function fakeRunner(failing: string[] = []): CommandRunner & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    async run(vmId, command) {
      log.push(`${vmId} ${command.script.join(';')}`);
      if (failing.includes(vmId)) throw new Error('Run command cannot be executed: the VM is stopped');
    },
  };
}

describe('group cycles on the owning replica', () => {
  const signal = new AbortController().signal;

  it('releases every member together once all arrived, numbers cycles after the members\' journals, reports the skew', async () => {
    const registry = new GroupRegistry();
    const [a, b, c] = [member(registry, 'a', 'g', 4), member(registry, 'b', 'g', 6), member(registry, 'c', 'g')];
    const group = registry.coordinatorOf(a.object)!;
    expect(registry.coordinatorOf(b.object)).toBe(group);
    expect(group.delayMs(60_000)).toBe(0);
    const first = group.arrive(a.handle, 60_000, signal);
    expect(b.wakes() + c.wakes()).toBe(2); // the gathering woke the others
    expect(group.delayMs(60_000)).toBe(0);
    const turns = await Promise.all([first, group.arrive(b.handle, 60_000, signal), group.arrive(c.handle, 60_000, signal)]);
    expect(new Set(turns).size).toBe(1);
    const turn = turns[0]!;
    expect([turn.group, turn.cycle]).toEqual(['g', 7]);
    expect(group.delayMs(60_000)).toBeGreaterThan(59_000);
    turn.taken('ns/a', '2026-01-01T00:00:00.010Z');
    turn.taken('ns/c', '2026-01-01T00:00:00.000Z');
    turn.taken('ns/b', '2026-01-01T00:00:00.042Z');
    expect(await turn.stamp(signal)).toEqual({ group: 'g', cycle: 7, members: 3, skewMs: 42 });
  });

  it('released members start their restore point creations together: each waits until all are ready (a failed or finished member counts)', async () => {
    const turn = new GroupTurn('g', 1, ['ns/a', 'ns/b', 'ns/c', 'ns/d']);
    const started: string[] = [];
    const a = turn.ready('ns/a').then(() => started.push('a'));
    const b = turn.ready('ns/b').then(() => started.push('b'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([]);
    turn.failed('ns/c'); // its capture failed before its restore point
    turn.taken('ns/d', '2026-01-01T00:00:00.000Z'); // an earlier attempt's restore point, reused
    await Promise.all([a, b]);
    expect(started.sort()).toEqual(['a', 'b']);
  });

  it('a member that never gets ready holds the others at most READY_WAIT_MS', async () => {
    vi.useFakeTimers();
    try {
      const turn = new GroupTurn('g', 1, ['ns/a', 'ns/stuck']);
      let started = false;
      const a = turn.ready('ns/a').then(() => (started = true));
      await vi.advanceTimersByTimeAsync(READY_WAIT_MS - 1);
      expect(started).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      await a;
      expect(started).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a member that does not arrive in time misses the cycle; the others go on without it', async () => {
    const registry = new GroupRegistry();
    const [a, b] = [member(registry, 'a', 'g'), member(registry, 'b', 'g')];
    member(registry, 'busy', 'g'); // never arrives (its previous cycles are still being applied)
    const group = registry.coordinatorOf(a.object)!;
    const [ta, tb] = await Promise.all([group.arrive(a.handle, 50, signal), group.arrive(b.handle, 50, signal)]);
    expect(ta).toBe(tb);
    ta!.taken('ns/a', '2026-01-01T00:00:00.000Z');
    ta!.taken('ns/b', '2026-01-01T00:00:00.003Z');
    expect(await ta!.stamp(signal)).toEqual({ group: 'g', cycle: 1, members: 2, skewMs: 3 });
  });

  it('a member whose capture fails leaves the cycle without holding the others', async () => {
    const registry = new GroupRegistry();
    const [a, b] = [member(registry, 'a', 'g'), member(registry, 'b', 'g')];
    const group = registry.coordinatorOf(a.object)!;
    const [turn] = await Promise.all([group.arrive(a.handle, 60_000, signal), group.arrive(b.handle, 60_000, signal)]);
    turn.taken('ns/a', '2026-01-01T00:00:00.000Z');
    turn.failed('ns/b'); // e.g. its restore point could not be created
    turn.failed('ns/b');
    expect(await turn.stamp(signal)).toEqual({ group: 'g', cycle: 1, members: 1, skewMs: 0 });
  });

  it('a member removed from the group (or whose session ended) is not waited for', async () => {
    const registry = new GroupRegistry();
    const [a, b, c] = [member(registry, 'a', 'g'), member(registry, 'b', 'g'), member(registry, 'c', 'g')];
    const group = registry.coordinatorOf(a.object)!;
    delete c.object.spec.consistencyGroup; // spec.consistencyGroup removed
    b.leave(); // b's session ended (ownership moved, VM deleted)
    expect(registry.coordinatorOf(c.object)).toBeUndefined();
    const turn = await group.arrive(a.handle, 60_000, signal); // released at once: a is the only member
    expect(turn.cycle).toBe(1);
  });

  it('stopping while waiting leaves the gathering', async () => {
    const registry = new GroupRegistry();
    const [a] = [member(registry, 'a', 'g'), member(registry, 'b', 'g')];
    const group = registry.coordinatorOf(a.object)!;
    const stop = new AbortController();
    const waiting = group.arrive(a.handle, 60_000, stop.signal);
    stop.abort(new Error('stopped'));
    await expect(waiting).rejects.toThrow('stopped');
  });

  it('quiesce: every member frozen before the release and thawed once every restore point is reported; the cycle is AppConsistent', async () => {
    const runner = fakeRunner();
    const registry = new GroupRegistry(runner);
    const [a, b] = [member(registry, 'a', 'g', 0, { quiesce: true, appDue: true }), member(registry, 'b', 'g', 0, { quiesce: true })];
    const group = registry.coordinatorOf(a.object)!;
    const [turn] = await Promise.all([group.arrive(a.handle, 60_000, signal), group.arrive(b.handle, 60_000, signal)]);
    expect(turn.consistency).toBe('AppConsistent');
    expect(runner.log.sort()).toEqual(['/vm/a fsfreeze --freeze /data', '/vm/b fsfreeze --freeze /data']);
    turn.taken('ns/a', '2026-01-01T00:00:00.000Z');
    expect(runner.log).toHaveLength(2); // b has not taken its restore point yet: still frozen
    turn.taken('ns/b', '2026-01-01T00:00:00.001Z');
    await turn.settled();
    await new Promise((resolve) => setImmediate(resolve));
    expect(runner.log.slice(2).sort()).toEqual(['/vm/a fsfreeze --unfreeze /data', '/vm/b fsfreeze --unfreeze /data']);
  });

  it('quiesce: a preFreeze that fails thaws the frozen members at once; the cycle is crash-consistent and each member is warned', async () => {
    const runner = fakeRunner(['/vm/b']);
    const registry = new GroupRegistry(runner);
    const [a, b] = [member(registry, 'a', 'g', 0, { quiesce: true, appDue: true }), member(registry, 'b', 'g', 0, { quiesce: true })];
    const group = registry.coordinatorOf(a.object)!;
    const [turn] = await Promise.all([group.arrive(a.handle, 60_000, signal), group.arrive(b.handle, 60_000, signal)]);
    expect(turn.consistency).toBe('CrashConsistent');
    expect(runner.log).toContain('/vm/a fsfreeze --unfreeze /data');
    expect(runner.log).not.toContain('/vm/b fsfreeze --unfreeze /data');
    expect(a.warnings[0]).toMatch(/^QuiesceFailed: group g cycle 1 is crash-consistent: preFreeze failed on ns\/b: Run command cannot be executed/);
    expect(b.warnings).toHaveLength(1);
  });

  it('quiesce: not attempted when a member has no commands or no member is due an application-consistent point', async () => {
    const runner = fakeRunner();
    for (const [withCommands, due] of [[false, true], [true, false]] as const) {
      const registry = new GroupRegistry(runner);
      const [a, b] = [member(registry, 'a', 'g', 0, { quiesce: true, appDue: due }), member(registry, 'b', 'g', 0, { quiesce: withCommands, appDue: due })];
      const group = registry.coordinatorOf(a.object)!;
      const [turn] = await Promise.all([group.arrive(a.handle, 60_000, signal), group.arrive(b.handle, 60_000, signal)]);
      expect(turn.consistency).toBeUndefined();
    }
    expect(runner.log).toEqual([]);
  });
});
