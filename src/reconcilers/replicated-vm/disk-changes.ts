/**
 * Disks changing under a protected VM, as the operator sees them: each pass re-reads the source VM, and
 * the registration it writes (status.disks) is what the datapath replicates (src/datapath/disk-list.ts).
 * This file says what changed since the registration recorded: a data disk attached (replicated from the
 * next cycle, a full copy of that disk alone), detached (no longer replicated; its replica blob is kept and
 * the recovery points naming it stay until the policy's retention prunes them — nothing is deleted that a
 * person did not ask to delete), or grown (its replica grows with the next cycle). The reconciler records
 * one DriftDetected event per change, and status.detachedDisks lists the disks no longer replicated whose
 * replica blobs are kept. It also names each disk's replica blob: a disk attached at a LUN another disk
 * used before gets a blob of its own, so the replica it replaces is never overwritten.
 */
import type { DetachedDisk, ProtectedDisk } from '../../api/types.ts';
import { shortHash } from '../../azure/arm-id.ts';

const MiB = 1024 * 1024;

/** One line per change between the recorded disks and the newest ones; empty when nothing changed (or nothing was recorded). */
export function describeDiskChanges(recorded: readonly ProtectedDisk[] | undefined, newest: readonly ProtectedDisk[]): string[] {
  if (!recorded?.length) return [];
  const changes: string[] = [];
  const same = (a: ProtectedDisk, b: ProtectedDisk) => a.name === b.name && a.sourceDiskId.toLowerCase() === b.sourceDiskId.toLowerCase();
  for (const disk of newest) {
    const before = recorded.find((d) => same(d, disk));
    if (!before) changes.push(`disk ${disk.name} (${disk.sourceDiskId}, ${size(disk.sizeBytes)}) attached: replicating it, starting with a full copy of that disk`);
    else if (disk.sizeBytes > before.sizeBytes) changes.push(`disk ${disk.name} grew from ${size(before.sizeBytes)} to ${size(disk.sizeBytes)}: its replica grows with the next recovery point`);
  }
  for (const disk of recorded) {
    if (!newest.some((d) => same(d, disk))) {
      changes.push(`disk ${disk.name} (${disk.sourceDiskId}) detached or excluded: no longer replicated; its replica blob ${disk.targetBlobName ?? `${disk.name}.vhd`} is kept, and recovery points naming it stay until retention prunes them`);
    }
  }
  return changes;
}

/**
 * The replica blob of a disk: the one recorded for it, else `<name>.vhd`, unless another source disk was
 * protected under that name (a disk replaced at the same LUN): then a name of its own, so the replica of
 * the disk it replaced is kept and never overwritten by another disk's data.
 */
export function replicaBlobName(disk: { name: string; sourceDiskId: string }, recorded: readonly ProtectedDisk[] | undefined, detached: readonly DetachedDisk[] | undefined): string {
  const id = disk.sourceDiskId.toLowerCase();
  const known = [...(recorded ?? []), ...(detached ?? [])].filter((d) => d.name === disk.name);
  const same = known.find((d) => d.sourceDiskId.toLowerCase() === id);
  if (same) return same.targetBlobName ?? `${disk.name}.vhd`;
  return known.length ? `${disk.name}-${shortHash(8, id)}.vhd` : `${disk.name}.vhd`;
}

/**
 * status.detachedDisks after this pass: those listed before, plus disks registered before and gone now,
 * minus any attached again (same name and source disk: replicated again); one entry per replica blob.
 */
export function detachedDisks(listed: readonly DetachedDisk[] | undefined, recorded: readonly ProtectedDisk[] | undefined, newest: readonly ProtectedDisk[], now: string): DetachedDisk[] {
  const same = (a: { name: string; sourceDiskId: string }, b: { name: string; sourceDiskId: string }) => a.name === b.name && a.sourceDiskId.toLowerCase() === b.sourceDiskId.toLowerCase();
  const gone = (recorded ?? []).filter((d) => !newest.some((n) => same(n, d))).map((d) => ({ name: d.name, sourceDiskId: d.sourceDiskId, targetBlobName: d.targetBlobName ?? `${d.name}.vhd`, detachedTime: now }));
  const out = (listed ?? []).filter((d) => !newest.some((n) => same(n, d)) && !gone.some((g) => g.targetBlobName === d.targetBlobName));
  return [...out, ...gone].sort((a, b) => a.name.localeCompare(b.name) || a.detachedTime.localeCompare(b.detachedTime));
}

function size(bytes: number): string {
  return bytes % (1024 * MiB) === 0 ? `${bytes / (1024 * MiB)} GiB` : `${Math.round(bytes / MiB)} MiB`;
}
