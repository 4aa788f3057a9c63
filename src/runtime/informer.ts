/**
 * A list+watch cache that keeps going. @kubernetes/client-node's ListWatch relists on 410 Gone and
 * reconnects after watch timeouts, but stops for good on any other error; this wrapper restarts it with
 * backoff, and relists periodically from scratch so that a delete missed while disconnected is noticed.
 * An update handler also gets the version it replaces, so that a controller can drop updates it does not
 * care about (status-only ones); a relist reports an object it already held unchanged as nothing, and a
 * changed one as an update — never as a fresh add, which would reconcile the whole fleet every relist.
 * Handlers must be cheap and must not throw: they only enqueue keys.
 */
import { ListWatch, Watch, type KubeConfig, type KubernetesObject, type KubernetesListObject } from '@kubernetes/client-node';
import { backoffDelay } from './workqueue.ts';
import { createLogger } from '../util/logger.ts';

const log = createLogger('informer');

export type InformerEvent = 'add' | 'update' | 'delete';
/** `previous`: for an update, the version it replaces (when this informer saw it). */
export type Handler<T> = (object: T, previous?: T) => void;

export interface InformerOptions {
  /** Relist from scratch this often (missed deletes, drift). Default 5 minutes. */
  relistIntervalMs?: number;
  labelSelector?: string;
}

function keyOf(object: KubernetesObject): string {
  return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}

export class Informer<T extends KubernetesObject> {
  private readonly handlers: Record<InformerEvent, Array<Handler<T>>> = { add: [], update: [], delete: [] };
  private current: ListWatch<T> | undefined;
  private stopped = false;
  private failures = 0;
  private relistTimer: NodeJS.Timeout | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly watch: Watch;
  readonly path: string;
  private readonly listFn: () => Promise<KubernetesListObject<T>>;
  private readonly options: InformerOptions;
  /** The version of each object last reported to the handlers (the same objects the cache holds). */
  private readonly reported = new Map<string, T>();

  constructor(kubeConfig: KubeConfig, path: string, listFn: () => Promise<KubernetesListObject<T>>, options: InformerOptions = {}) {
    this.path = path;
    this.listFn = listFn;
    this.options = options;
    this.watch = new Watch(kubeConfig);
  }

  on(event: InformerEvent, handler: Handler<T>): void {
    this.handlers[event].push(handler);
  }


  get(name: string, namespace?: string): T | undefined {
    return this.current?.get(name, namespace);
  }

  list(namespace?: string): ReadonlyArray<T> {
    return this.current?.list(namespace) ?? [];
  }

  /** Lists, starts watching, and resolves once the cache holds the first full list. */
  async start(): Promise<void> {
    this.stopped = false;
    await this.connect();
    const interval = this.options.relistIntervalMs ?? 5 * 60_000;
    this.relistTimer = setInterval(() => void this.relist(), interval);
    this.relistTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.relistTimer);
    clearTimeout(this.restartTimer);
    await this.current?.stop();
  }

  private makeListWatch(): ListWatch<T> {
    const listWatch = new ListWatch<T>(this.path, this.watch, this.listFn, false, this.options.labelSelector);
    listWatch.on('add', (o) => this.emit('add', o, listWatch));
    listWatch.on('update', (o) => this.emit('update', o, listWatch));
    listWatch.on('delete', (o) => this.emit('delete', o, listWatch));
    listWatch.on('error', (err) => this.onError(listWatch, err));
    listWatch.on('connect', () => {
      this.failures = 0;
    });
    return listWatch;
  }

  private emit(event: InformerEvent, object: T, source: ListWatch<T>): void {
    // The cache holds the object it reports: managedFields (who set which field, often more than the
    // object itself) are read by nothing here, so they are not kept for every object of a fleet.
    if (object.metadata?.managedFields) delete object.metadata.managedFields;
    if (source !== this.current && event === 'delete') return; // a replaced cache's deletes are diffed in relist()
    const key = keyOf(object);
    const previous = this.reported.get(key);
    if (event === 'delete') this.reported.delete(key);
    else this.reported.set(key, object);
    if (event === 'add' && previous) {
      if (previous.metadata?.resourceVersion === object.metadata?.resourceVersion) return; // relisted, unchanged
      event = 'update';
    }
    for (const handler of this.handlers[event]) {
      try {
        handler(object, previous);
      } catch (error) {
        log.error('informer handler threw', { path: this.path, error });
      }
    }
  }

  private async connect(): Promise<void> {
    const listWatch = this.makeListWatch();
    this.current = listWatch;
    await listWatch.start();
    this.reportVanished(listWatch);
  }

  /** Reports deleted what was reported before and is not in `source`'s fresh list (gone meanwhile). */
  private reportVanished(source: ListWatch<T>): void {
    const listed = new Set(source.list().map(keyOf));
    for (const [key, object] of [...this.reported]) if (!listed.has(key)) this.emit('delete', object, source);
  }

  private onError(source: ListWatch<T>, error: unknown): void {
    if (this.stopped || source !== this.current) return;
    this.failures += 1;
    const delay = backoffDelay(this.failures, { baseDelayMs: 1000, maxDelayMs: 30_000, jitter: 0.2 });
    log.warn('watch failed; restarting', { path: this.path, delayMs: delay, error: error instanceof Error ? error.message : String(error) });
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (this.stopped || source !== this.current) return;
      source.start().catch((err: unknown) => this.onError(source, err));
    }, delay);
    this.restartTimer.unref();
  }

  /** Replaces the cache with a fresh list; objects that vanished meanwhile are reported deleted. */
  async relist(): Promise<void> {
    if (this.stopped) return;
    const previous = this.current;
    const next = this.makeListWatch();
    try {
      await next.start();
    } catch (error) {
      log.warn('relist failed; the watch goes on', { path: this.path, error: error instanceof Error ? error.message : String(error) });
      await next.stop();
      return;
    }
    // Swapped only once the fresh list is in: an empty cache in between made every object looked up
    // meanwhile look deleted (a controller forgot those keys: 41 of 1,000 VMs never enabled).
    this.current = next;
    await previous?.stop();
    this.reportVanished(next);
  }
}
