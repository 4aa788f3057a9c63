// A plan failover's choice of each member's recovery point: members of one consistency group get the
// named points of one group cycle every member of the group in the plan sealed (not each VM's newest);
// later members of the group keep the cycle the first ones started with; a group without a common cycle
// holds the batch with a reason; other members and other choices pass the plan request's choice through.
import { describe, expect, it } from 'vitest';
import { CONSISTENCY_GROUP_LABEL, REPLICATED_VM_LABEL } from '../../src/api/contract.ts';
import type { FailoverRequest, PlanMemberStatus, RecoveryPoint, ReplicatedVM } from '../../src/api/types.ts';
import type { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { memberRecoveryPoints, type PlanPointDeps } from '../../src/reconcilers/failover/plan-points.ts';

function point(vm: string, cycle: number, group: string, groupCycle: number): RecoveryPoint {
  return {
    apiVersion: 'siterecovery.io/v1alpha1',
    kind: 'RecoveryPoint',
    metadata: { name: `${vm}-${cycle}`, namespace: 'ns', labels: { [REPLICATED_VM_LABEL]: vm, [CONSISTENCY_GROUP_LABEL]: group } },
    spec: { replicatedVMName: vm, time: new Date(Date.UTC(2026, 0, 1, 0, 0, cycle)).toISOString(), consistency: 'CrashConsistent', cycle, disks: [] },
    status: { groupCycle, groupSkewMilliseconds: 5, groupMembers: 2 },
  } as unknown as RecoveryPoint;
}

const vm = (name: string, consistencyGroup?: string) => ({ metadata: { name, namespace: 'ns' }, spec: { consistencyGroup } }) as unknown as ReplicatedVM;
const planFo = (recoveryPoint?: string) => ({ metadata: { name: 'shop', namespace: 'ns', uid: 'plan-uid' }, spec: { recoveryPlanName: 'shop', type: 'Test', ...(recoveryPoint ? { recoveryPoint } : {}) } }) as unknown as FailoverRequest;
const member = (replicatedVMName: string, group: string) => ({ replicatedVMName, group, phase: 'Pending' }) as PlanMemberStatus;
const child = (vmName: string, recoveryPoint: string) => ({ metadata: { name: `shop-${vmName}`, namespace: 'ns', ownerReferences: [{ kind: 'FailoverRequest', uid: 'plan-uid', name: 'shop' }] }, spec: { replicatedVMName: vmName, recoveryPoint } }) as unknown as FailoverRequest;

function deps(points: RecoveryPoint[], failovers: FailoverRequest[] = []): PlanPointDeps {
  const list = async (_ns?: string, selector?: string) => ({ items: points.filter((p) => `${CONSISTENCY_GROUP_LABEL}=${p.metadata.labels?.[CONSISTENCY_GROUP_LABEL]}` === selector) });
  return { points: { list } as unknown as CustomResourceClient<RecoveryPoint>, listFailovers: () => failovers, listVms: () => [vm('db-1', 'db'), vm('db-2', 'db'), vm('app-1')] };
}

const all = [member('db-1', 'data'), member('db-2', 'data'), member('app-1', 'app')];
// db-1 sealed group cycles 1 and 2, db-2 only 1 so far: the common newest is 1.
const points = [point('db-1', 10, 'db', 1), point('db-2', 20, 'db', 1), point('db-1', 11, 'db', 2)];

describe('plan failover: each member\'s recovery point', () => {
  it('gives the members of a consistency group the newest group cycle all of them sealed, others the plan\'s choice', async () => {
    const chosen = await memberRecoveryPoints(deps(points), planFo(), all, ['db-1', 'db-2', 'app-1']);
    expect(Object.fromEntries(chosen)).toEqual({ 'db-1': 'db-1-10', 'db-2': 'db-2-20', 'app-1': 'LatestProcessed' });
  });

  it('keeps the cycle a started member of the group was given, even after a newer common cycle is sealed', async () => {
    const later = [...points, point('db-2', 21, 'db', 2)];
    const chosen = await memberRecoveryPoints(deps(later, [child('db-1', 'db-1-10')]), planFo(), all, ['db-2']);
    expect(chosen.get('db-2')).toBe('db-2-20');
  });

  it('holds the batch with a reason when the group has no cycle every member sealed', async () => {
    await expect(memberRecoveryPoints(deps([point('db-1', 10, 'db', 1)]), planFo(), all, ['db-1', 'db-2'])).rejects.toThrow(/consistency group db: no group cycle sealed by every member.*lacking: db-2/);
  });

  it('passes a named point or Latest through unchanged (a final sync makes its own point per VM)', async () => {
    for (const requested of ['Latest', 'db-1-10']) {
      expect(Object.fromEntries(await memberRecoveryPoints(deps(points), planFo(requested), all, ['db-1', 'app-1']))).toEqual({ 'db-1': requested, 'app-1': requested });
    }
  });
});
