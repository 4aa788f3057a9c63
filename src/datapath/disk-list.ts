/**
 * Disks changing under a protected VM, as the datapath sees them. The operator re-reads the source VM and
 * rewrites the registration (status.disks); a worker compares the list its session opened with the newest
 * one and, when a disk was added or removed, ends the session cleanly so the next one opens the new list:
 * an added disk gets a replica blob and, having no diff base, a full copy of that disk alone in the next
 * cycle (the others go on diffing); a removed disk is no longer captured and its replica blob is left as it
 * is (points naming its snapshots stay valid until retention prunes them). A grown disk needs no new
 * session: capture reads each disk's size from its restore point and apply grows the replica (target.ts).
 *
 * A disk replaced at the same LUN (another source disk under the same name) gets a replica blob of its own
 * (the operator names it apart); its blob is new while the diff base still names the old disk's restore
 * point under that name, so it is copied in full (freshReplicas) rather than diffed against another disk.
 *
 * Which disks a cycle covers is fixed at capture: a recovery point is sealed over exactly the disks its
 * cycle captured that are still registered, each of which has a replica, so no point ever names a replica
 * snapshot that does not exist.
 */
import type { ProtectedDisk, RecoveryPoint } from '../api/types.ts';
import type { CycleRecord, JournalState } from './journal.ts';
import type { TargetDisk } from './target.ts';

export interface DiskListChange {
  added: string[];
  removed: string[];
}

/** What changed between the disks a session opened and the newest registration; undefined when nothing that needs a new session. */
export function diskListChange(opened: readonly ProtectedDisk[], newest: readonly ProtectedDisk[]): DiskListChange | undefined {
  const key = (d: ProtectedDisk) => `${d.name}|${d.sourceDiskId.toLowerCase()}|${d.targetBlobName ?? ''}`;
  const before = new Set(opened.map(key));
  const after = new Set(newest.map(key));
  const added = newest.filter((d) => !before.has(key(d))).map((d) => d.name);
  const removed = opened.filter((d) => !after.has(key(d))).map((d) => d.name);
  return added.length || removed.length ? { added, removed } : undefined;
}

/** Ends a session whose disk list is out of date; the worker starts the next one at once (not an error). */
export class DiskListChangedError extends Error {
  readonly change: DiskListChange;
  constructor(change: DiskListChange) {
    super(`the VM's disks changed (added: ${change.added.join(', ') || 'none'}; removed: ${change.removed.join(', ') || 'none'})`);
    this.name = 'DiskListChangedError';
    this.change = change;
  }
}

/** The replica blobs a cycle covers: those of the disks it captured (a disk added later has no part in it). */
export function targetsOfCycle(targets: readonly TargetDisk[], record: CycleRecord): TargetDisk[] {
  return targets.filter((t) => record.disks[t.name] !== undefined);
}

/** The replica blob of each disk a point describes, in its order; a disk without one open cannot be sealed. */
export function replicasOfPoint(targets: readonly TargetDisk[], described: RecoveryPoint['spec']): TargetDisk[] {
  return described.disks.map((d) => {
    const target = targets.find((t) => t.name === d.name);
    if (!target) throw new Error(`cannot seal cycle ${described.cycle}: disk ${d.name} has no replica blob open`);
    return target;
  });
}

/**
 * Disks whose replica blob holds nothing of this journal yet while the diff base names a restore point for
 * them (a disk replaced under the same name): they must be copied in full, unless a full copy is pending.
 */
export function freshReplicas(targets: readonly TargetDisk[], state: Readonly<JournalState>): string[] {
  return targets
    .filter((t) => t.applied === 0 && t.progress === undefined && state.base?.disks[t.name] !== undefined)
    .filter((t) => !state.resync.includes(t.name) && !state.pending.some((p) => p.disks[t.name]?.full || p.disks[t.name]?.seeded))
    .map((t) => t.name);
}

/**
 * The snapshots a seal cut short took for this point (journal.sealing), when they still cover every disk
 * the point names; undefined when there are none or the disk list changed since (take them again).
 */
export function reusableSnapshots(state: Readonly<JournalState>, described: RecoveryPoint['spec']): Record<string, string> | undefined {
  const sealing = state.sealing?.cycle === described.cycle ? state.sealing?.snapshots : undefined;
  return sealing && described.disks.every((d) => sealing[d.name]) ? sealing : undefined;
}
