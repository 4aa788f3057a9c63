/**
 * RecoveryPoint objects: one per sealed cycle, named <vm>-<cycle>, immutable, labelled with the VM's name
 * and owned by the ReplicatedVM (ownerReference, so a garbage collector would remove them with it; the
 * operator removes them itself when replication is disabled). Creating one is idempotent: a retried seal
 * finds the object it created. Pruning removes points past the policy's retention — never the newest —
 * object first, snapshot after, so no object ever names a deleted snapshot; snapshots no object names
 * (a seal cut short, a pruning cut short) are removed too. A point of a consistency group cycle is also
 * labelled with the group, and the datapath writes the cycle's stamp into its status (group-point.ts).
 */
import type { ContainerClient } from '@azure/storage-blob';
import type { ProtectedDisk, RecoveryPoint, RecoveryPointDisk, ReplicatedVM } from '../api/types.ts';
import { API_VERSION } from '../api/types.ts';
import { isConflict } from '../kube/errors.ts';
import type { CustomResourceClient } from '../kube/custom-resources.ts';
import { shortHash } from '../azure/arm-id.ts';
import type { CycleRecord } from './journal.ts';
import { cycleOfRecord } from '../azure/verify/point-checksums.ts';
import { storageError } from './storage.ts';
import { targetBlobName } from './target.ts';

import { CONSISTENCY_GROUP_LABEL, DATAPATH_FIELD_MANAGER, REPLICATED_VM_LABEL, SUSPECT_LABEL } from '../api/contract.ts';

/** <vm>-<cycle, 6 digits>; shortened with a hash when the VM's name is long. */
export function recoveryPointName(vmName: string, cycle: number): string {
  const suffix = `-${String(cycle).padStart(6, '0')}`;
  const room = 253 - suffix.length;
  const base = vmName.length <= room ? vmName : `${vmName.slice(0, room - 9)}-${shortHash(8, vmName)}`;
  return `${base}${suffix}`;
}

export async function createRecoveryPoint(
  client: CustomResourceClient<RecoveryPoint>,
  vm: ReplicatedVM,
  record: CycleRecord,
  snapshots: Record<string, string>,
  blobUrl: (disk: ProtectedDisk) => string,
  suspect = false,
): Promise<RecoveryPoint> {
  const spec = pointSpec(vm, record, snapshots, blobUrl);
  const missing = spec.disks.filter((d) => !d.snapshot).map((d) => d.name);
  if (missing.length) throw new Error(`refusing to record recovery point ${record.cycle}: no replica snapshot of disk(s) ${missing.join(', ')}`);
  return recordPoint(client, vm, spec, pointLabels(record.group?.group, suspect));
}

/** The labels a point gets besides its VM's: its consistency group, and siterecovery.io/suspect when suspect. */
export function pointLabels(group: string | undefined, suspect: boolean): Record<string, string> {
  return { ...(group ? { [CONSISTENCY_GROUP_LABEL]: group } : {}), ...(suspect ? { [SUSPECT_LABEL]: 'true' } : {}) };
}

/**
 * The spec of the point sealing `record`: one entry per protected disk the cycle captured, in the order of
 * status.disks (OS first). A disk added after the capture has no part in it; one removed since is left out.
 */
export function pointSpec(vm: ReplicatedVM, record: CycleRecord, snapshots: Record<string, string>, blobUrl: (disk: ProtectedDisk) => string): RecoveryPoint['spec'] {
  const disks: RecoveryPointDisk[] = (vm.status?.disks ?? []).filter((disk) => record.disks[disk.name] !== undefined).map((disk) => ({
    name: disk.name,
    role: disk.role,
    ...(disk.lun !== undefined ? { lun: disk.lun } : {}),
    sizeBytes: record.disks[disk.name]?.sizeBytes ?? disk.sizeBytes,
    blobUrl: blobUrl(disk),
    snapshot: snapshots[disk.name] ?? '',
    sourceDiskId: disk.sourceDiskId,
  }));
  return { replicatedVMName: vm.metadata.name ?? '', time: record.time, consistency: record.consistency, cycle: record.cycle, disks };
}

/**
 * Creates the RecoveryPoint `spec` describes, named, labelled and owned as every point of `vm`; a point of
 * that name and cycle already there (a retried seal, a rebuild racing a seal) is returned as it is.
 */
export async function recordPoint(client: CustomResourceClient<RecoveryPoint>, vm: ReplicatedVM, spec: RecoveryPoint['spec'], labels: Record<string, string> = {}): Promise<RecoveryPoint> {
  const namespace = vm.metadata.namespace ?? 'default';
  const name = recoveryPointName(vm.metadata.name ?? '', spec.cycle ?? 0);
  try {
    return await client.create(
      namespace,
      {
        metadata: {
          name,
          namespace,
          labels: { ...labels, [REPLICATED_VM_LABEL]: vm.metadata.name ?? '' },
          ownerReferences: [{ apiVersion: API_VERSION, kind: 'ReplicatedVM', name: vm.metadata.name ?? '', uid: vm.metadata.uid ?? '', controller: true }],
        },
        spec,
      },
      DATAPATH_FIELD_MANAGER,
    );
  } catch (error) {
    if (!isConflict(error)) throw error;
    const existing = await client.get({ namespace, name });
    if (!existing || existing.spec.cycle !== spec.cycle) throw error;
    return existing;
  }
}

export interface PruneResult {
  deletedPoints: string[];
  deletedSnapshots: number;
}

/**
 * Deletes points captured before `now - retentionMs` (keeping those named in `keep`: the newest sealed point,
 * and the last clean point while a churn anomaly is in force), then every snapshot of the VM's replica blobs
 * that no remaining point names (except those in `inFlight`).
 */
export async function prune(
  client: CustomResourceClient<RecoveryPoint>,
  vm: ReplicatedVM,
  replica: ContainerClient,
  retentionMs: number,
  keep: ReadonlySet<string>,
  inFlight: ReadonlySet<string>,
  now = Date.now(),
): Promise<PruneResult> {
  const namespace = vm.metadata.namespace ?? 'default';
  const points = (await client.list(namespace, `${REPLICATED_VM_LABEL}=${vm.metadata.name}`)).items.filter((p) => p.metadata.ownerReferences?.some((o) => o.uid === vm.metadata.uid) ?? true);
  const deletedPoints: string[] = [];
  const referenced = new Set<string>(inFlight);
  for (const point of points) {
    const expired = Date.parse(point.spec.time) < now - retentionMs && !keep.has(point.metadata.name ?? '');
    if (expired) {
      await client.delete({ namespace, name: point.metadata.name ?? '' });
      deletedPoints.push(point.metadata.name ?? '');
    } else {
      for (const disk of point.spec.disks) referenced.add(`${disk.name}@${disk.snapshot}`);
    }
  }
  let deletedSnapshots = 0;
  // Disks registered now, and removed ones the points still name (their snapshots age out the same way).
  const blobs = new Map((vm.status?.disks ?? []).map((d) => [targetBlobName(d), d.name]));
  for (const point of points) for (const disk of point.spec.disks) if (disk.blobUrl) blobs.set(blobNameOf(disk.blobUrl, replica.containerName), disk.name);
  // Checksum records (src/azure/verify/point-checksums.ts) older than every point kept go with their points.
  const keptCycles = points.filter((p) => !deletedPoints.includes(p.metadata.name ?? '')).map((p) => p.spec.cycle ?? 0);
  const oldestKept = keptCycles.length ? Math.min(...keptCycles) : 0;
  for await (const item of replica.listBlobsFlat({ includeSnapshots: true })) {
    const recordCycle = item.snapshot ? undefined : cycleOfRecord(item.name);
    if (recordCycle !== undefined) {
      if (recordCycle < oldestKept) await replica.deleteBlob(item.name).catch((error: unknown) => storageError(error).status === 404 || Promise.reject(error));
      continue;
    }
    const disk = blobs.get(item.name);
    if (!item.snapshot || !disk || referenced.has(`${disk}@${item.snapshot}`)) continue;
    try {
      await replica.getBlobClient(item.name).withSnapshot(item.snapshot).delete();
      deletedSnapshots += 1;
    } catch (error) {
      if (storageError(error).status !== 404) throw error;
    }
  }
  return { deletedPoints, deletedSnapshots };
}

/** The blob name in a replica blob's URL: the path after the container (path-style or host-style URLs). */
function blobNameOf(url: string, container: string): string {
  const path = new URL(url).pathname;
  const at = path.indexOf(`/${container}/`);
  return decodeURIComponent(at < 0 ? (path.split('/').pop() ?? '') : path.slice(at + container.length + 2));
}
