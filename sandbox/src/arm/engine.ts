// The emulator's core: the resource store, the resource type handlers' registry and long-running
// operations (dispatch.ts routes parsed ARM requests to the handlers of providers/).
//
// Long-running operations follow the ARM async protocol (Azure RPC "Asynchronous operations"):
//   PUT     -> 201/200 with provisioningState Creating/Updating + Azure-AsyncOperation (+ Retry-After);
//   DELETE  -> 202 + Location (+ Azure-AsyncOperation for Compute/Network) + Retry-After;
//   POST    -> 202 + Location (+ Azure-AsyncOperation for Compute) + Retry-After;
//   Azure-AsyncOperation URL -> 200 { name, status: InProgress|Succeeded|Failed, startTime, endTime, error };
//   Location (monitor) URL   -> 202 while running, then 200 with the result (or the operation's error).
// An operation whose configured latency is 0 and whose work finishes at once is answered synchronously
// (200/201 Succeeded, 200 for DELETE/POST): ARM allows every RP to complete synchronously.
import crypto from 'node:crypto';
import { createLogger } from '../../../src/util/logger.ts';
import { RegionOutages } from '../outages.ts';
import { SkuAvailability } from './sku-availability.ts';
import type { DiskData } from './disk-data.ts';
import { ArmError } from './errors.ts';
import type { ParsedPath } from './paths.ts';
import { idKey } from './paths.ts';
import type { ArmStorageBackend } from './storage-backend.ts';
import type { ArmStore, Json, StoredOperation, StoredResource } from './store.ts';

const log = createLogger('sandbox-arm');

export interface Reply {
  status: number;
  body?: Json;
  headers?: Record<string, string>;
}

export interface RequestContext {
  method: string;
  path: string;
  query: URLSearchParams;
  body: Json;
  apiVersion: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A resolved item target: the canonical id and, when it exists, the stored resource. */
export interface Target {
  id: string;
  name: string;
  rg: string;
  /** Parent resource (for child types). */
  parent?: StoredResource;
  existing?: StoredResource;
}

export interface ActionDef {
  method: 'GET' | 'POST';
  run(engine: ArmEngine, ctx: RequestContext, res: StoredResource): Promise<Reply>;
}

export interface TypeHandler {
  /** Canonical ARM type: `Microsoft.Compute/virtualMachines`, `Microsoft.Network/virtualNetworks/subnets`. */
  type: string;
  /** Tracked (top-level) resources require `location`. */
  tracked: boolean;
  /** Also listed at subscription scope (`/subscriptions/{s}/providers/{ns}/{type}`). */
  subscriptionList?: boolean;
  render(engine: ArmEngine, res: StoredResource, ctx?: RequestContext): Json;
  put?(engine: ArmEngine, ctx: RequestContext, target: Target): Promise<Reply>;
  patch?(engine: ArmEngine, ctx: RequestContext, res: StoredResource): Promise<Reply>;
  delete?(engine: ArmEngine, ctx: RequestContext, res: StoredResource): Promise<Reply>;
  /** Child list (e.g. virtualNetworks/subnets) when the children are not stored as separate resources. */
  list?(engine: ArmEngine, ctx: RequestContext, parent: StoredResource | undefined): StoredResource[] | Promise<StoredResource[]>;
  /** Lookup of resources not kept in the store (child views, data-plane backed resources). */
  get?(engine: ArmEngine, ctx: RequestContext, target: Target): StoredResource | undefined | Promise<StoredResource | undefined>;
  actions?: Record<string, ActionDef>;
  /** Data-plane cleanup when the resource goes away with its resource group (blobs of disks, ...). */
  purge?(engine: ArmEngine, res: StoredResource): Promise<void>;
}

export type LocationCollection = (engine: ArmEngine, ctx: RequestContext, location: string) => Promise<Reply>;

export type Completer = (engine: ArmEngine, op: StoredOperation) => Promise<Json | void>;

export interface LatencyConfig {
  /** LRO duration in ms for operations without an entry in `operations`. */
  default: number;
  /** Per operation kind (`virtualMachines.put`, `disks.beginGetAccess`, `resourceGroups.delete`, ...). */
  operations: Record<string, number>;
}

export interface EngineConfig {
  pageSize: number;
  retryAfterSeconds: number;
  latency: LatencyConfig;
}

/** Thrown out of a completer to fail an operation with a given HTTP status for Location-style polling. */
interface OpErrorExtra {
  httpStatus?: number;
}

export class ArmEngine {
  readonly store: ArmStore;
  readonly storage: ArmStorageBackend;
  readonly disks: DiskData;
  readonly config: EngineConfig;
  endpoint = '';
  /** Regions down (`sandbox outage`): lists leave their resources out (dispatch.ts), the server fails requests on them. */
  outages = new RegionOutages();
  /** VM sizes not offered in some regions or zones (a PUT asking for one is refused SkuNotAvailable). */
  readonly skus = new SkuAvailability();
  private readonly types = new Map<string, TypeHandler>();
  private readonly completers = new Map<string, Completer>();
  private readonly locationCollections = new Map<string, LocationCollection>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(store: ArmStore, storage: ArmStorageBackend, disks: DiskData, config: EngineConfig) {
    this.store = store;
    this.storage = storage;
    this.disks = disks;
    this.config = config;
  }

  get subscriptionId(): string {
    return this.store.subscriptionId;
  }

  registerType(h: TypeHandler): void {
    this.types.set(h.type.toLowerCase(), h);
  }

  /** A per-region list, `/subscriptions/{s}/providers/{ns}/locations/{loc}/{collection}` (Compute usages). */
  registerLocationCollection(ns: string, collection: string, list: LocationCollection): void {
    this.locationCollections.set(`${ns}/${collection}`.toLowerCase(), list);
  }

  locationCollection(ns: string, collection: string): LocationCollection | undefined {
    return this.locationCollections.get(`${ns}/${collection}`.toLowerCase());
  }

  registerCompleter(kind: string, c: Completer): void {
    this.completers.set(kind, c);
  }

  handler(type: string): TypeHandler | undefined {
    return this.types.get(type.toLowerCase());
  }

  // ---------------------------------------------------------------- operations

  latencyOf(kind: string): number {
    return this.config.latency.operations[kind] ?? this.config.latency.default;
  }

  /** In-progress operation on a resource (or on one of its children). */
  busyOp(resourceId: string): StoredOperation | undefined {
    const k = idKey(resourceId);
    for (const op of this.store.operations.values()) {
      if (op.status === 'InProgress' && idKey(op.resourceId) === k) return op;
    }
    return undefined;
  }

  /**
   * Starts an operation. With latency 0 the work runs now and the returned operation is already final;
   * otherwise it completes after the configured latency (work runs then).
   */
  async startOperation(args: {
    kind: string;
    ns: string;
    location: string;
    resourceId: string;
    params?: Json;
  }): Promise<StoredOperation> {
    const latency = this.latencyOf(args.kind);
    const now = Date.now();
    const op: StoredOperation = {
      id: crypto.randomUUID(),
      kind: args.kind,
      ns: args.ns,
      location: args.location,
      resourceId: args.resourceId,
      params: args.params ?? {},
      status: 'InProgress',
      startTime: new Date(now).toISOString(),
      dueAt: now + latency,
    };
    this.store.operations.set(op.id, op);
    this.store.save();
    if (latency <= 0) await this.runOperation(op);
    else this.schedule(op);
    return op;
  }

  private schedule(op: StoredOperation): void {
    if (this.stopped) return;
    const t = setTimeout(
      () => {
        this.timers.delete(t);
        void this.runOperation(op);
      },
      Math.max(0, op.dueAt - Date.now()),
    );
    this.timers.add(t);
  }

  /** Resumes operations that were in progress when the state was persisted. */
  resumeOperations(): void {
    for (const op of this.store.operations.values()) if (op.status === 'InProgress') this.schedule(op);
  }

  private runOperation(op: StoredOperation): Promise<void> {
    const existing = this.running.get(op.id);
    if (existing) return existing;
    const p = (async () => {
      const completer = this.completers.get(op.kind);
      try {
        if (!completer) throw new ArmError(500, 'InternalServerError', `no completer for ${op.kind}`);
        const result = await completer(this, op);
        if (result !== undefined) op.result = result;
        op.status = 'Succeeded';
      } catch (err) {
        op.status = 'Failed';
        if (err instanceof ArmError) {
          op.error = { code: err.code, message: err.message };
          (op as StoredOperation & OpErrorExtra).httpStatus = err.status;
        } else {
          log.error('operation failed', { kind: op.kind, resourceId: op.resourceId, error: String(err) });
          op.error = { code: 'InternalServerError', message: `Operation ${op.kind} failed: ${String(err)}` };
          (op as StoredOperation & OpErrorExtra).httpStatus = 500;
        }
      }
      op.endTime = new Date().toISOString();
      this.pruneOperations();
      if (!this.stopped) this.store.save();
    })().finally(() => this.running.delete(op.id));
    this.running.set(op.id, p);
    return p;
  }

  private pruneOperations(): void {
    const cutoff = Date.now() - 60 * 60_000;
    for (const [id, op] of this.store.operations) {
      if (op.status !== 'InProgress' && op.endTime && Date.parse(op.endTime) < cutoff) this.store.operations.delete(id);
    }
  }

  /** Resolves when no operation is pending or running (for tests and shutdown). */
  async idle(): Promise<void> {
    for (;;) {
      const pending = [...this.store.operations.values()].filter((o) => o.status === 'InProgress');
      if (pending.length === 0) return;
      await Promise.all(pending.map((o) => this.runOperationWhenDue(o)));
    }
  }

  private async runOperationWhenDue(op: StoredOperation): Promise<void> {
    const running = this.running.get(op.id);
    if (running) return running;
    await new Promise((r) => setTimeout(r, Math.max(1, op.dueAt - Date.now())));
    const again = this.running.get(op.id);
    if (again) return again;
    if (op.status === 'InProgress') return this.runOperation(op);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.running.values()]);
  }

  private opUrl(op: StoredOperation, apiVersion: string, monitor: boolean): string {
    // Under the subscription of the resource it acts on, as ARM's status URLs are (several may be served).
    const base = `${this.endpoint}/subscriptions/${/^\/subscriptions\/([^/]+)/i.exec(op.resourceId)?.[1] ?? this.subscriptionId}`;
    const v = encodeURIComponent(apiVersion);
    switch (op.ns.toLowerCase()) {
      case 'microsoft.resources':
        return `${base}/operationresults/${op.id}?api-version=${v}`;
      case 'microsoft.storage':
        return `${base}/providers/Microsoft.Storage/locations/${op.location}/asyncoperations/${op.id}?monitor=true&api-version=${v}`;
      case 'microsoft.network':
        return monitor
          ? `${base}/providers/Microsoft.Network/locations/${op.location}/operationResults/${op.id}?api-version=${v}`
          : `${base}/providers/Microsoft.Network/locations/${op.location}/operations/${op.id}?api-version=${v}`;
      default:
        return `${base}/providers/${op.ns}/locations/${op.location}/operations/${op.id}${monitor ? '?monitor=true&' : '?'}api-version=${v}`;
    }
  }

  private retryAfter(): Record<string, string> {
    return { 'Retry-After': String(this.config.retryAfterSeconds) };
  }

  /** Headers announcing an in-progress operation. */
  asyncHeaders(
    op: StoredOperation,
    ctx: RequestContext,
    which: { azureAsync: boolean; location: boolean },
  ): Record<string, string> {
    const h: Record<string, string> = this.retryAfter();
    if (which.azureAsync) h['Azure-AsyncOperation'] = this.opUrl(op, ctx.apiVersion, false);
    if (which.location) h['Location'] = this.opUrl(op, ctx.apiVersion, true);
    return h;
  }

  /** Throws the operation's error (for synchronously completed operations). */
  throwIfFailed(op: StoredOperation): void {
    if (op.status === 'Failed') {
      const status = (op as StoredOperation & OpErrorExtra).httpStatus ?? 500;
      throw new ArmError(status, op.error?.code ?? 'InternalServerError', op.error?.message ?? 'failed');
    }
  }

  /** GET of an operation status / operation result URL. */
  getOperation(ctx: RequestContext, p: Extract<ParsedPath, { kind: 'operation' | 'rgOperationResult' }>): Reply {
    const op = this.store.operations.get(p.opId);
    if (!op) throw new ArmError(404, 'NotFound', `The operation '${p.opId}' was not found.`);
    const monitor =
      p.kind === 'rgOperationResult' ||
      ctx.query.get('monitor') === 'true' ||
      /^(operationresults|asyncoperations)$/i.test(p.kind === 'operation' ? p.collection : '');
    if (!monitor) {
      const body: Json = { name: op.id, status: op.status, startTime: op.startTime };
      if (op.endTime) body.endTime = op.endTime;
      if (op.status === 'InProgress') return { status: 200, body, headers: this.retryAfter() };
      if (op.error) body.error = op.error;
      if (op.result !== undefined) body.properties = { output: op.result };
      return { status: 200, body };
    }
    if (op.status === 'InProgress') {
      return { status: 202, headers: { ...this.retryAfter(), Location: this.opUrl(op, ctx.apiVersion, true) } };
    }
    this.throwIfFailed(op);
    if (op.params?.resultIsResource) {
      const res = this.store.get(op.resourceId);
      const h = res && this.handler(res.type);
      if (res && h) return { status: 200, body: h.render(this, res) };
    }
    if (op.result !== undefined) return { status: 200, body: op.result };
    return { status: 200 };
  }

  // ---------------------------------------------------------------- rendering helpers

  /** One page of a list, with `nextLink` when more remain (`$skiptoken` is the offset). */
  page(ctx: RequestContext, items: Json[]): Reply {
    const skip = Number.parseInt(ctx.query.get('$skiptoken') ?? '0', 10) || 0;
    const top = Number.parseInt(ctx.query.get('$top') ?? '', 10);
    const size = Number.isFinite(top) && top > 0 ? Math.min(top, this.config.pageSize) : this.config.pageSize;
    const value = items.slice(skip, skip + size);
    const body: Json = { value };
    if (skip + size < items.length) {
      const q = new URLSearchParams(ctx.query);
      q.set('$skiptoken', String(skip + size));
      body.nextLink = `${this.endpoint}${ctx.path}?${q.toString()}`;
    }
    return { status: 200, body };
  }
}

/** ARM location normalization: `West Europe` -> `westeurope`. */
export function normLocation(loc: unknown): string {
  return String(loc ?? '')
    .replace(/\s+/g, '')
    .toLowerCase();
}

export function etag(): string {
  return `W/"${crypto.randomUUID()}"`;
}
