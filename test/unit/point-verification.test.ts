// The background verification of recovery points without Azure: the record's name beside a replica blob,
// and the reconciler's budget and bookkeeping with a stubbed verification (issue #20, item 3).
import { describe, expect, it } from 'vitest';
import type { PointVerification, RecoveryPoint, ReplicatedVM, ReplicationPolicy } from '../../src/api/types.ts';
import { checksumRecordName, checksumRecordUrl, cycleOfRecord } from '../../src/azure/verify/point-checksums.ts';
import type { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { PointVerificationReconciler } from '../../src/reconcilers/point-verification/reconciler.ts';
import { NoChecksumRecord } from '../../src/reconcilers/point-verification/verify-point.ts';
import { createLogger } from '../../src/util/logger.ts';

describe('checksum record names', () => {
  it('sits beside the replica blob, path-style and host-style, and names its cycle', () => {
    expect(checksumRecordName('os.vhd', 7)).toBe('os.vhd.checksums/0000000007.ndjson');
    expect(checksumRecordUrl('http://127.0.0.1:10000/acct/replica-app/os.vhd', 7)).toBe('http://127.0.0.1:10000/acct/replica-app/os.vhd.checksums/0000000007.ndjson');
    expect(checksumRecordUrl('https://acct.blob.core.windows.net/replica-app/lun0.vhd', 12)).toBe('https://acct.blob.core.windows.net/replica-app/lun0.vhd.checksums/0000000012.ndjson');
    expect(cycleOfRecord('os.vhd.checksums/0000000012.ndjson')).toBe(12);
    expect(cycleOfRecord('os.vhd')).toBeUndefined();
  });
});

describe('PointVerificationReconciler', () => {
  const vm = { metadata: { namespace: 'a', name: 'web', generation: 1 }, spec: { policyRef: { name: 'p' } }, status: {} } as unknown as ReplicatedVM;
  const point = (cycle: number, verified?: PointVerification) => ({ metadata: { namespace: 'a', name: `web-${cycle}` }, spec: { replicatedVMName: 'web', time: new Date(cycle * 1000).toISOString(), cycle, consistency: 'CrashConsistent', disks: [] }, ...(verified ? { status: { verified } } : {}) }) as unknown as RecoveryPoint;

  function setup(perDay: number | undefined, points: RecoveryPoint[], now: Date) {
    const writes: { kind: string; status: Record<string, unknown> }[] = [];
    const events: string[] = [];
    let lists = 0;
    let release: (v: PointVerification) => void = () => undefined;
    let reject: (e: unknown) => void = () => undefined;
    const verified: string[] = [];
    const pointsClient = {
      list: async () => (lists++, { items: points }),
      get: async (ref: { name: string }) => points.find((p) => p.metadata.name === ref.name),
      applyStatus: async (_ref: unknown, status: Record<string, unknown>) => (writes.push({ kind: 'RecoveryPoint', status }), {}),
    } as unknown as CustomResourceClient<RecoveryPoint>;
    const vms = { applyStatus: async (_ref: unknown, status: Record<string, unknown>) => (writes.push({ kind: 'ReplicatedVM', status }), vm) } as unknown as CustomResourceClient<ReplicatedVM>;
    const policy = { spec: perDay === undefined ? {} : { verification: { pointsPerDay: perDay } } } as ReplicationPolicy;
    const reconciler = new PointVerificationReconciler({
      vms,
      points: pointsClient,
      policies: { get: async () => policy },
      credential: { getToken: async () => null },
      verify: (p) => (verified.push(p.metadata.name ?? ''), new Promise((resolve, no) => ((release = resolve), (reject = no)))),
      now: () => now,
    });
    const ctx = { log: createLogger('test'), events: { record: (_o: unknown, type: string, reason: string) => events.push(`${type} ${reason}`) }, signal: new AbortController().signal };
    return { reconciler, ctx: ctx as never, writes, events, verified, lists: () => lists, release: (v: PointVerification) => release(v), reject: (e: unknown) => reject(e) };
  }

  it('verifies the newest unverified point at once, records it on the point and the VM, then waits a period', async () => {
    const now = new Date('2026-12-03T12:00:00Z');
    const s = setup(undefined, [point(1), point(3), point(2)], now);
    expect(await s.reconciler.reconcile(vm, s.ctx)).toEqual({ requeueAfterMs: 2000 });
    expect(s.verified).toEqual(['web-3']);
    expect(await s.reconciler.reconcile(vm, s.ctx)).toEqual({ requeueAfterMs: 2000 }); // still running
    const failed: PointVerification = { time: now.toISOString(), method: 'CycleChecksums', result: 'Failed', disk: 'os', offset: 4096, message: 'os: differs at offset 4096 (1 of 3 recorded range(s))' };
    s.release(failed);
    await new Promise((r) => setImmediate(r));
    expect(await s.reconciler.reconcile(vm, s.ctx)).toEqual({ requeueAfterMs: 1 });
    expect(s.writes[0]).toMatchObject({ kind: 'RecoveryPoint', status: { verified: failed } });
    const condition = (s.writes[1]?.status.conditions as { type: string; status: string; reason: string; message: string }[]).find((c) => c.type === 'RecoveryPointVerified');
    expect(condition).toMatchObject({ status: 'False', reason: 'VerificationFailed' });
    expect(condition?.message).toContain('recovery point web-3 differs from the checksums recorded at capture on disk os at offset 4096');
    expect(s.events).toEqual(['Warning VerificationFailed']);
    // The default budget is one a day: the next pass waits a day, without listing the points again.
    const lists = s.lists();
    expect(await s.reconciler.reconcile(vm, s.ctx)).toEqual({ requeueAfterMs: 24 * 3600_000 });
    expect(s.lists()).toBe(lists);
  });

  it('waits out the period since the last verification; pointsPerDay 0 verifies nothing', async () => {
    const now = new Date('2026-12-03T12:00:00Z');
    const earlier: PointVerification = { time: new Date(now.getTime() - 3600_000).toISOString(), method: 'CycleChecksums', result: 'Passed' };
    const s = setup(4, [point(1, earlier), point(2)], now);
    expect(await s.reconciler.reconcile(vm, s.ctx)).toEqual({ requeueAfterMs: 5 * 3600_000 });
    expect(s.verified).toEqual([]);
    const off = setup(0, [point(1)], now);
    expect(await off.reconciler.reconcile(vm, off.ctx)).toBeUndefined();
    expect(off.lists()).toBe(0);
  });

  it('skips a point sealed before checksums were recorded, without a result, and takes the next one', async () => {
    const s = setup(undefined, [point(1), point(2)], new Date('2026-12-03T12:00:00Z'));
    await s.reconciler.reconcile(vm, s.ctx);
    s.reject(new NoChecksumRecord('os of cycle 2 has no checksum record'));
    await new Promise((r) => setImmediate(r));
    expect(await s.reconciler.reconcile(vm, s.ctx)).toEqual({ requeueAfterMs: 1 });
    expect(s.writes).toEqual([]);
    expect(s.events).toEqual([]);
    await s.reconciler.reconcile(vm, s.ctx);
    expect(s.verified).toEqual(['web-2', 'web-1']);
  });

  it('a verification that cannot be made is recorded as Error: condition False (VerificationError) and a Warning', async () => {
    const s = setup(undefined, [point(1)], new Date('2026-12-03T12:00:00Z'));
    await s.reconciler.reconcile(vm, s.ctx);
    s.reject(new Error('storage refused: AuthorizationPermissionMismatch'));
    await new Promise((r) => setImmediate(r));
    await s.reconciler.reconcile(vm, s.ctx);
    expect(s.writes[0]?.status.verified).toMatchObject({ result: 'Error', method: 'CycleChecksums', message: 'storage refused: AuthorizationPermissionMismatch' });
    const condition = (s.writes[1]?.status.conditions as { type: string }[]).find((c) => c.type === 'RecoveryPointVerified');
    expect(condition).toMatchObject({ status: 'False', reason: 'VerificationError', message: 'recovery point web-1 could not be verified: storage refused: AuthorizationPermissionMismatch' });
    expect(s.events).toEqual(['Warning VerificationError']);
  });
});
