/**
 * The apply side of a VM's session, one committed cycle at a time (oldest first): apply it to every disk
 * that can take it, all disks in parallel but never two applies of one blob; send disks whose cache data
 * is unusable, or that can no longer follow the chain, back to a full copy (resync); seal the cycle when
 * every disk it captured reached it (worker-seal.ts; a disk added since has no part in it, disk-list.ts),
 * else drop it; then delete its cache data.
 */
import * as metrics from './metrics.ts';
import type { CycleRecord } from './journal.ts';
import { CacheDataError, cyclePrefix } from './manifest.ts';
import { applyDisk, canApply } from './target.ts';
import { targetsOfCycle } from './disk-list.ts';
import { errorKind, errorMessage } from './errors.ts';
import { deletePrefix } from './worker-garbage.ts';
import type { Session, VmContext } from './worker-context.ts';
import { seal } from './worker-seal.ts';
import { writeStatus } from './worker-status.ts';

/** Applies the oldest pending cycle, then seals or drops it and deletes its cache data. */
export async function applyOnce(ctx: VmContext, session: Session, record: CycleRecord): Promise<void> {
  const { journal, signal } = session;
  const targets = targetsOfCycle(session.targets, record);
  const labels = ctx.labels;
  const initial = !journal.state.lastPoint;
  const stopTimer = metrics.cycleDuration.startTimer({ stage: 'apply' });
  const deps = {
    blobs: ctx.deps.blobs,
    cache: session.cache,
    fence: session.fence,
    epoch: journal.state.epoch,
    concurrency: ctx.deps.config.applyConcurrency,
    signal,
    onApplied: (bytes: number) => {
      metrics.appliedBytes.inc(labels, bytes);
      if (initial) ctx.progress.applied += bytes;
    },
  };
  // Disks in parallel; wait for every one before deciding (never two applies of one blob at once).
  const outcomes = await Promise.allSettled(
    targets.map(async (target): Promise<'applied' | 'skipped' | 'broken'> => {
      const entry = record.disks[target.name];
      if (target.applied >= record.cycle) return 'applied';
      if (!entry || !canApply(target, entry, record.cycle)) return 'skipped';
      try {
        await applyDisk(deps, target, record, entry);
        return 'applied';
      } catch (error) {
        if (!(error instanceof CacheDataError)) throw error;
        ctx.log.warn('cache data unusable: the disk will be copied again from the source', { disk: target.name, cycle: record.cycle, reason: error.message });
        metrics.datapathErrors.inc({ stage: 'apply', kind: 'cache' });
        return 'broken';
      }
    }),
  );
  const failure = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failure) throw failure.reason;
  stopTimer();

  // Disks that cannot follow the chain any more go back to a full copy (unless one is already captured).
  const state = journal.state;
  const needResync = targets.filter((t, i) => {
    const outcome = (outcomes[i] as PromiseFulfilledResult<string>).value;
    if (outcome === 'applied') return false;
    if (state.resync.includes(t.name)) return false;
    return !state.pending.some((p) => p.cycle > record.cycle && (p.disks[t.name]?.full || p.disks[t.name]?.seeded));
  });
  if (needResync.length > 0) {
    await journal.update((s) => s.resync.push(...needResync.map((t) => t.name)));
    metrics.resyncs.inc(labels, needResync.length);
    ctx.deps.events.record(ctx.vm, 'Warning', 'Resynchronizing', `disk(s) ${needResync.map((t) => t.name).join(', ')} will be copied again from the source (cycle ${record.cycle} could not be applied)`);
    ctx.resyncWanted = true;
    ctx.captureWake.notify();
  }

  const bytes = targets.reduce((n, t) => n + (t.applied === record.cycle ? (record.disks[t.name]?.bytes ?? 0) : 0), 0);
  if (targets.length > 0 && targets.every((t) => t.applied === record.cycle)) {
    await seal(ctx, session, record, bytes);
  } else {
    if (record.syncToken) ctx.syncWanted ??= record.syncToken; // the requested point could not be sealed: capture again
    await journal.update((s) => {
      s.pending = s.pending.filter((p) => p.cycle !== record.cycle);
      s.bytesReplicated += bytes;
    });
  }
  await deletePrefix(session.cache, cyclePrefix(record.cycle)).catch((error: unknown) => cleanupFailed(ctx, record.cycle, error));
  await writeStatus(ctx, true);
}
/**
 * Applied cache data could not be deleted: garbage collection retries it later, replication goes on, but the
 * cache grows until it succeeds (a role without the blob delete data action, for one), so it is shown as
 * an event of the ReplicatedVM and counted, not only logged.
 */
function cleanupFailed(ctx: VmContext, cycle: number, error: unknown): void {
  const message = errorMessage(error);
  metrics.datapathErrors.inc({ stage: 'cleanup', kind: errorKind(error) });
  ctx.log.warn('deleting applied cache data failed; garbage collection will retry', { cycle, error: message });
  ctx.deps.events.record(ctx.vm, 'Warning', 'ReplicationError', `cache cleanup: ${message}`.slice(0, 500));
}
