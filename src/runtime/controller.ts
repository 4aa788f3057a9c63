/**
 * One controller per kind: informer events enqueue keys — updates only when the kind's predicate says
 * they matter (status-only updates usually do not) — workers take a key, read the object from the
 * informer's cache, and hand it to the kind's reconciler. The cache is trusted only once it has reported
 * the object again since the key's last reconcile (which may have written it); until then the object is
 * read from the API server, so a reconcile never acts on a version older than its own writes. Errors back
 * off per key; success schedules a drift check (resync) with jitter; a reconciler asks for an earlier look
 * by returning requeueAfterMs (e.g. to poll an Azure long-running operation without blocking a worker).
 * A TerminalError is not retried: the object waits for its next event or resync.
 */
import type winston from 'winston';
import type { KindName } from '../api/types.ts';
import { keyOf, refFromKey, refOf, type CustomObject, type CustomResourceClient } from '../kube/custom-resources.ts';
import { createLogger } from '../util/logger.ts';
import type { EventRecorder } from './events.ts';
import type { Informer } from './informer.ts';
import { queueDepth, queueRetries, reconcileDuration, reconcileErrors, reconcileTotal } from './metrics.ts';
import { isTerminal } from './reconcile-errors.ts';
import { inNamespace } from './reconcile-scope.ts';
import { WorkQueue, type BackoffOptions } from './workqueue.ts';

export interface ReconcileContext {
  log: winston.Logger;
  events: EventRecorder;
  /** Aborts when the process shuts down or loses leadership. */
  signal: AbortSignal;
}

export interface ReconcileResult {
  /** Look at the object again after this long (polling), instead of the default resync. */
  requeueAfterMs?: number;
}

export interface Reconciler<T extends CustomObject> {
  reconcile(object: T, context: ReconcileContext): Promise<ReconcileResult | void>;
}

export interface ControllerOptions<T extends CustomObject> {
  kind: KindName;
  /** A second controller of a kind: its name in logs and metrics (label kind), e.g. ReplicatedVM/verification. Default: the kind. */
  name?: string;
  client: CustomResourceClient<T>;
  informer: Informer<T>;
  reconciler: Reconciler<T>;
  events: EventRecorder;
  workers?: number;
  /** After a successful reconcile, look again after this long (the drift check). Default 10 minutes, ±20%. */
  resyncMs?: number;
  backoff?: BackoffOptions;
  /** Names an error's class for metrics (e.g. retryable, fatal); default "unknown". */
  classifyError?: (error: unknown) => string;
  /** Updates of the kind's own objects to ignore (e.g. status-only ones); default: none ignored. */
  ignoreUpdate?: UpdatePredicate<T>;
}

/** True for an update (from `previous`, when known, to `object`) that needs no reconcile. */
export type UpdatePredicate<T> = (object: T, previous: T | undefined) => boolean;

export const DEFAULT_RESYNC_MS = 10 * 60_000;

export class Controller<T extends CustomObject> {
  readonly kind: KindName;
  readonly queue: WorkQueue;
  private readonly log: winston.Logger;
  private readonly options: ControllerOptions<T>;
  private running: Promise<void>[] = [];
  /** Keys reconciled since the informer last reported their object: read those from the API server. */
  private readonly unconfirmed = new Set<string>();

  constructor(options: ControllerOptions<T>) {
    this.options = options;
    this.kind = options.kind;
    const name = options.name ?? options.kind;
    this.log = createLogger(`controller/${name}`);
    this.queue = new WorkQueue(options.backoff, {
      onDepthChange: (depth) => queueDepth.set({ kind: name }, depth),
      onRetry: () => queueRetries.inc({ kind: name }),
    });
    const seen = (object: T) => {
      const key = keyOf(refOf(object));
      this.unconfirmed.delete(key);
      return key;
    };
    options.informer.on('add', (object) => this.queue.add(seen(object)));
    options.informer.on('update', (object, previous) => {
      const key = seen(object);
      if (!options.ignoreUpdate?.(object, previous)) this.queue.add(key);
    });
    options.informer.on('delete', (object) => this.queue.add(seen(object)));
  }

  /**
   * Enqueues keys of this kind when another kind's objects change (e.g. a policy → its VMs); updates
   * for which `ignoreUpdate` is true enqueue nothing. With `coalesceMs`, a key is enqueued that long after
   * the first change, once for all the changes in between (a burst of many related changes, one reconcile).
   */
  watchRelated<R extends CustomObject>(informer: Informer<R>, map: (object: R) => string[], ignoreUpdate?: UpdatePredicate<R>, coalesceMs = 0): void {
    const handler = (object: R) => {
      for (const key of map(object)) this.queue.addAfter(key, coalesceMs);
    };
    informer.on('add', handler);
    informer.on('update', (object, previous) => {
      if (!ignoreUpdate?.(object, previous)) handler(object);
    });
    informer.on('delete', handler);
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Runs the workers until `signal` aborts; resolves when every in-flight reconcile has finished. */
  start(signal: AbortSignal): Promise<void> {
    for (const object of this.options.informer.list()) this.queue.add(keyOf(refOf(object)));
    signal.addEventListener('abort', () => this.queue.shutDown(), { once: true });
    const workers = this.options.workers ?? 4;
    this.running = Array.from({ length: workers }, () => this.worker(signal));
    return Promise.all(this.running).then(() => undefined);
  }

  private async worker(signal: AbortSignal): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        await this.process(key, signal);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async process(key: string, signal: AbortSignal): Promise<void> {
    const kind = this.options.name ?? this.options.kind;
    const stopTimer = reconcileDuration.startTimer({ kind });
    const log = this.log.child({ key });
    try {
      const object = await this.read(key);
      if (!object) {
        this.queue.forget(key);
        reconcileTotal.inc({ kind, result: 'gone' });
        return;
      }
      // In the object's namespace: a namespace's own Azure identity is chosen by it (reconcile-scope.ts).
      const result = (await inNamespace(object.metadata.namespace, () => this.options.reconciler.reconcile(object, { log, events: this.options.events, signal }))) ?? {};
      this.queue.forget(key);
      if (signal.aborted) return;
      if (result.requeueAfterMs !== undefined) {
        reconcileTotal.inc({ kind, result: 'requeue' });
        this.queue.addAfter(key, result.requeueAfterMs);
      } else {
        reconcileTotal.inc({ kind, result: 'success' });
        this.resync(key);
      }
    } catch (error) {
      if (isTerminal(error)) {
        reconcileTotal.inc({ kind, result: 'terminal' });
        this.queue.forget(key);
        if (!signal.aborted) this.resync(key);
        log.warn('reconcile failed for good; not retried until the object changes or resyncs', { reason: error.reason, error: error.message });
        return;
      }
      const errorClass = this.options.classifyError?.(error) ?? 'unknown';
      reconcileTotal.inc({ kind, result: 'error' });
      reconcileErrors.inc({ kind, class: errorClass });
      if (signal.aborted) return;
      const delay = this.queue.addRateLimited(key);
      log.warn('reconcile failed; will retry', { errorClass, retryInMs: delay, failures: this.queue.failureCount(key), error: error instanceof Error ? error.message : String(error) });
    } finally {
      const { namespace, name } = refFromKey(key);
      if (this.options.informer.get(name, namespace)) this.unconfirmed.add(key);
      else this.unconfirmed.delete(key); // gone: nothing to confirm
      stopTimer();
    }
  }

  /** The object from the cache, or from the API server while the cache may predate the last reconcile. */
  private async read(key: string): Promise<T | undefined> {
    if (this.unconfirmed.has(key)) return this.options.client.get(refFromKey(key));
    const { namespace, name } = refFromKey(key);
    const cached = this.options.informer.get(name, namespace);
    return cached && structuredClone(cached); // reconcilers update the object they get in place
  }

  /** Looks at the object again after the drift resync period (±20 %). */
  private resync(key: string): void {
    const resync = this.options.resyncMs ?? DEFAULT_RESYNC_MS;
    this.queue.addAfter(key, resync * (0.8 + 0.4 * Math.random()));
  }
}
