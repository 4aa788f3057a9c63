// Pure parts of the datapath: rendezvous ownership, range arithmetic, bounded pools and watermarks,
// health from RPO and policy, manifest reading (truncation and damage detection).
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { policyTimes } from '../../src/api/policy-times.ts';
import { healthOf } from '../../src/datapath/health.ts';
import { CacheDataError, readManifest } from '../../src/datapath/manifest.ts';
import { TaskPool, Watermark } from '../../src/util/task-pool.ts';
import { chunks, fromSdkRange, MAX_CHUNK, normalize, windows } from '../../src/util/byte-ranges.ts';
import { recoveryPointName } from '../../src/datapath/recovery-points.ts';
import { ownerOf } from '../../src/datapath/rendezvous.ts';
import { outstandingSyncNow, wantsReplication } from '../../src/datapath/registration.ts';
import type { ReplicatedVM } from '../../src/api/types.ts';
import { rpoSources } from '../../src/datapath/metrics.ts';
import { VmWorker } from '../../src/datapath/vm-worker.ts';
import { Wakeup } from '../../src/datapath/wakeup.ts';

describe('rendezvous ownership', () => {
  const keys = Array.from({ length: 2000 }, (_, i) => `uid-${i}`);

  it('spreads keys evenly and moves only the leaving member\'s keys', () => {
    const three = ['a', 'b', 'c'];
    const owners = new Map(keys.map((k) => [k, ownerOf(k, three)!]));
    for (const m of three) {
      const share = [...owners.values()].filter((o) => o === m).length / keys.length;
      expect(share).toBeGreaterThan(0.28);
      expect(share).toBeLessThan(0.39);
    }
    const two = ['a', 'b'];
    for (const k of keys) {
      const before = owners.get(k)!;
      const after = ownerOf(k, two)!;
      if (before !== 'c') expect(after).toBe(before);
    }
  });

  it('a joining member takes only keys it wins, and order of members does not matter', () => {
    for (const k of keys.slice(0, 200)) {
      const before = ownerOf(k, ['a', 'b']);
      const after = ownerOf(k, ['c', 'b', 'a']);
      expect(after === 'c' || after === before).toBe(true);
    }
    expect(ownerOf('x', [])).toBeUndefined();
  });
});

describe('ranges', () => {
  it('reads the SDK\'s inclusive page ranges, merges, windows and cuts into 4 MiB chunks', () => {
    expect(fromSdkRange({ offset: 512, count: 1023 })).toEqual({ start: 512, end: 1536 });
    expect(normalize([{ start: 1024, end: 2048 }, { start: 0, end: 512 }, { start: 512, end: 1024 }, { start: 4096, end: 4096 }])).toEqual([{ start: 0, end: 2048 }]);
    const cut = [...chunks([{ start: 0, end: MAX_CHUNK * 2 + 512 }])];
    expect(cut).toEqual([{ start: 0, end: MAX_CHUNK }, { start: MAX_CHUNK, end: 2 * MAX_CHUNK }, { start: 2 * MAX_CHUNK, end: 2 * MAX_CHUNK + 512 }]);
    expect([...windows(10, 4)]).toEqual([{ start: 0, end: 4 }, { start: 4, end: 8 }, { start: 8, end: 10 }]);
  });
});

describe('task pool and watermark', () => {
  it('never runs more than its limit, and reports the first failure on drain', async () => {
    const pool = new TaskPool(3);
    let running = 0;
    let peak = 0;
    for (let i = 0; i < 20; i++) {
      await pool.submit(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 2));
        running--;
      });
    }
    await pool.drain();
    expect(peak).toBe(3);
    const failing = new TaskPool(2);
    await failing.submit(async () => {
      throw new Error('boom');
    });
    await expect(failing.drain()).rejects.toThrow('boom');
    await expect(failing.submit(async () => undefined)).rejects.toThrow('boom');
  });

  it('advances only over a contiguous prefix of completed items', () => {
    const mark = new Watermark(5);
    mark.complete(7);
    mark.complete(6);
    expect(mark.value).toBe(5);
    mark.complete(5);
    expect(mark.value).toBe(8);
  });
});

describe('health', () => {
  const times = policyTimes({ rpoWarningThreshold: '15m', rpoCriticalThreshold: '1h' });
  it('follows the policy thresholds, Critical when broken', () => {
    expect(healthOf(undefined, false, times)).toBe('Normal');
    expect(healthOf(60_000, false, times)).toBe('Normal');
    expect(healthOf(16 * 60_000, false, times)).toBe('Warning');
    expect(healthOf(61 * 60_000, false, times)).toBe('Critical');
    expect(healthOf(1000, true, times)).toBe('Critical');
    expect(policyTimes(undefined)).toMatchObject({ intervalMs: 300_000, retentionMs: 86_400_000, appConsistentIntervalMs: undefined });
  });
});

describe('manifest', () => {
  const lines = (...objects: object[]) => Readable.from([objects.map((o) => JSON.stringify(o)).join('\n') + '\n']);
  const header = { t: 'h', v: 1, cycle: 3, disk: 'os', full: false, sizeBytes: 8192 };
  const read = async (stream: Readable) => {
    const out = [];
    for await (const x of readManifest(stream, { cycle: 3, disk: 'os' })) out.push(x);
    return out;
  };

  it('yields numbered items and checks the trailer', async () => {
    const items = await read(lines(header, { t: 'd', o: 0, n: 512, s: 0, so: 0, m: 'x' }, { t: 'c', o: 4096, n: 512 }, { t: 'e', chunks: 1, clears: 1, bytes: 512 }));
    expect(items.map((i) => [i.index, i.item.t])).toEqual([[0, 'd'], [1, 'c']]);
  });

  it('refuses a truncated manifest, another cycle\'s, and garbage', async () => {
    await expect(read(lines(header, { t: 'd', o: 0, n: 512, s: 0, so: 0, m: 'x' }))).rejects.toBeInstanceOf(CacheDataError);
    await expect(read(lines({ ...header, cycle: 4 }, { t: 'e', chunks: 0, clears: 0, bytes: 0 }))).rejects.toThrow(/header/);
    await expect(read(Readable.from(['{"t":"h",nope\n']))).rejects.toThrow(/not JSON/);
  });
});

describe('registration rules', () => {
  const vm = (patch: Partial<ReplicatedVM['status']> = {}, annotations: Record<string, string> = {}, deleting = false): ReplicatedVM => ({
    apiVersion: 'siterecovery.io/v1alpha1',
    kind: 'ReplicatedVM',
    metadata: { name: 'x', namespace: 'n', annotations, ...(deleting ? { deletionTimestamp: new Date() } : {}) },
    spec: { sourceVirtualMachineId: '/x', targetLocation: 'y', policyRef: { name: 'p' }, networkMappingRef: { name: 'm' } },
    status: {
      phase: 'Protected',
      conditions: [{ type: 'ReplicationEnabled', status: 'True', reason: 'Registered', lastTransitionTime: '2026-01-01T00:00:00Z' }],
      disks: [{ name: 'os', role: 'OS', sourceDiskId: '/d', sizeBytes: 512 }],
      targetResources: ['RestorePointCollection', 'CacheContainer', 'ReplicaContainer'].map((role) => ({ role, id: `/${role}`, created: true })),
      ...patch,
    },
  });

  it('replicates registered VMs, not deleted or failed-over ones; FailingOver only for an unanswered sync-now', () => {
    expect(wantsReplication(vm())).toBe(true);
    expect(wantsReplication(vm({ targetResources: [] }))).toBe(false);
    expect(wantsReplication(vm({}, {}, true))).toBe(false);
    expect(wantsReplication(vm({ phase: 'FailedOver' }))).toBe(false);
    expect(wantsReplication(vm({ phase: 'FailingOver' }))).toBe(false);
    expect(wantsReplication(vm({ phase: 'FailingOver' }, { 'siterecovery.io/sync-now': 't1' }))).toBe(true);
    const answered = vm({ phase: 'FailingOver', replication: { syncNow: { token: 't1', state: 'Succeeded' } } }, { 'siterecovery.io/sync-now': 't1' });
    expect(outstandingSyncNow(answered)).toBeUndefined();
    expect(wantsReplication(answered)).toBe(false);
  });

  it('names recovery points <vm>-<cycle>, shortened for long names', () => {
    expect(recoveryPointName('web', 42)).toBe('web-000042');
    const long = recoveryPointName('v'.repeat(260), 7);
    expect(long.length).toBeLessThanOrEqual(253);
    expect(long.endsWith('-000007')).toBe(true);
  });
});

describe('RPO metric across a VM leaving and coming back at once', () => {
  it('keeps the series of the worker started meanwhile when the one before it stops', async () => {
    const vm = { apiVersion: 'siterecovery.io/v1alpha1', kind: 'ReplicatedVM', metadata: { namespace: 'ns', name: 'app' }, spec: {} } as unknown as ReplicatedVM;
    const deps = { config: {} } as unknown as ConstructorParameters<typeof VmWorker>[0];
    const before = new VmWorker(deps, vm);
    const after = new VmWorker(deps, vm);
    await before.stop();
    expect(rpoSources.has('ns/app')).toBe(true);
    await after.stop();
    expect(rpoSources.has('ns/app')).toBe(false);
  });
});

describe('a worker loop\'s wake-up', () => {
  it('resolves on notify or after its time, rejects on abort, and forgets every wait once it ends', async () => {
    const wake = new Wakeup();
    const stop = new AbortController();
    const notified = wake.wait(60_000, stop.signal);
    expect(wake.waiting).toBe(1);
    wake.notify();
    await notified;
    await wake.wait(1, stop.signal); // its time passed: resolved, not left behind for the next notify
    expect(wake.waiting).toBe(0);
    const aborted = wake.wait(60_000, stop.signal);
    stop.abort(new Error('stopped'));
    await expect(aborted).rejects.toThrow('stopped');
    expect(wake.waiting).toBe(0);
    await expect(wake.wait(1, stop.signal)).rejects.toThrow('stopped'); // already aborted: never waits
  });
});
