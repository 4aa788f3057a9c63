/**
 * One replicated VM on the replica that owns it. Before its first session the worker rebuilds the
 * RecoveryPoint objects missing for the sealed points target storage holds (a new cluster; needs nothing of
 * the source region, point-metadata.ts). A session is: take the fence (journal lease, then the replica
 * blobs' leases), read the journal (an earlier incarnation's is resumed) and the apply checkpoints,
 * collect garbage left by a previous owner, then run two loops side by side until ownership ends:
 *
 *   capture loop   every interval (or at once on sync-now / resync): capture cycle n+1 into the cache,
 *                  commit it to the journal, drop the restore point no longer needed as a diff base;
 *   apply loop     oldest committed cycle first: apply it to every disk that can take it, seal it when
 *                  all disks reached it (snapshots + RecoveryPoint), prune, delete its cache data; also
 *                  where a request to clear a churn anomaly is honoured (worker-churn.ts).
 *
 * Errors inside a loop are recorded (status, metrics, events) and retried with backoff; losing the fence
 * ends the session. Stopping (ownership moved, VM deleted or failed over, shutdown) aborts the loops,
 * waits for in-flight requests and releases the leases so the next owner starts at once.
 *
 * This file runs the session and its loops; the steps live beside it: worker-capture.ts (one capture),
 * worker-apply.ts (one cycle applied), worker-seal.ts (a recovery point sealed and pruning),
 * worker-status.ts (status, health and errors), worker-garbage.ts (leftovers of earlier owners), all
 * sharing one VmContext (worker-context.ts).
 */
import type { BlobClient, BlockBlobClient } from '@azure/storage-blob';
import type { ReplicatedVM } from '../api/types.ts';
import { createLogger } from '../util/logger.ts';
import { diskListChange, DiskListChangedError, freshReplicas } from './disk-list.ts';
import { errorMessage } from './errors.ts';
import { BlobFence, FenceLostError, isFenceError, LEASE_DURATION_SECONDS } from './fence.ts';
import { freshJournal, Journal, JOURNAL_BLOB, type JournalState } from './journal.ts';
import * as metrics from './metrics.ts';
import { REPLICATED_VM_LABEL } from '../api/contract.ts';
import { registrationOf, outstandingSyncNow } from './registration.ts';
import { RestorePoints, sleep } from './restore-points.ts';
import { openTarget, type TargetDisk } from './target.ts';
import { applyOnce } from './worker-apply.ts';
import { Backoff, DEFAULT_RETRY_MAX_MS } from './backoff.ts';
import { captureDelay, captureOnce } from './worker-capture.ts';
import type { InitialSyncSlot } from './initial-sync-slots.ts';
import { VmContext, type Session, type WorkerDeps } from './worker-context.ts';
import { inSourceRegion } from './source-call.ts';
import { clearRequested, honourClear } from './worker-churn.ts';
import { collectGarbage } from './worker-garbage.ts';
import { registerGroupMember } from './worker-group.ts';
import { rebuildPoints } from './worker-seal.ts';
import { clearError, recordError, writeStatus } from './worker-status.ts';

/** Failures in a row after which a VM counts as broken (`VmWorker.broken`). */
const BROKEN_AFTER = 3;
/**
 * A VM that keeps failing (its session, a capture or an apply) waits at most this many cycle spacings
 * between attempts (and at most `retryMaxMs`): a VM whose source is gone costs one attempt (a call or two)
 * per few cycles, and one whose region comes back is replicating again within a few intervals.
 */
const BACKOFF_SPACINGS = 4;

export class VmWorker {
  readonly key: string;
  private readonly ctx: VmContext;
  private readonly stopController = new AbortController();
  private running: Promise<void> | undefined;
  /** Whether the points target storage holds were rebuilt (once per worker, point-metadata.ts). */
  private rebuilt = false;
  /** This worker's source of the RPO metric (read at scrape time). */
  private readonly rpoSource: metrics.RpoSource;
  /** Aborts the current session (a disk list out of date ends it early, disk-list.ts). */
  private sessionAbort: AbortController | undefined;
  /** Waits between sessions that failed to open (backoff.ts); reset once a session is open. */
  private readonly sessionBackoff: Backoff;
  /** The capture loop's backoff of the current session (reset by a capture that succeeds). */
  private captureBackoff: Backoff | undefined;
  /** The replica's initial-sync slot this VM holds, from its initial capture until its first point is sealed. */
  private syncSlot: InitialSyncSlot | undefined;

  constructor(deps: WorkerDeps, vm: ReplicatedVM) {
    this.key = `${vm.metadata.namespace}/${vm.metadata.name}`;
    const ctx = new VmContext(deps, vm, createLogger('datapath').child({ vm: this.key }));
    this.ctx = ctx;
    this.rpoSource = {
      namespace: vm.metadata.namespace ?? '',
      name: vm.metadata.name ?? '',
      rpoSeconds: () => {
        const time = ctx.state?.lastPoint?.time;
        return time ? Math.max(0, (Date.now() - Date.parse(time)) / 1000) : undefined;
      },
    };
    metrics.rpoSources.set(this.key, this.rpoSource);
    this.sessionBackoff = this.backoff();
  }

  /** Exponential backoff with jitter, capped at a few cycle spacings and `retryMaxMs` (backoff.ts). */
  private backoff(): Backoff {
    const { retryMs, retryMaxMs = DEFAULT_RETRY_MAX_MS } = this.ctx.deps.config;
    return new Backoff(retryMs, () => Math.min(retryMaxMs, BACKOFF_SPACINGS * this.ctx.cycleSpacingMs));
  }

  /** A newer version of the object (annotations, policy reference, registration). */
  update(vm: ReplicatedVM): void {
    const { ctx } = this;
    ctx.vm = vm;
    this.followDiskList(vm);
    const token = outstandingSyncNow(vm);
    if (token && token !== ctx.syncWanted && this.syncCaptureNeeded(token)) {
      ctx.syncWanted = token;
      ctx.log.info('sync-now requested', { request: token });
      ctx.captureWake.notify();
    }
    if (clearRequested(ctx)) ctx.applyWake.notify(); // the apply loop honours it (worker-churn.ts)
  }

  /** A disk added or removed: the session opened the old list, so it ends and the next opens the new one. */
  private followDiskList(vm: ReplicatedVM): void {
    const session = this.ctx.session;
    const newest = registrationOf(vm);
    if (!session || !newest || this.sessionAbort?.signal.aborted) return;
    const change = diskListChange(session.registration.disks, newest.disks);
    if (!change) return;
    this.ctx.log.info('the VM\'s disks changed: reopening the session with the new list', { added: change.added.join(',') || undefined, removed: change.removed.join(',') || undefined });
    this.sessionAbort?.abort(new DiskListChangedError(change));
  }

  /**
   * Whether a sync-now request still needs a capture: not yet seen by the journal, or seen but its cycle
   * is neither committed nor answered (a capture cut short by a crash or a handover).
   */
  private syncCaptureNeeded(token: string): boolean {
    const state = this.ctx.session?.journal.state;
    if (!state || state.syncNow?.token !== token) return true;
    return state.syncNow.state === 'Running' && !state.pending.some((p) => p.syncToken === token);
  }

  start(): void {
    this.running ??= this.run();
  }

  /**
   * Whether the VM keeps failing: its session could not open, or its captures failed, BROKEN_AFTER times
   * in a row (its Azure gone or unreachable). It then retries at most once per few cycle spacings (BACKOFF_SPACINGS),
   * a few calls instead of a cycle's: the replica's pacing leaves it out of the ARM demand it spaces the
   * healthy VMs' cycles by (datapath.ts), so a broken VM does not slow the others.
   */
  get broken(): boolean {
    return Math.max(this.sessionBackoff.attempts, this.captureBackoff?.attempts ?? 0) >= BROKEN_AFTER;
  }

  /** Stops replicating: aborts the loops, waits for in-flight work, releases the leases. */
  async stop(): Promise<void> {
    this.stopController.abort(new Error('replication of this VM stopped on this replica'));
    await this.running;
    // A worker started here for the same VM meanwhile (the VM came back at once) keeps its series.
    if (metrics.rpoSources.get(this.key) === this.rpoSource) metrics.forgetVm(this.ctx.vm.metadata.namespace ?? '', this.ctx.vm.metadata.name ?? '');
  }

  private async run(): Promise<void> {
    const stop = this.stopController.signal;
    while (!stop.aborted) {
      try {
        await this.runSession(stop);
      } catch (error) {
        if (stop.aborted) break;
        recordError(this.ctx, 'session', error);
        await sleep(this.sessionBackoff.fail(), stop).catch(() => undefined);
      }
    }
  }

  // ---------------------------------------------------------------- session: fence, journal, targets

  private async runSession(stop: AbortSignal): Promise<void> {
    const { ctx } = this;
    const registration = registrationOf(ctx.vm);
    if (!registration) throw new Error('the VM is not registered for replication');
    const { blobs, identity } = ctx.deps;
    const replica = await blobs.container(registration.replicaContainerId);
    // From target storage alone, before anything of the source region: a new cluster's points first.
    if (!this.rebuilt) {
      await rebuildPoints(ctx, replica);
      this.rebuilt = true;
    }
    // The cache account (journal and fence) is in the source region.
    const cache = await inSourceRegion(() => blobs.container(registration.cacheContainerId));
    const journalBlob = cache.getBlockBlobClient(JOURNAL_BLOB);
    const fence = new BlobFence(identity);
    await inSourceRegion(() => this.acquireJournal(journalBlob, fence, stop));
    const held: BlobClient[] = [journalBlob];
    const sessionAbort = new AbortController();
    this.sessionAbort = sessionAbort;
    const onStop = () => sessionAbort.abort(stop.reason);
    // Stopped while the session was opening (the steps above wait on no signal): a listener added to an
    // aborted signal never fires, so the loops would run on and stop() would never return.
    if (stop.aborted) onStop();
    else stop.addEventListener('abort', onStop, { once: true });
    let renewer: NodeJS.Timeout | undefined;
    let leaveGroup = (): void => undefined;
    try {
      sessionAbort.signal.throwIfAborted(); // release the journal at once (finally)
      const journal = await inSourceRegion(() => Journal.open(journalBlob, fence.leaseId, ctx.vm.metadata.uid ?? '', () => this.freshState()));
      ctx.journal = journal;
      if (journal.takenOverFrom !== undefined) ctx.log.info('resuming the journal of an earlier incarnation of the VM', { uid: journal.takenOverFrom, cycle: journal.state.sealed });
      const targets: TargetDisk[] = [];
      for (const disk of registration.disks) {
        const target = await openTarget(replica, disk, fence, journal.state.epoch);
        held.push(target.blob);
        targets.push(target);
      }
      const fresh = freshReplicas(targets, journal.state);
      if (fresh.length) await journal.update((s) => s.resync.push(...fresh)); // a disk replaced under the same name
      const session: Session = { signal: sessionAbort.signal, registration, fence, journal, cache, replica, points: new RestorePoints(ctx.deps.az, registration.restorePointCollectionId), targets };
      ctx.session = session;
      leaveGroup = registerGroupMember(ctx, session);
      this.followDiskList(ctx.vm); // a change seen while the session was opening
      ctx.log.info('replicating', { cycle: journal.state.sealed, pending: journal.state.pending.length, disks: targets.map((t) => `${t.name}@${t.applied}`).join(' ') });
      const token = outstandingSyncNow(ctx.vm);
      if (token && this.syncCaptureNeeded(token)) ctx.syncWanted = token;

      renewer = setInterval(() => {
        void Promise.all(held.map((b) => fence.renew(b))).catch((error: unknown) => {
          if (isFenceError(error)) sessionAbort.abort(new FenceLostError('lost a blob lease while renewing'));
          else ctx.log.warn('renewing blob leases failed; will retry', { error: errorMessage(error) });
        });
      }, (LEASE_DURATION_SECONDS * 1000) / 3);
      renewer.unref();

      await collectGarbage(ctx, session);
      await writeStatus(ctx, true);
      this.sessionBackoff.reset(); // the session is open: a later failure starts from the base delay
      const loops = [this.captureLoop(session), this.applyLoop(session), this.statusLoop(session)].map((p) =>
        p.catch((error: unknown) => {
          sessionAbort.abort(error);
          throw error;
        }),
      );
      const results = await Promise.allSettled(loops);
      const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !stop.aborted);
      if (failure && sessionAbort.signal.reason instanceof DiskListChangedError) return; // the next session opens the new list
      if (failure) throw sessionAbort.signal.reason ?? failure.reason;
    } finally {
      this.releaseSyncSlot();
      clearInterval(renewer);
      leaveGroup();
      stop.removeEventListener('abort', onStop);
      ctx.session = undefined;
      // Release replica blobs first, the journal last: whoever holds the journal may break the rest.
      for (const blob of held.reverse()) await fence.release(blob).catch((error: unknown) => ctx.log.warn('releasing a blob lease failed', { error: errorMessage(error) }));
    }
  }

  /** Takes the journal's lease once no other live replica holds it. */
  private async acquireJournal(journalBlob: BlockBlobClient, fence: BlobFence, stop: AbortSignal): Promise<void> {
    const { ctx } = this;
    const { identity } = ctx.deps;
    await Journal.ensureExists(journalBlob);
    for (;;) {
      const result = await fence.acquire(journalBlob, (holder) => !holder || holder === identity || !ctx.deps.isLiveMember(holder));
      if (result === 'acquired') return;
      ctx.log.debug('another live replica still holds the VM; waiting for it to let go', { holder: result.busy });
      await sleep(ctx.deps.config.retryMs, stop);
    }
  }

  /** The first journal of a VM: numbering continues after any RecoveryPoint already recorded for it. */
  private async freshState(): Promise<JournalState> {
    const { vm, deps } = this.ctx;
    const namespace = vm.metadata.namespace ?? 'default';
    const points = await deps.recoveryPoints.list(namespace, `${REPLICATED_VM_LABEL}=${vm.metadata.name}`);
    const last = Math.max(0, ...points.items.map((p) => p.spec.cycle ?? 0));
    return freshJournal(vm.metadata.uid ?? '', last);
  }

  // ---------------------------------------------------------------- the loops

  private captureLoop(session: Session): Promise<void> {
    return this.retryLoop('capture', session.signal, async () => {
      const delay = captureDelay(this.ctx, session);
      if (delay > 0) {
        await this.ctx.captureWake.wait(delay, session.signal);
        return false;
      }
      if (!session.journal.state.lastPoint) await this.takeSyncSlot(session);
      await captureOnce(this.ctx, session);
      return true;
    });
  }

  /**
   * Waits for one of the replica's initial-sync slots (initial-sync-slots.ts), unless it holds one or is in
   * a consistency group (the group's cycle gathers all its members at once: they are not held apart).
   * The wait shows in status (the Replicating condition's message) until the slot is granted.
   */
  private async takeSyncSlot(session: Session): Promise<void> {
    const slots = this.ctx.deps.initialSyncs;
    if (!slots || this.syncSlot || this.ctx.vm.spec.consistencyGroup) return;
    this.ctx.syncQueuedSince = Date.now();
    try {
      this.syncSlot = await slots.acquire(session.signal);
    } finally {
      this.ctx.syncQueuedSince = undefined;
    }
  }

  private releaseSyncSlot(): void {
    this.syncSlot?.release();
    this.syncSlot = undefined;
  }

  private applyLoop(session: Session): Promise<void> {
    return this.retryLoop('apply', session.signal, async () => {
      if (await honourClear(this.ctx, session)) await writeStatus(this.ctx, true);
      const record = session.journal.state.pending[0];
      if (!record) {
        await this.ctx.applyWake.wait(this.ctx.deps.config.statusIntervalMs, session.signal);
        return false;
      }
      await applyOnce(this.ctx, session, record);
      if (session.journal.state.lastPoint) this.releaseSyncSlot(); // the first point is sealed
      return true;
    });
  }

  /**
   * Runs `step` until the session ends. A step returns false when it only waited. Errors are recorded and
   * retried with backoff (backoff.ts: a VM whose source is gone stops spending the replica's ARM budget;
   * capped at BACKOFF_SPACINGS cycle spacings);
   * stopping or losing the fence ends the loop (and so the session).
   */
  private async retryLoop(stage: 'capture' | 'apply', signal: AbortSignal, step: () => Promise<boolean>): Promise<void> {
    const backoff = this.backoff();
    if (stage === 'capture') this.captureBackoff = backoff;
    for (;;) {
      try {
        if (!(await step())) continue;
        backoff.reset();
        clearError(this.ctx, stage);
      } catch (error) {
        if (signal.aborted || isFenceError(error)) throw error;
        this.releaseSyncSlot(); // its turn goes to the next VM; it queues again for its next initial capture
        recordError(this.ctx, stage, error);
        await sleep(backoff.fail(), signal);
      }
    }
  }

  private async statusLoop(session: Session): Promise<void> {
    for (;;) {
      await sleep(this.ctx.deps.config.statusIntervalMs, session.signal);
      await writeStatus(this.ctx, false);
    }
  }
}
