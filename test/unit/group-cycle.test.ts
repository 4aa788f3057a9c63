// The newest group cycle every member of a consistency group sealed: what a failover of the group's VMs
// uses instead of each VM's own newest point; property-tested against a brute-force model.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONSISTENCY_GROUP_LABEL, REPLICATED_VM_LABEL } from '../../src/api/contract.ts';
import type { RecoveryPoint } from '../../src/api/types.ts';
import { newestGroupCycles, type SealedGroupCycle } from '../../src/reconcilers/failover/group-cycle.ts';

function point(vm: string, cycle: number, group: string | undefined, groupCycle: number | undefined, consistency: 'AppConsistent' | 'CrashConsistent' = 'CrashConsistent', skew = 5): RecoveryPoint {
  return {
    apiVersion: 'siterecovery.io/v1alpha1',
    kind: 'RecoveryPoint',
    metadata: { name: `${vm}-${cycle}`, namespace: 'ns', labels: { [REPLICATED_VM_LABEL]: vm, ...(group ? { [CONSISTENCY_GROUP_LABEL]: group } : {}) } },
    spec: { replicatedVMName: vm, time: new Date(Date.UTC(2026, 0, 1, 0, 0, cycle)).toISOString(), consistency, cycle, disks: [{ name: 'os', role: 'OS', sizeBytes: 512, blobUrl: 'u', snapshot: 's' }] },
    ...(groupCycle !== undefined ? { status: { groupCycle, groupSkewMilliseconds: skew, groupMembers: 3 } } : {}),
  } as RecoveryPoint;
}

const members = (group: string, ...names: string[]) => names.map((name) => ({ name, group }));

describe('newest group cycle every member sealed', () => {
  it('is the newest cycle all members have, never a member\'s own newer point', () => {
    const points = [
      point('a', 1, 'g', 1), point('b', 1, 'g', 1), point('c', 1, 'g', 1),
      point('a', 2, 'g', 2), point('b', 2, 'g', 2), // c missed group cycle 2
      point('a', 3, 'g', 3), point('c', 2, 'g', 3), // b has not sealed 3 yet
      point('a', 4, undefined, undefined), // a's own point, outside any group cycle
    ];
    const result = newestGroupCycles(members('g', 'a', 'b', 'c'), points).get('g') as SealedGroupCycle;
    expect(result.cycle).toBe(1);
    expect(Object.fromEntries(Object.entries(result.points).map(([m, p]) => [m, p.metadata.name]))).toEqual({ a: 'a-1', b: 'b-1', c: 'c-1' });
    expect(result.skewMilliseconds).toBe(5);
  });

  it('names the members lacking a common cycle when there is none', () => {
    const result = newestGroupCycles(members('g', 'a', 'b', 'new'), [point('a', 1, 'g', 1), point('b', 1, 'g', 1)]).get('g');
    expect(result).toEqual({ group: 'g', cycle: undefined, lacking: ['new'] });
  });

  it('ignores a member taken out of the group, and points of another group', () => {
    const points = [point('a', 5, 'g', 7), point('b', 5, 'g', 7), point('gone', 5, 'g', 6), point('x', 5, 'other', 7)];
    const result = newestGroupCycles(members('g', 'a', 'b'), points).get('g') as SealedGroupCycle;
    expect(result.cycle).toBe(7);
    expect(Object.keys(result.points)).toEqual(['a', 'b']);
  });

  it('asked for application-consistent cycles, takes only those every member sealed application-consistent', () => {
    const points = [point('a', 1, 'g', 1, 'AppConsistent'), point('b', 1, 'g', 1, 'AppConsistent'), point('a', 2, 'g', 2, 'AppConsistent'), point('b', 2, 'g', 2)];
    const app = newestGroupCycles(members('g', 'a', 'b'), points, { appConsistent: true }).get('g') as SealedGroupCycle;
    expect([app.cycle, app.consistency]).toEqual([1, 'AppConsistent']);
    const any = newestGroupCycles(members('g', 'a', 'b'), points).get('g') as SealedGroupCycle;
    expect([any.cycle, any.consistency]).toEqual([2, 'CrashConsistent']);
  });

  it('matches a brute-force model for any set of sealed points (property)', () => {
    const names = ['a', 'b', 'c', 'd'];
    const sealed = fc.array(fc.record({ vm: fc.constantFrom(...names), groupCycle: fc.integer({ min: 1, max: 8 }) }), { maxLength: 30 });
    fc.assert(
      fc.property(sealed, fc.integer({ min: 1, max: names.length }), (raw, size) => {
        const group = names.slice(0, size);
        const points = raw.map((r, i) => point(r.vm, i + 1, 'g', r.groupCycle));
        const result = newestGroupCycles(members('g', ...group), points).get('g')!;
        const has = (vm: string, c: number) => raw.some((r) => r.vm === vm && r.groupCycle === c);
        const model = [8, 7, 6, 5, 4, 3, 2, 1].find((c) => group.every((vm) => has(vm, c)));
        expect(result.cycle).toBe(model);
        if (result.cycle !== undefined) {
          // Every member's chosen point is of that cycle, and each member has exactly one.
          expect(Object.keys(result.points).sort()).toEqual([...group].sort());
          for (const [vm, p] of Object.entries(result.points)) expect([p.spec.replicatedVMName, p.status?.groupCycle]).toEqual([vm, model]);
        } else {
          expect(result.lacking.length).toBeGreaterThan(0);
        }
      }),
    );
  });
});
