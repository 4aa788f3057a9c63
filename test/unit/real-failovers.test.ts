// The real-failover rule (src/api/contract.ts): which Planned or Unplanned request holds a ReplicatedVM.
import { describe, expect, it } from 'vitest';
import { failoverHolding, realFailoversOf } from '../../src/api/contract.ts';
import type { FailoverRequest, ReplicatedVM } from '../../src/api/types.ts';

const vm = (created: string): ReplicatedVM => ({ metadata: { name: 'app', namespace: 'a', creationTimestamp: created }, spec: {} }) as unknown as ReplicatedVM;
const request = (name: string, created: string, status: FailoverRequest['status'] = {}, type = 'Planned'): FailoverRequest =>
  ({ metadata: { name, namespace: 'a', uid: name, creationTimestamp: created }, spec: { replicatedVMName: 'app', type }, status }) as unknown as FailoverRequest;

describe('the real-failover rule', () => {
  it('holds the VM with the oldest Planned or Unplanned request that chose a point, not a Test, Failed or deleted one', () => {
    const all = [
      request('test', '2026-12-03T10:00:00Z', { recoveryPointName: 'p1' }, 'Test'),
      request('failed', '2026-12-03T10:00:01Z', { phase: 'Failed', recoveryPointName: 'p1' }),
      request('second', '2026-12-03T10:00:03Z'),
      request('first', '2026-12-03T10:00:02Z', { phase: 'Succeeded', startTime: '2026-12-03T10:00:02.500Z', recoveryPointName: 'p2' }),
    ];
    expect(realFailoversOf(all, vm('2026-12-03T09:00:00Z')).map((f) => f.metadata.name)).toEqual(['first', 'second']);
    expect(failoverHolding(all, vm('2026-12-03T09:00:00Z'))?.metadata.name).toBe('first');
  });

  it('ignores a request that started before this ReplicatedVM was created: it failed over an earlier object of the name', () => {
    // The VM's first failover, committed; after re-protect and failback, re-protect protects it again as `app`.
    const committed = request('move', '2026-12-03T10:00:00Z', { phase: 'Committed', startTime: '2026-12-03T10:00:01.200Z', recoveryPointName: 'p1' });
    expect(failoverHolding([committed], vm('2026-12-03T11:30:00Z'))).toBeUndefined();
    expect(realFailoversOf([committed], vm('2026-12-03T11:30:00Z'))).toEqual([]);
    // Started in the second the VM was created (creationTimestamp has whole seconds): counted, in doubt.
    expect(failoverHolding([committed], vm('2026-12-03T10:00:01Z'))?.metadata.name).toBe('move');
    // Not started yet: counted whenever it was made.
    expect(realFailoversOf([request('early', '2026-12-03T10:00:00Z')], vm('2026-12-03T11:30:00Z')).map((f) => f.metadata.name)).toEqual(['early']);
  });
});
