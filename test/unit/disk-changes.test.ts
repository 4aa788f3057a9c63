// Disks changing under a protected VM, the pure parts: what the datapath takes as a new disk list, which
// replica blobs a cycle covers, the points it may record (never one naming a missing replica snapshot), and
// what the operator reports as drift.
import { describe, expect, it } from 'vitest';
import type { ProtectedDisk, RecoveryPoint, ReplicatedVM } from '../../src/api/types.ts';
import { captureCycle, type CaptureDeps } from '../../src/datapath/capture.ts';
import { diskListChange, freshReplicas, replicasOfPoint, reusableSnapshots, targetsOfCycle } from '../../src/datapath/disk-list.ts';
import type { JournalState } from '../../src/datapath/journal.ts';
import type { CycleRecord, DiskCycle } from '../../src/datapath/journal.ts';
import { createRecoveryPoint, pointSpec } from '../../src/datapath/recovery-points.ts';
import type { TargetDisk } from '../../src/datapath/target.ts';
import type { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { describeDiskChanges, detachedDisks, replicaBlobName } from '../../src/reconcilers/replicated-vm/disk-changes.ts';

const MiB = 1024 * 1024;
const disk = (name: string, sizeBytes = 16 * MiB, id = name): ProtectedDisk => ({ name, role: name === 'os' ? 'OS' : 'Data', ...(name === 'os' ? {} : { lun: Number(name.slice(3)) }), sourceDiskId: `/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/${id}`, sizeBytes, targetBlobName: `${name}.vhd` });
const entry = (sizeBytes = 16 * MiB): DiskCycle => ({ full: false, sizeBytes, bytes: 0, chunks: 0, clears: 0, manifestMd5: '' });
const record = (names: string[]): CycleRecord => ({ cycle: 7, attempt: 'a', restorePoint: 'rp-7', time: '2026-01-01T00:00:00Z', consistency: 'CrashConsistent', disks: Object.fromEntries(names.map((n) => [n, entry()])) });
const vmWith = (disks: ProtectedDisk[]): ReplicatedVM => ({ metadata: { name: 'app', namespace: 'ns', uid: 'u' }, spec: { sourceVirtualMachineId: 'x', targetLocation: 'northeurope', policyRef: { name: 'p' }, networkMappingRef: { name: 'n' } }, status: { disks } }) as ReplicatedVM;
const blobUrl = (d: ProtectedDisk) => `https://acct.blob/replica/${d.targetBlobName}`;

describe('the datapath\'s disk list', () => {
  it('sees added and removed disks (a disk replaced at the same LUN is both), not growth', () => {
    expect(diskListChange([disk('os'), disk('lun0')], [disk('os'), disk('lun0', 32 * MiB)])).toBeUndefined();
    expect(diskListChange([disk('os'), disk('lun0')], [disk('os'), disk('lun0'), disk('lun1')])).toEqual({ added: ['lun1'], removed: [] });
    expect(diskListChange([disk('os'), disk('lun0')], [disk('os')])).toEqual({ added: [], removed: ['lun0'] });
    expect(diskListChange([disk('os'), disk('lun0')], [disk('os'), disk('lun0', 16 * MiB, 'other')])).toEqual({ added: ['lun0'], removed: ['lun0'] });
  });

  it('a cycle covers only the replica blobs of the disks it captured', () => {
    const targets = ['os', 'lun0', 'lun1'].map((name) => ({ name }) as TargetDisk);
    expect(targetsOfCycle(targets, record(['os', 'lun0'])).map((t) => t.name)).toEqual(['os', 'lun0']);
  });
});

describe('recovery points over a changing disk list', () => {
  it('a point names the registered disks its cycle captured: not a disk added later, not one removed since', () => {
    const vm = vmWith([disk('os'), disk('lun0'), disk('lun2')]);
    const spec = pointSpec(vm, record(['os', 'lun0', 'lun1']), { os: 's1', lun0: 's2', lun1: 's3' }, blobUrl);
    expect(spec.disks.map((d) => [d.name, d.snapshot])).toEqual([['os', 's1'], ['lun0', 's2']]);
  });

  it('seals a point over the replica blob of each disk it names, and refuses one whose disk has none open', () => {
    const vm = vmWith([disk('os'), disk('lun0')]);
    const spec = pointSpec(vm, record(['os', 'lun0']), {}, blobUrl);
    const targets = ['lun0', 'os', 'lun5'].map((name) => ({ name }) as TargetDisk);
    expect(replicasOfPoint(targets, spec).map((t) => t.name)).toEqual(['os', 'lun0']);
    expect(() => replicasOfPoint(targets.slice(1), spec)).toThrow(/cycle 7: disk lun0 has no replica blob open/);
  });

  it('reuses the snapshots of a seal cut short only when they cover every disk the point names', () => {
    const spec = pointSpec(vmWith([disk('os'), disk('lun0')]), record(['os', 'lun0']), {}, blobUrl);
    const sealing = (snapshots: Record<string, string>, cycle = 7) => ({ sealing: { cycle, snapshots } }) as unknown as JournalState;
    expect(reusableSnapshots(sealing({ os: 's1', lun0: 's2' }), spec)).toEqual({ os: 's1', lun0: 's2' });
    expect(reusableSnapshots(sealing({ os: 's1' }), spec)).toBeUndefined();
    expect(reusableSnapshots(sealing({ os: 's1', lun0: 's2' }, 6), spec)).toBeUndefined();
    expect(reusableSnapshots({} as JournalState, spec)).toBeUndefined();
  });

  it('refuses to record a point naming a replica snapshot that does not exist', async () => {
    const client = { create: () => Promise.reject(new Error('must not be called')) } as unknown as CustomResourceClient<RecoveryPoint>;
    const vm = vmWith([disk('os'), disk('lun0')]);
    await expect(createRecoveryPoint(client, vm, record(['os', 'lun0']), { os: 's1' }, blobUrl)).rejects.toThrow(/no replica snapshot of disk\(s\) lun0/);
  });
});

describe('drift the operator reports', () => {
  it('says which disk was attached, grown or detached, and that a detached disk\'s replica is kept', () => {
    expect(describeDiskChanges(undefined, [disk('os')])).toEqual([]);
    expect(describeDiskChanges([disk('os'), disk('lun0')], [disk('os'), disk('lun0')])).toEqual([]);
    const changes = describeDiskChanges([disk('os'), disk('lun0'), disk('lun1')], [disk('os'), disk('lun0', 1024 * MiB), disk('lun2', 64 * MiB)]);
    expect(changes).toHaveLength(3);
    expect(changes[0]).toMatch(/^disk lun0 grew from 16 MiB to 1 GiB/);
    expect(changes[1]).toMatch(/^disk lun2 .*64 MiB.*attached: replicating it/);
    expect(changes[2]).toMatch(/^disk lun1 .*detached or excluded: no longer replicated; its replica blob lun1\.vhd is kept/);
  });
});

describe('status.detachedDisks', () => {
  it('lists a disk once protected and gone, keeps it, and drops it when the same disk is attached again', () => {
    const t1 = '2026-01-01T00:00:00.000Z';
    const gone = detachedDisks(undefined, [disk('os'), disk('lun0'), disk('lun1')], [disk('os'), disk('lun0')], t1);
    expect(gone).toEqual([{ name: 'lun1', sourceDiskId: disk('lun1').sourceDiskId, targetBlobName: 'lun1.vhd', detachedTime: t1 }]);
    expect(detachedDisks(gone, [disk('os'), disk('lun0')], [disk('os'), disk('lun0')], 'later')).toEqual(gone);
    expect(detachedDisks(gone, [disk('os'), disk('lun0')], [disk('os'), disk('lun0'), disk('lun1')], 'later')).toEqual([]);
    // Another disk at the same LUN is a new disk: the old one stays listed; detached in turn, both are.
    const other = { ...disk('lun1', 16 * MiB, 'other'), targetBlobName: 'lun1-x.vhd' };
    expect(detachedDisks(gone, [disk('os')], [disk('os'), other], 'later')).toEqual(gone);
    expect(detachedDisks(gone, [disk('os'), other], [disk('os')], 'later').map((d) => d.targetBlobName)).toEqual(['lun1.vhd', 'lun1-x.vhd']);
  });
});

describe('capture after a disk was attached', () => {
  it('takes again a restore point an earlier attempt of the cycle took before the disk was attached', async () => {
    const calls: string[] = [];
    const withDisks = (ids: string[]) => ({ name: 'sr-0000000007', ids });
    let current = withDisks(['os']);
    const points = {
      ensure: (name: string) => {
        calls.push(`ensure ${name}`);
        const reused = calls.filter((c) => c.startsWith('ensure')).length === 1;
        if (!reused) current = withDisks(['os', 'lun2']);
        return Promise.resolve({ point: current, reused });
      },
      remove: (name: string) => (calls.push(`remove ${name}`), Promise.resolve()),
      disksOf: (p: { ids: string[] }) => p.ids.map((id) => ({ sourceDiskId: id, diskRestorePoint: `drp-${id}` })),
      find: (disks: { sourceDiskId: string; diskRestorePoint: string }[], id: string) => disks.find((d) => d.sourceDiskId === id)?.diskRestorePoint,
      readUrl: (_point: string, drp: string) => (calls.push(`read ${drp}`), Promise.reject(new Error('stop here'))),
    };
    const deps = { points, signal: new AbortController().signal, concurrency: 1 } as unknown as CaptureDeps;
    const disks = [{ name: 'os', sourceDiskId: 'os' }, { name: 'lun2', sourceDiskId: 'lun2' }];
    await expect(captureCycle(deps, { cycle: 7, consistency: 'CrashConsistent', base: undefined, resync: [], disks })).rejects.toThrow('stop here');
    expect(calls).toEqual(['ensure sr-0000000007', 'remove sr-0000000007', 'ensure sr-0000000007', 'read drp-os']);
  });
});

describe('a disk replaced under the same name', () => {
  it('gets a replica blob of its own, so the replaced disk\'s replica is never overwritten', () => {
    expect(replicaBlobName(disk('lun1'), undefined, undefined)).toBe('lun1.vhd');
    expect(replicaBlobName(disk('lun1'), [disk('os'), disk('lun1')], undefined)).toBe('lun1.vhd');
    const other = disk('lun1', 16 * MiB, 'other');
    const own = replicaBlobName(other, [disk('os')], [{ name: 'lun1', sourceDiskId: disk('lun1').sourceDiskId, targetBlobName: 'lun1.vhd', detachedTime: 't' }]);
    expect(own).toMatch(/^lun1-[0-9a-f]{8}\.vhd$/);
    expect(replicaBlobName(other, [disk('os'), { ...other, targetBlobName: own }], undefined)).toBe(own);
  });

  it('is copied in full, not diffed against the base of the disk it replaced', () => {
    const state = { base: { cycle: 6, restorePoint: 'sr-6', time: 't', disks: { os: 'drp-os', lun1: 'drp-old' } }, resync: [], pending: [] } as unknown as JournalState;
    const targets = [{ name: 'os', applied: 6 }, { name: 'lun1', applied: 0 }, { name: 'lun2', applied: 0 }] as TargetDisk[];
    expect(freshReplicas(targets, state)).toEqual(['lun1']);
    expect(freshReplicas(targets, { ...state, resync: ['lun1'] })).toEqual([]);
    expect(freshReplicas(targets, { ...state, pending: [{ ...record(['lun1']), disks: { lun1: { ...entry(), full: true } } }] })).toEqual([]);
  });
});
