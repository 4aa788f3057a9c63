/**
 * Recovery points recoverable from the target region alone (DESIGN §2 "Regions fail"). Sealing gives each
 * replica blob snapshot metadata saying which point it belongs to and what the point says of its disk:
 *
 *   srpvm           the ReplicatedVM's name            srpcycle        the cycle the point seals
 *   srptime         the capture time (ISO 8601)        srpconsistency  CrashConsistent or AppConsistent
 *   srpdisk         the disk's name (os, lun<N>)       srprole, srplun its role and LUN (data disks)
 *   srpsize         the disk's size in the point       srpsourcedisk   the source managed disk's ARM id
 *   srpindex        the disk's place in the point      srpdisks        how many disks the point has
 *   srpgroup, srpgroupcycle, srpgroupmembers, srpgroupskewms   a consistency group cycle's stamp
 *   srpsuspect      why the point is suspect (sealed during a churn anomaly, worker-churn.ts)
 *
 * With the replica container's URL and the snapshot time, that is the RecoveryPoint's spec exactly, so a
 * cluster that lost its RecoveryPoint objects (a brand-new one, with the same manifests applied again)
 * rebuilds them from target storage: rebuildRecoveryPoints lists the replica blobs' snapshots with their
 * metadata, keeps the cycles every disk of which has a snapshot (a sealed point; a seal cut short leaves
 * fewer), and creates the points missing, with the names, labels, owner and group stamp sealing gives them
 * (so a group's failover can still pick the newest cycle every member sealed) and suspect marks (so
 * LatestClean in a new cluster still skips points sealed during a churn anomaly). Nothing
 * of the source region (the journal, the cache account) is read, so it runs before a session opens the
 * journal and whatever the source region's state. Snapshots without this metadata (sealed by an older
 * datapath) are not rebuilt.
 */
import type { ContainerClient } from '@azure/storage-blob';
import type { ConsistencyType, DiskRole, RecoveryPoint, RecoveryPointDisk, ReplicatedVM } from '../api/types.ts';
import { REPLICATED_VM_LABEL } from '../api/contract.ts';
import type { CustomResourceClient } from '../kube/custom-resources.ts';
import type { GroupStamp } from './consistency-group.ts';
import { writePointStatus } from './group-point.ts';
import { pointLabels, recordPoint, recoveryPointName } from './recovery-points.ts';

/** A sealed point found in target storage: its spec, and its group cycle's stamp if it has one. */
export type StoredPoint = RecoveryPoint['spec'] & { group?: GroupStamp; suspect?: string };

/** The metadata of the snapshot of disk `disk` sealing the point `spec` describes (its snapshots still unknown). */
export function snapshotMetadata(spec: RecoveryPoint['spec'], disk: string, group?: GroupStamp, suspect?: string): Record<string, string> {
  const index = spec.disks.findIndex((d) => d.name === disk);
  const entry = spec.disks[index];
  if (!entry) throw new Error(`disk ${disk} is not part of recovery point ${spec.cycle}`);
  return {
    srpvm: spec.replicatedVMName,
    srpcycle: String(spec.cycle ?? 0),
    srptime: spec.time,
    srpconsistency: spec.consistency,
    srpdisk: entry.name,
    srprole: entry.role,
    ...(entry.lun !== undefined ? { srplun: String(entry.lun) } : {}),
    srpsize: String(entry.sizeBytes),
    ...(entry.sourceDiskId ? { srpsourcedisk: entry.sourceDiskId } : {}),
    srpindex: String(index),
    srpdisks: String(spec.disks.length),
    ...(group ? { srpgroup: group.group, srpgroupcycle: String(group.cycle), srpgroupmembers: String(group.members), srpgroupskewms: String(Math.round(group.skewMs)) } : {}),
    // Metadata values are HTTP headers: printable ASCII only.
    ...(suspect !== undefined ? { srpsuspect: suspect.replace(/[^\x20-\x7e]/g, '?').slice(0, 1024) } : {}),
  };
}

interface SnapshotOfPoint {
  vm: string;
  cycle: number;
  time: string;
  consistency: ConsistencyType;
  index: number;
  count: number;
  disk: Omit<RecoveryPointDisk, 'blobUrl' | 'snapshot'>;
  group?: GroupStamp;
  suspect?: string;
}

/** Reads snapshot metadata back; undefined when it does not describe a point (an older seal, a foreign blob). */
export function parseSnapshotMetadata(metadata: Record<string, string> | undefined): SnapshotOfPoint | undefined {
  const m = Object.fromEntries(Object.entries(metadata ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const int = (value: string | undefined) => (value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined);
  const cycle = int(m.srpcycle);
  const index = int(m.srpindex);
  const count = int(m.srpdisks);
  const size = int(m.srpsize);
  const consistency = m.srpconsistency;
  const role = m.srprole;
  if (!m.srpvm || !m.srptime || !m.srpdisk || cycle === undefined || index === undefined || count === undefined || size === undefined) return undefined;
  if (consistency !== 'CrashConsistent' && consistency !== 'AppConsistent') return undefined;
  if (role !== 'OS' && role !== 'Data') return undefined;
  const lun = int(m.srplun);
  const [groupCycle, members, skewMs] = [int(m.srpgroupcycle), int(m.srpgroupmembers), int(m.srpgroupskewms)];
  const group = m.srpgroup && groupCycle && members && skewMs !== undefined ? { group: { group: m.srpgroup, cycle: groupCycle, members, skewMs } } : {};
  return {
    ...group,
    ...(m.srpsuspect !== undefined ? { suspect: m.srpsuspect } : {}),
    vm: m.srpvm,
    cycle,
    time: m.srptime,
    consistency,
    index,
    count,
    disk: { name: m.srpdisk, role: role as DiskRole, ...(lun !== undefined ? { lun } : {}), sizeBytes: size, ...(m.srpsourcedisk ? { sourceDiskId: m.srpsourcedisk } : {}) },
  };
}

/** The sealed points the replica container holds for `vmName`, by cycle (every disk has a snapshot). */
export async function sealedPointsIn(replica: ContainerClient, vmName: string): Promise<Map<number, StoredPoint>> {
  const found = new Map<number, { head: SnapshotOfPoint; disks: Map<number, RecoveryPointDisk> }>();
  for await (const item of replica.listBlobsFlat({ includeSnapshots: true, includeMetadata: true })) {
    const of = item.snapshot ? parseSnapshotMetadata(item.metadata) : undefined;
    if (!of || of.vm !== vmName || of.index >= of.count) continue;
    const point = found.get(of.cycle) ?? { head: of, disks: new Map() };
    found.set(of.cycle, point);
    const earlier = point.disks.get(of.index);
    // A seal cut short before the journal kept its snapshots took them again: the newest ones count.
    if (earlier && earlier.snapshot >= (item.snapshot ?? '')) continue;
    point.disks.set(of.index, { ...of.disk, blobUrl: replica.getBlobClient(item.name).url, snapshot: item.snapshot ?? '' });
  }
  const sealed = new Map<number, StoredPoint>();
  for (const [cycle, { head, disks }] of found) {
    if (disks.size !== head.count) continue;
    const ordered = [...disks.entries()].sort(([a], [b]) => a - b).map(([, disk]) => disk);
    sealed.set(cycle, { replicatedVMName: vmName, time: head.time, consistency: head.consistency, cycle, disks: ordered, ...(head.group ? { group: head.group } : {}), ...(head.suspect !== undefined ? { suspect: head.suspect } : {}) });
  }
  return sealed;
}

/** While storage holds suspect points: the newest point before the first of them (kept past the retention). */
function lastCleanCycle(sealed: ReadonlyMap<number, StoredPoint>): number | undefined {
  const cycles = [...sealed.keys()].sort((a, b) => a - b);
  const firstSuspect = cycles.find((c) => sealed.get(c)?.suspect !== undefined);
  return firstSuspect === undefined ? undefined : cycles.filter((c) => c < firstSuspect).at(-1);
}

/**
 * Creates the RecoveryPoint objects missing for the sealed points target storage holds. Points past
 * `retentionMs` are left for pruning (their snapshots go with it), except the newest and, while suspect
 * points are stored, the newest before them. Returns the names created.
 */
export async function rebuildRecoveryPoints(client: CustomResourceClient<RecoveryPoint>, vm: ReplicatedVM, replica: ContainerClient, retentionMs: number, now = Date.now()): Promise<string[]> {
  const namespace = vm.metadata.namespace ?? 'default';
  const vmName = vm.metadata.name ?? '';
  const existing = new Set((await client.list(namespace, `${REPLICATED_VM_LABEL}=${vmName}`)).items.map((p) => p.metadata.name));
  const sealed = await sealedPointsIn(replica, vmName);
  const newest = Math.max(0, ...sealed.keys());
  const created: string[] = [];
  const clean = lastCleanCycle(sealed);
  for (const [cycle, { group, suspect, ...spec }] of [...sealed.entries()].sort(([a], [b]) => a - b)) {
    if (existing.has(recoveryPointName(vmName, cycle))) continue;
    if (cycle !== newest && cycle !== clean && Date.parse(spec.time) < now - retentionMs) continue;
    const point = await recordPoint(client, vm, spec, pointLabels(group?.group, suspect !== undefined));
    await writePointStatus(client, point, { ...(group ? { group } : {}), ...(suspect !== undefined ? { suspect } : {}) });
    created.push(point.metadata.name ?? '');
  }
  return created;
}
