/**
 * One replicated VM on the replica that owns it. A session is: take the fence (journal lease, then the
 * replica blobs' leases), read the journal and the apply checkpoints, collect garbage left by a previous
 * owner, then run two loops side by side until ownership ends:
 *
 *   capture loop   every interval (or at once on sync-now / resync): capture cycle n+1 into the cache,
 *                  commit it to the journal, drop the restore point no longer needed as a diff base;
 *   apply loop     oldest committed cycle first: apply it to every disk that can take it, seal it when
 *                  all disks reached it (snapshots + RecoveryPoint), prune, delete its cache data.
 *
 * Errors inside a loop are recorded (status, metrics, events) and retried with backoff; losing the fence
 * ends the session. Stopping (ownership moved, VM deleted or failed over, shutdown) aborts the loops,
 * waits for in-flight requests and releases the leases so the next owner starts at once.
 */
import type winston from 'winston';
import type { ContainerClient, BlobClient } from '@azure/storage-blob';
import type { Condition, RecoveryPoint, ReplicatedVM, ReplicatedVMStatus, ReplicationPolicySpec } from '../api/types.ts';
import type { AzureClients } from '../azure/clients.ts';
import { classifyAzureError } from '../azure/errors.ts';
import { setCondition } from '../runtime/conditions.ts';
import type { EventRecorder } from '../runtime/events.ts';
import { refOf, type CustomResourceClient } from '../kube/custom-resources.ts';
import { formatDuration } from '../util/duration.ts';
import { createLogger } from '../util/logger.ts';
import { captureCycle } from './capture.ts';
import { BlobFence, FenceLostError, isFenceError, LEASE_DURATION_SECONDS } from './fence.ts';
import { healthOf, policyTimes, type PolicyTimes } from './health.ts';
import { freshJournal, Journal, JOURNAL_BLOB, type CycleRecord, type JournalState } from './journal.ts';
import { CacheDataError, cyclePrefix } from './manifest.ts';
import * as metrics from './metrics.ts';
import { createRecoveryPoint, DATAPATH_FIELD_MANAGER, prune, recoveryPointName, REPLICATED_VM_LABEL } from './recovery-points.ts';
import { registrationOf, outstandingSyncNow, type Registration } from './registration.ts';
import { cycleOfRestorePoint, RestorePoints, sleep } from './restore-points.ts';
import type { BlobAccess } from './storage.ts';
import { isSeeded, seedReplica } from './seed.ts';
import { applyDisk, canApply, openTarget, snapshotAll, targetBlobName, type TargetDisk } from './target.ts';

export interface WorkerConfig {
  /** Replaces the policy's recovery point interval (tests and benchmarks; production uses the policy). */
  cycleIntervalMs?: number;
  /** Concurrent chunk transfers per VM, capture and apply each. */
  captureConcurrency: number;
  applyConcurrency: number;
  /** Captures pause while this many cycles wait to be applied (the cache is bounded). */
  maxPendingCycles: number;
  /** Status is written at least this often (RPO, progress). */
  statusIntervalMs: number;
  /** Base delay of retries after an error, and of attempts to take a VM whose lease a live replica holds. */
  retryMs: number;
}

export interface WorkerDeps {
  identity: string;
  az: AzureClients;
  blobs: BlobAccess;
  vms: CustomResourceClient<ReplicatedVM>;
  recoveryPoints: CustomResourceClient<RecoveryPoint>;
  events: EventRecorder;
  policy(vm: ReplicatedVM): ReplicationPolicySpec | undefined;
  isLiveMember(identity: string): boolean;
  config: WorkerConfig;
}

/** A promise-based wake-up: wait(ms) resolves on notify(), after ms, and rejects when aborted. */
class Wakeup {
  private waiters: Array<() => void> = [];
  notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  async wait(ms: number, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.waiters.push(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

interface Session {
  signal: AbortSignal;
  registration: Registration;
  fence: BlobFence;
  journal: Journal;
  cache: ContainerClient;
  replica: ContainerClient;
  points: RestorePoints;
  targets: TargetDisk[];
}

export class VmWorker {
  readonly key: string;
  private vm: ReplicatedVM;
  private readonly deps: WorkerDeps;
  private readonly log: winston.Logger;
  private readonly stopController = new AbortController();
  private running: Promise<void> | undefined;
  private session: Session | undefined;
  private readonly captureWake = new Wakeup();
  private readonly applyWake = new Wakeup();
  /** A sync-now token (or a resync) asks for a capture now. */
  private syncWanted: string | undefined;
  private resyncWanted = false;
  private failing: { since: number; stage: string; message: string } | undefined;
  private lastStatus = '';
  private lastStatusAt = 0;
  private progress = { planned: 0, captured: 0, applied: 0, matched: 0, startedAt: 0 };

  constructor(deps: WorkerDeps, vm: ReplicatedVM) {
    this.deps = deps;
    this.vm = vm;
    this.key = `${vm.metadata.namespace}/${vm.metadata.name}`;
    this.log = createLogger('datapath').child({ vm: this.key });
    metrics.rpoSources.set(this.key, {
      namespace: vm.metadata.namespace ?? '',
      name: vm.metadata.name ?? '',
      rpoSeconds: () => {
        const time = this.session?.journal.state.lastPoint?.time;
        return time ? Math.max(0, (Date.now() - Date.parse(time)) / 1000) : undefined;
      },
    });
  }

  /** A newer version of the object (annotations, policy reference, registration). */
  update(vm: ReplicatedVM): void {
    this.vm = vm;
    const token = outstandingSyncNow(vm);
    if (token && token !== this.syncWanted && this.syncCaptureNeeded(token)) {
      this.syncWanted = token;
      this.log.info('sync-now requested', { request: token });
      this.captureWake.notify();
    }
  }

  /**
   * Whether a sync-now request still needs a capture: not yet seen by the journal, or seen but its cycle
   * is neither committed nor answered (a capture cut short by a crash or a handover).
   */
  private syncCaptureNeeded(token: string): boolean {
    const state = this.session?.journal.state;
    if (!state || state.syncNow?.token !== token) return true;
    return state.syncNow.state === 'Running' && !state.pending.some((p) => p.syncToken === token);
  }

  start(): void {
    this.running ??= this.run();
  }

  /** Stops replicating: aborts the loops, waits for in-flight work, releases the leases. */
  async stop(): Promise<void> {
    this.stopController.abort(new Error('replication of this VM stopped on this replica'));
    await this.running;
    metrics.forgetVm(this.vm.metadata.namespace ?? '', this.vm.metadata.name ?? '');
  }

  private get intervalMs(): number {
    return this.deps.config.cycleIntervalMs ?? this.times.intervalMs;
  }

  private get times(): PolicyTimes {
    return policyTimes(this.deps.policy(this.vm));
  }

  private async run(): Promise<void> {
    const stop = this.stopController.signal;
    let failures = 0;
    while (!stop.aborted) {
      try {
        await this.runSession(stop);
        failures = 0;
      } catch (error) {
        if (stop.aborted) break;
        failures += 1;
        this.recordError('session', error);
        await sleep(Math.min(30_000, this.deps.config.retryMs * 2 ** Math.min(failures, 5)), stop).catch(() => undefined);
      }
    }
  }

  // ---------------------------------------------------------------- session: fence, journal, targets

  private async runSession(stop: AbortSignal): Promise<void> {
    const registration = registrationOf(this.vm);
    if (!registration) throw new Error('the VM is not registered for replication');
    const { blobs, identity } = this.deps;
    const cache = await blobs.container(registration.cacheContainerId);
    const replica = await blobs.container(registration.replicaContainerId);
    const journalBlob = cache.getBlockBlobClient(JOURNAL_BLOB);
    await Journal.ensureExists(journalBlob);
    const fence = new BlobFence(identity);
    for (;;) {
      const result = await fence.acquire(journalBlob, (holder) => !holder || holder === identity || !this.deps.isLiveMember(holder));
      if (result === 'acquired') break;
      this.log.debug('another live replica still holds the VM; waiting for it to let go', { holder: result.busy });
      await sleep(this.deps.config.retryMs, stop);
    }
    const held: BlobClient[] = [journalBlob];
    const sessionAbort = new AbortController();
    const onStop = () => sessionAbort.abort(stop.reason);
    stop.addEventListener('abort', onStop, { once: true });
    let renewer: NodeJS.Timeout | undefined;
    try {
      const journal = await Journal.open(journalBlob, fence.leaseId, this.vm.metadata.uid ?? '', () => this.freshState());
      const targets: TargetDisk[] = [];
      for (const disk of registration.disks) {
        const target = await openTarget(replica, disk, fence, journal.state.epoch);
        held.push(target.blob);
        targets.push(target);
      }
      const session: Session = { signal: sessionAbort.signal, registration, fence, journal, cache, replica, points: new RestorePoints(this.deps.az, registration.restorePointCollectionId), targets };
      this.session = session;
      this.log.info('replicating', { cycle: journal.state.sealed, pending: journal.state.pending.length, disks: targets.map((t) => `${t.name}@${t.applied}`).join(' ') });
      const token = outstandingSyncNow(this.vm);
      if (token && this.syncCaptureNeeded(token)) this.syncWanted = token;

      renewer = setInterval(() => {
        void Promise.all(held.map((b) => fence.renew(b))).catch((error: unknown) => {
          if (isFenceError(error)) sessionAbort.abort(new FenceLostError('lost a blob lease while renewing'));
          else this.log.warn('renewing blob leases failed; will retry', { error: errorMessage(error) });
        });
      }, (LEASE_DURATION_SECONDS * 1000) / 3);
      renewer.unref();

      await this.collectGarbage(session);
      await this.writeStatus(true);
      const loops = [this.captureLoop(session), this.applyLoop(session), this.statusLoop(session)].map((p) =>
        p.catch((error: unknown) => {
          sessionAbort.abort(error);
          throw error;
        }),
      );
      const results = await Promise.allSettled(loops);
      const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !stop.aborted);
      if (failure) throw sessionAbort.signal.reason ?? failure.reason;
    } finally {
      clearInterval(renewer);
      stop.removeEventListener('abort', onStop);
      this.session = undefined;
      // Release replica blobs first, the journal last: whoever holds the journal may break the rest.
      for (const blob of held.reverse()) await fence.release(blob).catch((error: unknown) => this.log.warn('releasing a blob lease failed', { error: errorMessage(error) }));
    }
  }

  /** The first journal of a VM: numbering continues after any RecoveryPoint already recorded for it. */
  private async freshState(): Promise<JournalState> {
    const namespace = this.vm.metadata.namespace ?? 'default';
    const points = await this.deps.recoveryPoints.list(namespace, `${REPLICATED_VM_LABEL}=${this.vm.metadata.name}`);
    const last = Math.max(0, ...points.items.map((p) => p.spec.cycle ?? 0));
    return freshJournal(this.vm.metadata.uid ?? '', last);
  }

  /** Leftovers of earlier owners: restore points other than the diff base, cache data of no pending cycle. */
  private async collectGarbage(session: Session): Promise<void> {
    const { journal, points, cache, signal } = session;
    try {
      const base = journal.state.base?.restorePoint;
      for (const name of await points.list()) {
        if (name !== base && cycleOfRestorePoint(name) !== undefined) await points.remove(name, signal);
      }
    } catch (error) {
      this.log.warn('removing leftover restore points failed; will retry', { error: errorMessage(error) });
    }
    try {
      const keep = new Map(journal.state.pending.map((p) => [cyclePrefix(p.cycle), `${cyclePrefix(p.cycle)}${p.attempt}/`]));
      for await (const item of cache.listBlobsByHierarchy('/', { prefix: 'cycles/' })) {
        if (item.kind !== 'prefix') continue;
        const attempt = keep.get(item.name);
        if (!attempt) await deletePrefix(cache, item.name);
        else {
          for await (const sub of cache.listBlobsByHierarchy('/', { prefix: item.name })) {
            if (sub.kind === 'prefix' && sub.name !== attempt) await deletePrefix(cache, sub.name);
          }
        }
      }
    } catch (error) {
      this.log.warn('removing leftover cache data failed; will retry', { error: errorMessage(error) });
    }
  }

  // ---------------------------------------------------------------- capture

  private captureDelay(session: Session): number {
    if (this.syncWanted || this.resyncWanted) return 0;
    const state = session.journal.state;
    if (!state.base) return 0;
    if (state.pending.length >= this.deps.config.maxPendingCycles) return this.intervalMs;
    return Date.parse(state.base.time) + this.intervalMs - Date.now();
  }

  private async captureLoop(session: Session): Promise<void> {
    const { signal } = session;
    let failures = 0;
    for (;;) {
      const delay = this.captureDelay(session);
      if (delay > 0) {
        await this.captureWake.wait(delay, signal);
        continue;
      }
      try {
        await this.captureOnce(session);
        failures = 0;
        this.clearError('capture');
      } catch (error) {
        if (signal.aborted || isFenceError(error)) throw error;
        failures += 1;
        this.recordError('capture', error);
        await sleep(Math.min(60_000, this.deps.config.retryMs * 2 ** Math.min(failures, 6)), signal);
      }
    }
  }

  private async captureOnce(session: Session): Promise<void> {
    const { journal, signal } = session;
    const state = journal.state;
    const cycle = state.captured + 1;
    const times = this.times;
    const appDue = times.appConsistentIntervalMs !== undefined && (!state.lastAppConsistentCapture || Date.now() - Date.parse(state.lastAppConsistentCapture) >= times.appConsistentIntervalMs);
    const syncToken = this.syncWanted;
    this.resyncWanted = false;
    const initial = !state.lastPoint;
    if (initial && !state.initialSync) await journal.update((s) => (s.initialSync = { startTime: new Date().toISOString(), bytesTotal: 0 }));
    if (initial) this.progress = { planned: 0, captured: 0, applied: 0, matched: 0, startedAt: Date.now() };
    if (syncToken) await journal.update((s) => (s.syncNow = { token: syncToken, state: 'Running', cycle }));
    const seeds = initial && state.pending.length === 0 ? await this.seedReplicas(session) : new Set<string>();

    const labels = this.labels;
    const stopTimer = metrics.cycleDuration.startTimer({ stage: 'capture' });
    const { record, base } = await captureCycle(
      {
        points: session.points,
        blobs: this.deps.blobs,
        cache: session.cache,
        concurrency: this.deps.config.captureConcurrency,
        signal,
        ...(initial ? { onPlanned: (bytes: number) => (this.progress.planned = bytes) } : {}),
        onCopied: (bytes) => {
          metrics.capturedBytes.inc(labels, bytes);
          if (initial) this.progress.captured += bytes;
        },
        // A block that matches the seed is as good as captured and applied.
        onCompared: (bytes, matched) => {
          this.progress.captured += matched;
          this.progress.applied += matched;
          this.progress.matched += matched;
        },
      },
      {
        cycle,
        consistency: appDue ? 'AppConsistent' : 'CrashConsistent',
        base: state.base,
        resync: state.resync,
        disks: session.registration.disks.map((d) => {
          const target = seeds.has(d.name) ? session.targets.find((t) => t.name === d.name) : undefined;
          return { name: d.name, sourceDiskId: d.sourceDiskId, ...(target ? { seed: { replica: target.blob, scratch: session.replica.getBlockBlobClient(`seed-compare/${d.name}`) } } : {}) };
        }),
        ...(syncToken ? { syncToken } : {}),
      },
    );
    stopTimer();
    const previousBase = journal.state.base?.restorePoint;
    await journal.update((s) => {
      s.pending.push(record);
      s.captured = record.cycle;
      s.base = base;
      s.resync = s.resync.filter((d) => !record.disks[d]?.full && !record.disks[d]?.seeded);
      if (record.consistency === 'AppConsistent') s.lastAppConsistentCapture = record.time;
      if (initial && s.initialSync && !s.initialSync.completionTime) {
        s.initialSync.bytesTotal = this.progress.planned;
        if (seeds.size > 0) s.initialSync.bytesMatched = this.progress.matched;
      }
    });
    if (syncToken && this.syncWanted === syncToken) this.syncWanted = undefined;
    this.log.info('captured', { cycle: record.cycle, consistency: record.consistency, bytes: sum(record, 'bytes'), full: Object.entries(record.disks).filter(([, d]) => d.full).map(([n]) => n).join(',') || undefined });
    this.applyWake.notify();
    if (previousBase && previousBase !== base.restorePoint) await this.removeOldRestorePoints(session, base.cycle);
    await this.writeStatus(true);
  }

  /**
   * Re-protect: replica blobs whose disk names a seed start as a copy of it (seed.ts), once. Returns the
   * disks whose first cycle may carry only the differences from their seed.
   */
  private async seedReplicas(session: Session): Promise<Set<string>> {
    const seeded = new Set<string>();
    for (const disk of session.registration.disks) {
      const target = session.targets.find((t) => t.name === disk.name);
      if (!disk.seedDiskId || !target || target.applied > 0 || session.journal.state.resync.includes(disk.name)) continue;
      if (!isSeeded(target, disk.seedDiskId)) {
        const started = Date.now();
        const bytes = await seedReplica({ az: this.deps.az, blobs: this.deps.blobs, fence: session.fence, concurrency: this.deps.config.applyConcurrency, signal: session.signal }, target, disk.seedDiskId);
        if (bytes === undefined) {
          this.log.warn('the seed disk is larger than the source disk: copying this disk in full', { disk: disk.name, seed: disk.seedDiskId });
          continue;
        }
        this.log.info('replica seeded', { disk: disk.name, seed: disk.seedDiskId, bytes, seconds: (Date.now() - started) / 1000 });
      }
      seeded.add(disk.name);
    }
    return seeded;
  }

  /**
   * Restore points older than the diff base are no longer needed (the cache holds their data until it
   * is applied): remove them, including any an earlier attempt failed to remove.
   */
  private async removeOldRestorePoints(session: Session, baseCycle: number): Promise<void> {
    const { points, signal } = session;
    try {
      for (const name of await points.list()) {
        const cycle = cycleOfRestorePoint(name);
        if (cycle !== undefined && cycle < baseCycle) await points.remove(name, signal);
      }
    } catch (error) {
      if (signal.aborted) throw error;
      metrics.datapathErrors.inc({ stage: 'capture', kind: errorKind(error) });
      this.log.warn('removing superseded restore points failed; will retry after the next capture', { error: errorMessage(error) });
    }
  }

  // ---------------------------------------------------------------- apply and seal

  private async applyLoop(session: Session): Promise<void> {
    const { signal, journal } = session;
    let failures = 0;
    for (;;) {
      const record = journal.state.pending[0];
      if (!record) {
        await this.applyWake.wait(this.deps.config.statusIntervalMs, signal);
        continue;
      }
      try {
        await this.applyOnce(session, record);
        failures = 0;
        this.clearError('apply');
      } catch (error) {
        if (signal.aborted || isFenceError(error)) throw error;
        failures += 1;
        this.recordError('apply', error);
        await sleep(Math.min(60_000, this.deps.config.retryMs * 2 ** Math.min(failures, 6)), signal);
      }
    }
  }

  private async applyOnce(session: Session, record: CycleRecord): Promise<void> {
    const { journal, targets, signal } = session;
    const labels = this.labels;
    const initial = !journal.state.lastPoint;
    const stopTimer = metrics.cycleDuration.startTimer({ stage: 'apply' });
    const deps = {
      blobs: this.deps.blobs,
      cache: session.cache,
      fence: session.fence,
      epoch: journal.state.epoch,
      concurrency: this.deps.config.applyConcurrency,
      signal,
      onApplied: (bytes: number) => {
        metrics.appliedBytes.inc(labels, bytes);
        if (initial) this.progress.applied += bytes;
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
          this.log.warn('cache data unusable: the disk will be copied again from the source', { disk: target.name, cycle: record.cycle, reason: error.message });
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
      this.deps.events.record(this.vm, 'Warning', 'Resynchronizing', `disk(s) ${needResync.map((t) => t.name).join(', ')} will be copied again from the source (cycle ${record.cycle} could not be applied)`);
      this.resyncWanted = true;
      this.captureWake.notify();
    }

    const bytes = targets.reduce((n, t) => n + (t.applied === record.cycle ? (record.disks[t.name]?.bytes ?? 0) : 0), 0);
    if (targets.every((t) => t.applied === record.cycle)) {
      await this.seal(session, record, bytes);
    } else {
      if (record.syncToken) this.syncWanted ??= record.syncToken; // the requested point could not be sealed: capture again
      await journal.update((s) => {
        s.pending = s.pending.filter((p) => p.cycle !== record.cycle);
        s.bytesReplicated += bytes;
      });
    }
    await deletePrefix(session.cache, cyclePrefix(record.cycle)).catch((error: unknown) => this.log.warn('deleting applied cache data failed; garbage collection will retry', { cycle: record.cycle, error: errorMessage(error) }));
    await this.writeStatus(true);
  }

  private async seal(session: Session, record: CycleRecord, bytes: number): Promise<void> {
    const { journal, targets, fence, replica } = session;
    const stopTimer = metrics.cycleDuration.startTimer({ stage: 'seal' });
    let snapshots = journal.state.sealing?.cycle === record.cycle ? journal.state.sealing.snapshots : undefined;
    if (!snapshots) {
      const taken = await snapshotAll(targets, fence);
      await journal.update((s) => (s.sealing = { cycle: record.cycle, snapshots: taken }));
      snapshots = taken;
    }
    const point = await createRecoveryPoint(this.deps.recoveryPoints, this.vm, record, snapshots, (disk) => replica.getBlobClient(targetBlobName(disk)).url);
    const summary = { name: point.metadata.name ?? recoveryPointName(this.vm.metadata.name ?? '', record.cycle), time: record.time, consistency: record.consistency, cycle: record.cycle };
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
    metrics.sealedPoints.inc(this.labels);
    this.log.info('sealed', { cycle: record.cycle, recoveryPoint: summary.name, time: record.time });
    if (first) this.deps.events.record(this.vm, 'Normal', 'InitialSyncCompleted', `initial sync complete: recovery point ${summary.name} sealed`);
    if (record.syncToken) this.deps.events.record(this.vm, 'Normal', 'SyncNowCompleted', `recovery point ${summary.name} sealed for sync-now request ${record.syncToken}`);
    try {
      const result = await prune(this.deps.recoveryPoints, this.vm, replica, this.times.retentionMs, summary.name, new Set());
      if (result.deletedPoints.length) this.log.info('pruned recovery points past retention', { points: result.deletedPoints.length, snapshots: result.deletedSnapshots });
    } catch (error) {
      metrics.datapathErrors.inc({ stage: 'prune', kind: errorKind(error) });
      this.log.warn('pruning failed; will retry after the next seal', { error: errorMessage(error) });
    }
  }

  // ---------------------------------------------------------------- status

  private async statusLoop(session: Session): Promise<void> {
    for (;;) {
      await sleep(this.deps.config.statusIntervalMs, session.signal);
      await this.writeStatus(false);
    }
  }

  private get labels(): { namespace: string; name: string } {
    return { namespace: this.vm.metadata.namespace ?? '', name: this.vm.metadata.name ?? '' };
  }

  /** The fields the datapath owns, written with server-side apply under its own field manager. */
  private statusFields(now = Date.now()): Partial<ReplicatedVMStatus> {
    const state = this.session?.journal.state;
    const times = this.times;
    const lastPoint = state?.lastPoint;
    const rpoMs = lastPoint ? Math.max(0, now - Date.parse(lastPoint.time)) : undefined;
    const broken = this.failing !== undefined && now - this.failing.since > Math.max(3 * this.intervalMs, 30_000);
    const health = healthOf(rpoMs, broken, times);
    const pendingBytes = (state?.pending ?? []).reduce((n, p) => n + sum(p, 'bytes'), 0);
    const labels = this.labels;
    metrics.backlogBytes.set(labels, pendingBytes);
    metrics.backlogCycles.set(labels, state?.pending.length ?? 0);

    const fields: Partial<ReplicatedVMStatus> = {
      replication: {
        owner: this.deps.identity,
        ...(state && state.sealed > 0 ? { cycle: state.sealed } : {}),
        bytesReplicated: state?.bytesReplicated ?? 0,
        ...(lastPoint ? { lastCycleTime: lastPoint.time } : {}),
        pendingCycles: state?.pending.length ?? 0,
        pendingBytes,
        ...(state?.syncNow ? { syncNow: state.syncNow } : {}),
      },
      health,
    };
    if (state?.initialSync) {
      const sync = state.initialSync;
      const done = Boolean(sync.completionTime);
      const total = done ? sync.bytesTotal : Math.max(sync.bytesTotal, this.progress.planned);
      // Capture (source → cache) and apply (cache → replica) each count for half of the way.
      const percent = done ? 100 : total > 0 ? Math.min(99, Math.floor((100 * (this.progress.captured + this.progress.applied)) / (2 * total))) : 0;
      const elapsed = (now - (this.progress.startedAt || Date.parse(sync.startTime))) / 1000;
      fields.initialSync = {
        percent,
        percentText: `${percent}%`,
        bytesTotal: total,
        bytesCopied: done ? total - (sync.bytesMatched ?? 0) : this.progress.applied - this.progress.matched,
        ...(sync.bytesMatched !== undefined || this.progress.matched > 0 ? { bytesMatched: done ? (sync.bytesMatched ?? 0) : this.progress.matched } : {}),
        ...(done ? {} : { bytesPerSecond: elapsed > 0 ? Math.round((this.progress.captured + this.progress.applied) / 2 / elapsed) : 0 }),
        startTime: sync.startTime,
        ...(done ? { completionTime: sync.completionTime } : {}),
      };
      metrics.initialSyncPercent.set(labels, percent);
    }
    if (rpoMs !== undefined && lastPoint) {
      fields.rpoSeconds = Math.round(rpoMs / 1000);
      fields.rpo = formatDuration(rpoMs);
      fields.lastRecoveryPoint = { name: lastPoint.name, time: lastPoint.time, consistency: lastPoint.consistency };
    }
    if (state?.lastAppConsistentPoint) fields.lastAppConsistentRecoveryPoint = { name: state.lastAppConsistentPoint.name, time: state.lastAppConsistentPoint.time };
    fields.conditions = [this.replicatingCondition(state, fields, broken)];
    return fields;
  }

  private replicatingCondition(state: Readonly<JournalState> | undefined, fields: Partial<ReplicatedVMStatus>, broken: boolean): Condition {
    let input: { status: 'True' | 'False'; reason: string; message: string };
    if (broken && this.failing) input = { status: 'False', reason: 'ReplicationFailing', message: `${this.failing.stage} failing since ${new Date(this.failing.since).toISOString()}: ${this.failing.message}` };
    else if (!state?.lastPoint) input = { status: 'False', reason: 'InitialSync', message: `initial sync ${fields.initialSync?.percent ?? 0}% done` };
    else if (state.resync.length > 0) input = { status: 'False', reason: 'Resynchronizing', message: `copying disk(s) ${state.resync.join(', ')} again from the source` };
    else input = { status: 'True', reason: 'Replicating', message: `recovery point ${state.lastPoint.name} sealed; ${state.pending.length} cycle(s) pending` };
    const conditions = setCondition(this.vm.status?.conditions, { type: 'Replicating', ...input }, this.vm.metadata.generation);
    return conditions.find((c) => c.type === 'Replicating') as Condition;
  }

  private async writeStatus(force: boolean): Promise<void> {
    if (!force && Date.now() - this.lastStatusAt < this.deps.config.statusIntervalMs) return;
    const fields = this.statusFields();
    const text = JSON.stringify(fields);
    if (text === this.lastStatus && Date.now() - this.lastStatusAt < 60_000) return;
    try {
      const updated = await this.deps.vms.applyStatus(refOf(this.vm), fields, DATAPATH_FIELD_MANAGER);
      this.vm = { ...this.vm, status: updated.status as ReplicatedVMStatus };
      this.lastStatus = text;
      this.lastStatusAt = Date.now();
    } catch (error) {
      metrics.datapathErrors.inc({ stage: 'status', kind: 'kube' });
      this.log.warn('writing status failed', { error: errorMessage(error) });
    }
  }

  // ---------------------------------------------------------------- errors

  private recordError(stage: string, error: unknown): void {
    const message = errorMessage(error);
    metrics.datapathErrors.inc({ stage, kind: errorKind(error) });
    this.failing ??= { since: Date.now(), stage, message };
    this.failing.message = message;
    this.failing.stage = stage;
    this.log.warn(`${stage} failed; will retry`, { error: message });
    this.deps.events.record(this.vm, 'Warning', 'ReplicationError', `${stage}: ${message}`.slice(0, 500));
    void this.writeStatus(false);
  }

  private clearError(stage: string): void {
    if (this.failing?.stage === stage || this.failing?.stage === 'session') this.failing = undefined;
  }
}

/** Deletes every blob under a prefix (16 at a time). */
export async function deletePrefix(container: ContainerClient, prefix: string): Promise<void> {
  const names: string[] = [];
  const flush = async () => {
    await Promise.all(names.splice(0).map((name) => container.deleteBlob(name).catch((error: unknown) => {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    })));
  };
  for await (const blob of container.listBlobsFlat({ prefix })) {
    names.push(blob.name);
    if (names.length >= 16) await flush();
  }
  await flush();
}

function sum(record: CycleRecord, field: 'bytes' | 'chunks'): number {
  return Object.values(record.disks).reduce((n, d) => n + d[field], 0);
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  return String(error);
}

function errorKind(error: unknown): string {
  if (isFenceError(error)) return 'fence';
  if (error instanceof CacheDataError) return 'cache';
  const c = classifyAzureError(error);
  if (c.statusCode !== undefined) return `azure-${c.class}`;
  return 'other';
}
