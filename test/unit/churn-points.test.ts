// What a churn anomaly does to recovery points, without Azure: how a sealed cycle is judged against the
// journal (worker-churn.ts), which points pruning keeps while an anomaly is in force (recovery-points.ts),
// and how recoveryPoint LatestClean resolves — or is refused when every point is suspect.
import type { ContainerClient } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';
import { SUSPECT_LABEL } from '../../src/api/contract.ts';
import type { RecoveryPoint, ReplicatedVM, ReplicationPolicySpec } from '../../src/api/types.ts';
import type { CycleRecord, JournalState } from '../../src/datapath/journal.ts';
import { rebuildRecoveryPoints, snapshotMetadata } from '../../src/datapath/point-metadata.ts';
import { prune } from '../../src/datapath/recovery-points.ts';
import type { VmContext } from '../../src/datapath/worker-context.ts';
import { judgeSeal, retainedPoints } from '../../src/datapath/worker-churn.ts';
import type { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { selectRecoveryPoint } from '../../src/reconcilers/failover/steps/recovery-point.ts';
import type { ProcedurePass } from '../../src/reconcilers/failover/state.ts';

const MiB = 1024 ** 2;
const vm = { metadata: { namespace: 'a', name: 'app', uid: 'u1' }, spec: {} } as unknown as ReplicatedVM;

function point(cycle: number, suspect: 'label' | 'status' | false = false): RecoveryPoint {
  return {
    metadata: { namespace: 'a', name: `app-${String(cycle).padStart(6, '0')}`, labels: { 'siterecovery.io/replicated-vm': 'app', ...(suspect === 'label' ? { [SUSPECT_LABEL]: 'true' } : {}) }, ownerReferences: [{ uid: 'u1' }] },
    spec: { replicatedVMName: 'app', time: new Date(Date.UTC(2026, 11, 1, 0, cycle)).toISOString(), consistency: 'CrashConsistent', cycle, disks: [{ name: 'os', role: 'OS', sizeBytes: MiB, blobUrl: 'https://x/c/os', snapshot: `s${cycle}` }] },
    ...(suspect === 'status' ? { status: { suspect: true, suspectReason: 'x' } } : {}),
  } as unknown as RecoveryPoint;
}

function pointsClient(points: RecoveryPoint[], deleted: string[] = []): CustomResourceClient<RecoveryPoint> {
  return {
    list: async () => ({ items: points }),
    get: async ({ name }: { name: string }) => points.find((p) => p.metadata.name === name),
    delete: async ({ name }: { name: string }) => void deleted.push(name),
  } as unknown as CustomResourceClient<RecoveryPoint>;
}

function record(cycle: number, bytes: number, full = false): CycleRecord {
  return { cycle, attempt: 'x', restorePoint: 'rp', time: `2026-12-01T00:${String(cycle).padStart(2, '0')}:00.000Z`, consistency: 'CrashConsistent', disks: { os: { full, sizeBytes: 64 * MiB, bytes, chunks: 1, clears: 0, manifestMd5: '' } } };
}

const ctxWith = (policy: ReplicationPolicySpec) => ({ vm, deps: { policy: () => policy } }) as unknown as VmContext;
const journal = (over: Partial<JournalState>) => ({ version: 1, epoch: 'e', vmUid: 'u1', captured: 9, pending: [], sealed: 9, resync: [], bytesReplicated: 0, lastPoint: { name: 'app-000009', time: '', consistency: 'CrashConsistent', cycle: 9 }, ...over }) as JournalState;

describe('judging a sealed cycle', () => {
  const policy = { churnAnomaly: { factor: 10, minBytes: '1Mi', baselineCycles: 5 } };

  it('an anomalous cycle starts an anomaly naming the newest point before it as the last clean one', () => {
    const judged = judgeSeal(ctxWith(policy), journal({ churn: { samples: { os: [MiB, MiB, MiB] } } }), record(10, 50 * MiB), 'app-000010');
    expect(judged.suspect).toMatch(/^cycle 10: disk os changed 50\.0 MiB, 50\.0x its baseline/);
    expect(judged.detected).toEqual({ cycle: 10, since: record(10, 0).time, reason: judged.suspect, firstSuspectPoint: 'app-000010', lastCleanPoint: 'app-000009' });
    expect(judged.next.samples).toEqual({ os: [MiB, MiB, MiB] }); // not learnt
  });

  it('while it is in force every later cycle is suspect, however quiet, and nothing is learnt', () => {
    const anomaly = { cycle: 10, since: 't', reason: 'cycle 10: disk os changed a lot', firstSuspectPoint: 'app-000010', lastCleanPoint: 'app-000009' };
    const state = journal({ churn: { samples: { os: [MiB, MiB, MiB] }, anomaly } });
    const judged = judgeSeal(ctxWith(policy), state, record(11, 0), 'app-000011');
    expect(judged).toEqual({ suspect: 'sealed during the churn anomaly that began at cycle 10: disk os changed a lot', next: state.churn });
    expect(retainedPoints(state)).toEqual(['app-000009']);
  });

  it('a normal cycle is learnt and clean; a full copy is neither judged nor learnt', () => {
    expect(judgeSeal(ctxWith(policy), journal({ churn: { samples: { os: [MiB, MiB, MiB] } } }), record(10, 2 * MiB), 'app-000010')).toEqual({ next: { samples: { os: [MiB, MiB, MiB, 2 * MiB] } } });
    expect(judgeSeal(ctxWith(policy), journal({ churn: { samples: { os: [MiB, MiB, MiB] } } }), record(10, 64 * MiB, true), 'app-000010')).toEqual({ next: { samples: { os: [MiB, MiB, MiB] } } });
    expect(retainedPoints(journal({}))).toEqual([]);
  });
});

describe('retention during an anomaly', () => {
  it('pruning keeps the points named in keep (the newest and the last clean one), removes the other expired ones', async () => {
    const points = [point(1), point(2), point(3, 'label'), point(4, 'label')];
    const deleted: string[] = [];
    const replica = { containerName: 'c', listBlobsFlat: async function* () {} } as unknown as ContainerClient;
    const now = Date.UTC(2026, 11, 2);
    const result = await prune(pointsClient(points, deleted), vm, replica, 60_000, new Set(['app-000004', 'app-000002']), new Set(), now);
    expect(result.deletedPoints).toEqual(['app-000001', 'app-000003']);
    expect(deleted).toEqual(['app-000001', 'app-000003']);
  });
});

describe('points rebuilt from target storage (a new cluster)', () => {
  it('keep their suspect mark, and the newest clean point before them is rebuilt even past the retention', async () => {
    const stored = [point(1), point(2), point(3), point(4)];
    const suspectOf = (cycle: number) => (cycle >= 3 ? `cycle 3: disk os changed a lot` : undefined);
    const replica = {
      getBlobClient: (name: string) => ({ url: `https://x/c/${name}` }),
      async *listBlobsFlat() {
        yield* stored.map((p) => ({ name: 'os', snapshot: p.spec.disks[0]?.snapshot, metadata: snapshotMetadata(p.spec, 'os', undefined, suspectOf(p.spec.cycle ?? 0)) }));
      },
    } as unknown as ContainerClient;
    const created: RecoveryPoint[] = [];
    const statuses: Array<{ name: string; status: unknown }> = [];
    const client = {
      list: async () => ({ items: [] }),
      create: async (_ns: string, body: RecoveryPoint) => (created.push(body), body),
      applyStatus: async ({ name }: { name: string }, status: unknown) => (statuses.push({ name, status }), {}),
    } as unknown as CustomResourceClient<RecoveryPoint>;
    const names = await rebuildRecoveryPoints(client, vm, replica, 60_000, Date.UTC(2026, 11, 2));
    expect(names).toEqual(['app-000002', 'app-000004']); // 1 and 3 are past the retention; 2 is the last clean one
    expect(created.map((p) => p.metadata.labels?.[SUSPECT_LABEL])).toEqual([undefined, 'true']);
    expect(statuses).toEqual([{ name: 'app-000004', status: { suspect: true, suspectReason: 'cycle 3: disk os changed a lot' } }]);
  });
});

describe('recoveryPoint LatestClean', () => {
  const pass = (points: RecoveryPoint[]) =>
    ({ deps: { points: pointsClient(points) }, fo: { metadata: { uid: 'f' }, spec: { replicatedVMName: 'app', type: 'Test', recoveryPoint: 'LatestClean' } }, vm, namespace: 'a', steps: new Map(), status: {} }) as unknown as ProcedurePass;

  it('picks the newest point not suspect, whether marked by label or status', async () => {
    const p = pass([point(1), point(2), point(3, 'label'), point(4, 'status')]);
    expect(await selectRecoveryPoint(p)).toMatchObject({ state: 'done' });
    expect(p.status).toMatchObject({ recoveryPointName: 'app-000002', recoveryPointReason: 'the newest point not suspect of a churn anomaly (the newest before the first suspect one)' });
  });

  it('is refused with a reason when every point is suspect', async () => {
    expect(await selectRecoveryPoint(pass([point(3, 'label'), point(4, 'status')]))).toEqual({ state: 'stalled', reason: 'NoCleanRecoveryPoint', message: expect.stringMatching(/^no clean recovery point exists: every point of this VM is suspect/) as unknown });
    expect(await selectRecoveryPoint(pass([]))).toMatchObject({ state: 'stalled', reason: 'NoRecoveryPoint' });
  });
});
