/**
 * Sealing recovery point n once every disk of the VM reached cycle n: record the checksums of what the
 * cycle wrote beside the replicas (point-checksums.ts, for the operator's background verification), then
 * snapshot every replica blob, each snapshot carrying what rebuilding the point needs (point-metadata.ts),
 * recorded in the journal first
 * so a seal cut short reuses its snapshots instead of leaking new ones; record the RecoveryPoint, mark the
 * cycle sealed in the journal (initial sync and sync-now requests complete here), then prune points past
 * the policy's retention. A half-applied cycle is never sealed. Each cycle is judged for a churn anomaly
 * first (worker-churn.ts): a suspect point says so in its snapshots' metadata, its label and its status.
 */
import type { ContainerClient } from '@azure/storage-blob';
import * as metrics from './metrics.ts';
import { errorKind, errorMessage } from './errors.ts';
import type { CycleRecord } from './journal.ts';
import type { ProtectedDisk } from '../api/types.ts';
import { rebuildRecoveryPoints, snapshotMetadata } from './point-metadata.ts';
import { replicasOfPoint, reusableSnapshots } from './disk-list.ts';
import { createRecoveryPoint, pointSpec, prune, recoveryPointName } from './recovery-points.ts';
import { snapshotAll, targetBlobName } from './target.ts';
import { writePointStatus } from './group-point.ts';
import { judgeSeal, reportDetected, retainedPoints } from './worker-churn.ts';
import { recordPointChecksums } from './point-checksums.ts';
import type { Session, VmContext } from './worker-context.ts';

/** Seals `record` as a recovery point (every disk has applied it); `bytes` is what it carried. */
export async function seal(ctx: VmContext, session: Session, record: CycleRecord, bytes: number): Promise<void> {
  const { journal, targets, fence, replica } = session;
  const stopTimer = metrics.cycleDuration.startTimer({ stage: 'seal' });
  const blobUrl = (disk: ProtectedDisk) => replica.getBlobClient(targetBlobName(disk)).url;
  // The point covers the registered disks the cycle captured, each of which must have a replica here.
  const described = pointSpec(ctx.vm, record, {}, blobUrl);
  const churn = judgeSeal(ctx, journal.state, record, recoveryPointName(ctx.vm.metadata.name ?? '', record.cycle));
  let snapshots = reusableSnapshots(journal.state, described);
  if (!snapshots) {
    // What the cycle wrote and its checksums at capture, kept beside the replicas for later verification.
    await recordPointChecksums(session.cache, replica, record, replicasOfPoint(targets, described), session.signal);
    // Each snapshot says which point it belongs to, so the point can be rebuilt from target storage alone.
    const taken = await snapshotAll(replicasOfPoint(targets, described), fence, (disk) => snapshotMetadata(described, disk, record.group, churn.suspect));
    await journal.update((s) => (s.sealing = { cycle: record.cycle, snapshots: taken }));
    snapshots = taken;
  }
  const point = await createRecoveryPoint(ctx.deps.recoveryPoints, ctx.vm, record, snapshots, blobUrl, churn.suspect !== undefined);
  await writePointStatus(ctx.deps.recoveryPoints, point, { ...(record.group ? { group: record.group } : {}), ...(churn.suspect !== undefined ? { suspect: churn.suspect } : {}) });
  const summary = { name: point.metadata.name ?? recoveryPointName(ctx.vm.metadata.name ?? '', record.cycle), time: record.time, consistency: record.consistency, cycle: record.cycle };
  const first = !journal.state.lastPoint;
  await journal.update((s) => {
    s.churn = churn.next;
    s.sealed = record.cycle;
    delete s.sealing;
    s.lastPoint = summary;
    if (record.consistency === 'AppConsistent') s.lastAppConsistentPoint = summary;
    s.pending = s.pending.filter((p) => p.cycle !== record.cycle);
    s.bytesReplicated += bytes;
    if (s.initialSync && !s.initialSync.completionTime) s.initialSync.completionTime = new Date().toISOString();
    if (record.syncToken && s.syncNow?.token === record.syncToken) {
      s.syncNow = { token: record.syncToken, state: 'Succeeded', cycle: record.cycle, recoveryPointName: summary.name, recoveryPointTime: record.time };
    }
  });
  stopTimer();
  metrics.sealedPoints.inc(ctx.labels);
  ctx.log.info('sealed', { cycle: record.cycle, recoveryPoint: summary.name, time: record.time });
  if (first) ctx.deps.events.record(ctx.vm, 'Normal', 'InitialSyncCompleted', `initial sync complete: recovery point ${summary.name} sealed`);
  if (record.syncToken) ctx.deps.events.record(ctx.vm, 'Normal', 'SyncNowCompleted', `recovery point ${summary.name} sealed for sync-now request ${record.syncToken}`);
  reportDetected(ctx, churn.detected);
  try {
    const keep = new Set([summary.name, ...retainedPoints(journal.state)]);
    const result = await prune(ctx.deps.recoveryPoints, ctx.vm, replica, ctx.times.retentionMs, keep, new Set());
    if (result.deletedPoints.length) ctx.log.info('pruned recovery points past retention', { points: result.deletedPoints.length, snapshots: result.deletedSnapshots });
  } catch (error) {
    metrics.datapathErrors.inc({ stage: 'prune', kind: errorKind(error) });
    ctx.log.warn('pruning failed; will retry after the next seal', { error: errorMessage(error) });
  }
}
/**
 * Rebuilds the RecoveryPoint objects missing for the sealed points the replica container holds
 * (point-metadata.ts): once per worker, before its first session opens the journal, so it needs nothing
 * of the source region and runs before any pruning could take the snapshots for unreferenced ones.
 */
export async function rebuildPoints(ctx: VmContext, replica: ContainerClient): Promise<void> {
  const rebuilt = await rebuildRecoveryPoints(ctx.deps.recoveryPoints, ctx.vm, replica, ctx.times.retentionMs);
  if (!rebuilt.length) return;
  metrics.rebuiltPoints.inc(ctx.labels, rebuilt.length);
  ctx.log.info('recovery points rebuilt from target storage', { points: rebuilt.length, first: rebuilt[0], last: rebuilt.at(-1) });
  ctx.deps.events.record(ctx.vm, 'Normal', 'RecoveryPointsRebuilt', `${rebuilt.length} recovery point(s) rebuilt from the replica snapshots in target storage (${rebuilt[0]} to ${rebuilt.at(-1)})`);
}
