/**
 * Sealing recovery point n once every disk of the VM reached cycle n: snapshot every replica blob
 * (recorded in the journal first, so a seal cut short reuses its snapshots instead of leaking new ones),
 * record the RecoveryPoint, mark the cycle sealed in the journal (initial sync and sync-now requests
 * complete here), then prune points past the policy's retention. A half-applied cycle is never sealed.
 */
import * as metrics from './metrics.ts';
import { errorKind, errorMessage } from './errors.ts';
import type { CycleRecord } from './journal.ts';
import { createRecoveryPoint, prune, recoveryPointName } from './recovery-points.ts';
import { snapshotAll, targetBlobName } from './target.ts';
import type { Session, VmContext } from './worker-context.ts';

/** Seals `record` as a recovery point (every disk has applied it); `bytes` is what it carried. */
export async function seal(ctx: VmContext, session: Session, record: CycleRecord, bytes: number): Promise<void> {
  const { journal, targets, fence, replica } = session;
  const stopTimer = metrics.cycleDuration.startTimer({ stage: 'seal' });
  let snapshots = journal.state.sealing?.cycle === record.cycle ? journal.state.sealing.snapshots : undefined;
  if (!snapshots) {
    const taken = await snapshotAll(targets, fence);
    await journal.update((s) => (s.sealing = { cycle: record.cycle, snapshots: taken }));
    snapshots = taken;
  }
  const point = await createRecoveryPoint(ctx.deps.recoveryPoints, ctx.vm, record, snapshots, (disk) => replica.getBlobClient(targetBlobName(disk)).url);
  const summary = { name: point.metadata.name ?? recoveryPointName(ctx.vm.metadata.name ?? '', record.cycle), time: record.time, consistency: record.consistency, cycle: record.cycle };
  const first = !journal.state.lastPoint;
  await journal.update((s) => {
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
  try {
    const result = await prune(ctx.deps.recoveryPoints, ctx.vm, replica, ctx.times.retentionMs, summary.name, new Set());
    if (result.deletedPoints.length) ctx.log.info('pruned recovery points past retention', { points: result.deletedPoints.length, snapshots: result.deletedSnapshots });
  } catch (error) {
    metrics.datapathErrors.inc({ stage: 'prune', kind: errorKind(error) });
    ctx.log.warn('pruning failed; will retry after the next seal', { error: errorMessage(error) });
  }
}