/**
 * The capture side of a VM's session: when the next capture is due (the policy's interval from the
 * previous one — stretched when the replica's VMs need more than its share of the ARM budget, pacing.ts —
 * at once on sync-now or resync, paused while the cache holds too many cycles), and one capture: seed
 * the replica blobs on a re-protect's first cycle, capture the cycle into the cache (capture.ts; its
 * failures count as the source region's, see source-region.ts), commit it to the journal (only then does
 * it exist), wake apply, and drop restore points no longer needed as a diff base.
 */
import * as metrics from './metrics.ts';
import { captureCycle, type CaptureResult } from './capture.ts';
import { errorKind, errorMessage } from './errors.ts';
import { cycleBytes } from './journal.ts';
import { cycleOfRestorePoint } from './restore-points.ts';
import { holdsEarlierJournal, isSeeded, seedReplica } from './seed.ts';
import { inSourceRegion } from './source-call.ts';
import type { Session, VmContext } from './worker-context.ts';
import { writeStatus } from './worker-status.ts';
import { appConsistentDue, groupDelay, joinGroupCycle, type GroupCapture } from './worker-group.ts';

/** Milliseconds until the next capture is due (0 or less: now). */
export function captureDelay(ctx: VmContext, session: Session): number {
  if (ctx.syncWanted || ctx.resyncWanted) return 0;
  const state = session.journal.state;
  if (!state.base) return 0;
  if (state.pending.length >= ctx.deps.config.maxPendingCycles) return ctx.cycleSpacingMs;
  return groupDelay(ctx) ?? Date.parse(state.base.time) + ctx.cycleSpacingMs - Date.now();
}

/** Captures the next cycle and commits it to the journal. */
export async function captureOnce(ctx: VmContext, session: Session): Promise<void> {
  const { journal, signal } = session;
  const state = journal.state;
  const cycle = state.captured + 1;
  const appDue = appConsistentDue(ctx, state);
  const syncToken = ctx.syncWanted;
  ctx.resyncWanted = false;
  const initial = !state.lastPoint;
  if (initial && !state.initialSync) await journal.update((s) => (s.initialSync = { startTime: new Date().toISOString(), bytesTotal: 0 }));
  if (initial) ctx.progress = { planned: 0, captured: 0, applied: 0, matched: 0, startedAt: Date.now() };
  if (syncToken) await journal.update((s) => (s.syncNow = { token: syncToken, state: 'Running', cycle }));
  const seeds = initial && state.pending.length === 0 ? await seedReplicas(ctx, session) : new Set<string>();

  const group = await joinGroupCycle(ctx, session);
  const labels = ctx.labels;
  const stopTimer = metrics.cycleDuration.startTimer({ stage: 'capture' });
  // Restore points, their SAS exports and the cache account are all in the source region; a re-protect's
  // seed comparison also reads the replica, so its failures are not the source region's alone.
  const capture = seeds.size === 0 ? inSourceRegion : <T>(call: () => Promise<T>) => call();
  const { record, base } = await withGroup(group, () => capture(() => captureCycle(
    {
      points: session.points,
      blobs: ctx.deps.blobs,
      cache: session.cache,
      concurrency: ctx.deps.config.captureConcurrency,
      signal,
      ...(initial ? { onPlanned: (bytes: number) => (ctx.progress.planned = bytes) } : {}),
      onCopied: (bytes) => {
        metrics.capturedBytes.inc(labels, bytes);
        if (initial) ctx.progress.captured += bytes;
      },
      // A block that matches the seed is as good as captured and applied.
      onCompared: (_bytes, matched) => {
        ctx.progress.captured += matched;
        ctx.progress.applied += matched;
        ctx.progress.matched += matched;
      },
      ...(group ? { beforeRestorePoint: group.ready, onRestorePoint: group.taken } : {}),
    },
    {
      cycle,
      consistency: group?.turn.consistency ?? (appDue ? 'AppConsistent' : 'CrashConsistent'),
      base: state.base,
      resync: state.resync,
      disks: session.registration.disks.map((d) => {
        const target = seeds.has(d.name) ? session.targets.find((t) => t.name === d.name) : undefined;
        return { name: d.name, sourceDiskId: d.sourceDiskId, ...(target ? { seed: { replica: target.blob, scratch: session.replica.getBlockBlobClient(`seed-compare/${d.name}`) } } : {}) };
      }),
      ...(syncToken ? { syncToken } : {}),
      ...(group?.turn.consistency === 'AppConsistent' ? { quiesced: true } : {}),
    },
  )));
  stopTimer();
  const previousBase = journal.state.base?.restorePoint;
  await journal.update((s) => {
    s.pending.push(record);
    s.captured = record.cycle;
    s.base = base;
    s.resync = s.resync.filter((d) => !record.disks[d]?.full && !record.disks[d]?.seeded);
    if (record.consistency === 'AppConsistent') s.lastAppConsistentCapture = record.time;
    if (record.group) s.groupCycle = record.group.cycle;
    if (initial && s.initialSync && !s.initialSync.completionTime) {
      s.initialSync.bytesTotal = ctx.progress.planned;
      if (seeds.size > 0) s.initialSync.bytesMatched = ctx.progress.matched;
    }
  });
  if (syncToken && ctx.syncWanted === syncToken) ctx.syncWanted = undefined;
  ctx.log.info('captured', { cycle: record.cycle, consistency: record.consistency, bytes: cycleBytes(record), ...(record.group ? { group: record.group.group, groupCycle: record.group.cycle, groupSkewMs: record.group.skewMs } : {}), full: Object.entries(record.disks).filter(([, d]) => d.full).map(([n]) => n).join(',') || undefined });
  ctx.applyWake.notify();
  if (previousBase && previousBase !== base.restorePoint) await removeOldRestorePoints(ctx, session, base.cycle);
  // A routine capture is applied within moments: the status check writes its backlog if it lasts; the
  // initial sync's and a sync-now's are news at once.
  await writeStatus(ctx, initial || syncToken !== undefined);
}

/**
 * Runs a capture inside its group cycle: the member's stamp joins the record; a capture that fails tells
 * the group it has no restore point of the cycle, so the others are not held.
 */
async function withGroup(group: GroupCapture | undefined, capture: () => Promise<CaptureResult>): Promise<CaptureResult> {
  if (!group) return capture();
  try {
    const result = await capture();
    result.record.group = await group.stamp();
    return result;
  } finally {
    group.settle();
  }
}

/**
 * Re-protect: replica blobs whose disk names a seed start as a copy of it (seed.ts), once. A lost journal:
 * replica blobs holding an earlier journal's cycles are their own seed. Returns the disks whose first
 * cycle may carry only the differences from their seed.
 */
async function seedReplicas(ctx: VmContext, session: Session): Promise<Set<string>> {
  const seeded = new Set<string>();
  const { state } = session.journal;
  for (const disk of session.registration.disks) {
    const target = session.targets.find((t) => t.name === disk.name);
    if (!target || target.applied > 0 || state.resync.includes(disk.name)) continue;
    if (holdsEarlierJournal(target, state.epoch)) {
      ctx.log.info('the journal was lost: resyncing only what differs from the replica', { disk: disk.name, replicaCycle: target.metadata.srcycle });
      seeded.add(disk.name);
      continue;
    }
    if (!disk.seedDiskId) continue;
    if (!isSeeded(target, disk.seedDiskId)) {
      const started = Date.now();
      const bytes = await seedReplica({ az: ctx.deps.az, blobs: ctx.deps.blobs, fence: session.fence, concurrency: ctx.deps.config.applyConcurrency, signal: session.signal }, target, disk.seedDiskId);
      if (bytes === undefined) {
        ctx.log.warn('the seed disk is larger than the source disk: copying this disk in full', { disk: disk.name, seed: disk.seedDiskId });
        continue;
      }
      ctx.log.info('replica seeded', { disk: disk.name, seed: disk.seedDiskId, bytes, seconds: (Date.now() - started) / 1000 });
    }
    seeded.add(disk.name);
  }
  return seeded;
}

/**
 * Restore points older than the diff base are no longer needed (the cache holds their data until it
 * is applied): remove them, including any an earlier attempt failed to remove.
 */
async function removeOldRestorePoints(ctx: VmContext, session: Session, baseCycle: number): Promise<void> {
  const { points, signal } = session;
  try {
    for (const name of await points.list(signal)) {
      const cycle = cycleOfRestorePoint(name);
      if (cycle !== undefined && cycle < baseCycle) await points.remove(name, signal);
    }
  } catch (error) {
    if (signal.aborted) throw error;
    metrics.datapathErrors.inc({ stage: 'capture', kind: errorKind(error) });
    ctx.log.warn('removing superseded restore points failed; will retry after the next capture', { error: errorMessage(error) });
  }
}