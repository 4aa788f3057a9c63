// The emulator's core: the resource store, long-running operations, and dispatch of parsed ARM requests
// to the resource type handlers (providers/*.ts).
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
import type { DiskData } from './disk-data.ts';
import { ArmError, resourceGroupNotFound, resourceNotFound } from './errors.ts';
import type { ParsedPath } from './paths.ts';
import { idKey, rgId } from './paths.ts';
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
  private readonly types = new Map<string, TypeHandler>();
  private readonly completers = new Map<string, Completer>();
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
    const base = `${this.endpoint}/subscriptions/${this.subscriptionId}`;
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

  // ---------------------------------------------------------------- dispatch

  async dispatch(ctx: RequestContext, p: ParsedPath): Promise<Reply> {
    if (p.kind === 'unknown') {
      throw new ArmError(404, 'InvalidResourceType', `The resource path '${ctx.path}' is not supported by this endpoint.`);
    }
    if (p.sub.toLowerCase() !== this.subscriptionId.toLowerCase()) {
      throw new ArmError(404, 'SubscriptionNotFound', `The subscription '${p.sub}' could not be found.`);
    }
    switch (p.kind) {
      case 'operation':
      case 'rgOperationResult':
        if (ctx.method !== 'GET') throw methodNotAllowed(ctx);
        return this.getOperation(ctx, p);
      case 'resourceGroups':
        if (ctx.method !== 'GET') throw methodNotAllowed(ctx);
        return this.page(ctx, (await this.rgHandler().list!(this, ctx, undefined)).map((r) => this.rgHandler().render(this, r)));
      case 'resourceGroup':
        return this.dispatchResourceGroup(ctx, p.rg);
      case 'subscriptionProvider':
        return this.dispatchSubscriptionProvider(ctx, p.ns, p.segment);
      case 'genericResources':
        if (ctx.method !== 'GET') throw methodNotAllowed(ctx);
        return this.listGenericResources(ctx, p.rg);
      case 'resource':
        return this.dispatchResource(ctx, p);
    }
  }

  /**
   * Resources - List / List By Resource Group: top-level (tracked) resources in generic form. Supports
   * `$filter` with `resourceType eq '...'` and `name eq '...'` (joined by `and`), `$top`, and
   * `$expand=provisioningState` / `createdTime`.
   */
  private listGenericResources(ctx: RequestContext, rg: string | undefined): Reply {
    if (rg !== undefined && !this.store.get(rgId(this.subscriptionId, rg))) throw resourceGroupNotFound(rg);
    const filters: [string, string][] = [];
    const filter = ctx.query.get('$filter');
    if (filter) {
      for (const clause of filter.split(/\s+and\s+/i)) {
        const m = /^\s*(resourceType|name)\s+eq\s+'([^']*)'\s*$/i.exec(clause);
        if (!m) throw new ArmError(400, 'InvalidFilterInQueryString', `Invalid $filter '${filter}' specified in the query string.`);
        filters.push([m[1]!.toLowerCase(), m[2]!.toLowerCase()]);
      }
    }
    const expand = (ctx.query.get('$expand') ?? '').toLowerCase();
    const items = this.store
      .all()
      .filter((r) => r.type !== 'Microsoft.Resources/resourceGroups' && (r.type.match(/\//g) ?? []).length === 1 && r.body.location)
      .filter((r) => rg === undefined || r.resourceGroup.toLowerCase() === rg.toLowerCase())
      .filter((r) => filters.every(([k, v]) => (k === 'resourcetype' ? r.type.toLowerCase() === v : String(r.body.name).toLowerCase() === v)))
      .map((r) => {
        const b = r.body;
        const out: Json = { id: r.id, name: b.name, type: r.type, location: b.location };
        for (const k of ['tags', 'kind', 'sku', 'managedBy', 'zones']) if (b[k] !== undefined) out[k] = b[k];
        if (expand.includes('provisioningstate') && b.properties?.provisioningState) out.provisioningState = b.properties.provisioningState;
        if (expand.includes('createdtime') && (b.properties?.timeCreated ?? b.properties?.creationTime)) {
          out.createdTime = b.properties.timeCreated ?? b.properties.creationTime;
        }
        return out;
      });
    return this.page(ctx, items);
  }

  private rgHandler(): TypeHandler {
    return this.handler('Microsoft.Resources/resourceGroups')!;
  }

  private async dispatchResourceGroup(ctx: RequestContext, rg: string): Promise<Reply> {
    const h = this.rgHandler();
    const id = rgId(this.subscriptionId, rg);
    const existing = this.store.get(id);
    switch (ctx.method) {
      case 'HEAD':
        return { status: existing ? 204 : 404 };
      case 'GET':
        if (!existing) throw resourceGroupNotFound(rg);
        return { status: 200, body: h.render(this, existing, ctx) };
      case 'PUT':
        return h.put!(this, ctx, { id: existing?.id ?? id, name: existing?.body.name ?? rg, rg, ...(existing ? { existing } : {}) });
      case 'PATCH':
        if (!existing) throw resourceGroupNotFound(rg);
        return h.patch!(this, ctx, existing);
      case 'DELETE':
        if (!existing) throw resourceGroupNotFound(rg);
        return h.delete!(this, ctx, existing);
      default:
        throw methodNotAllowed(ctx);
    }
  }

  private async dispatchSubscriptionProvider(ctx: RequestContext, ns: string, segment: string): Promise<Reply> {
    const h = this.handler(`${ns}/${segment}`);
    if (h?.subscriptionList && ctx.method === 'GET') {
      const items = this.store.ofType(h.type).map((r) => h.render(this, r, ctx));
      return this.page(ctx, items);
    }
    const action = this.handler(`${ns}/*`)?.actions?.[segment.toLowerCase()];
    if (action && action.method === ctx.method) return action.run(this, ctx, undefined as unknown as StoredResource);
    throw new ArmError(404, 'InvalidResourceType', `The resource type '${segment}' could not be found in the namespace '${ns}'.`);
  }

  private async dispatchResource(ctx: RequestContext, p: Extract<ParsedPath, { kind: 'resource' }>): Promise<Reply> {
    const rgRes = this.store.get(rgId(this.subscriptionId, p.rg));
    if (!rgRes) throw resourceGroupNotFound(p.rg);
    const rgName: string = rgRes.body.name;
    const segs = p.segments;
    const typeAt = (i: number): string => segs[i * 2]!;
    const nameAt = (i: number): string => segs[i * 2 + 1]!;
    const chain = (n: number): string => `${p.ns}/${Array.from({ length: n }, (_, i) => typeAt(i)).join('/')}`;

    // Shape: item (/t/n[/t/n...]), list (/t or /t/n/childType), or action (/t/n/action).
    let mode: 'item' | 'list' | 'action';
    let pairs: number;
    let tail: string | undefined;
    if (segs.length % 2 === 0) {
      mode = 'item';
      pairs = segs.length / 2;
    } else {
      tail = segs[segs.length - 1]!;
      pairs = (segs.length - 1) / 2;
      mode = pairs > 0 && !this.handler(`${chain(pairs)}/${tail}`) ? 'action' : 'list';
    }

    // Walk the chain: every pair must exist except the last one of an item request.
    let parent: StoredResource | undefined;
    let target: Target | undefined;
    let handler: TypeHandler | undefined;
    const rgCanonical = rgId(this.subscriptionId, rgName);
    for (let i = 0; i < pairs; i++) {
      const h = this.handler(chain(i + 1));
      if (!h) throw invalidType(p.ns, chain(i + 1));
      const t = h.type.split('/');
      const id = parent ? `${parent.id}/${t[i + 1]}/${nameAt(i)}` : `${rgCanonical}/providers/${t[0]}/${t[1]}/${nameAt(i)}`;
      const tgt: Target = { id, name: nameAt(i), rg: rgName, ...(parent ? { parent } : {}) };
      const found = h.get ? await h.get(this, ctx, tgt) : this.store.get(id);
      if (found) {
        tgt.existing = found;
        tgt.id = found.id;
        tgt.name = found.body.name;
      }
      const last = i === pairs - 1;
      if (!found && !(last && mode === 'item')) {
        if (last && mode === 'action') throw resourceNotFound(h.type, nameAt(i), rgName);
        throw new ArmError(
          404,
          'ParentResourceNotFound',
          `Can not perform requested operation on nested resource. Parent resource '${segs.slice(0, i * 2 + 2).join('/')}' not found.`,
        );
      }
      if (last) {
        target = tgt;
        handler = h;
      }
      if (found && !(last && mode !== 'list')) parent = found;
    }

    if (mode === 'list') {
      const h = this.handler(pairs === 0 ? `${p.ns}/${tail}` : `${chain(pairs)}/${tail}`);
      if (!h) throw invalidType(p.ns, `${chain(pairs)}/${tail}`);
      if (ctx.method !== 'GET') throw methodNotAllowed(ctx);
      const items = h.list
        ? await h.list(this, ctx, parent)
        : parent
          ? this.store.children(parent.id, h.type)
          : this.store.ofType(h.type).filter((r) => r.resourceGroup.toLowerCase() === rgName.toLowerCase());
      return this.page(ctx, items.map((r) => h.render(this, r, ctx)));
    }

    const h = handler!;
    const tgt = target!;
    if (mode === 'action') {
      const action = h.actions?.[tail!.toLowerCase()];
      if (!action) throw invalidType(p.ns, `${chain(pairs)}/${tail}`);
      if (action.method !== ctx.method) throw methodNotAllowed(ctx);
      return action.run(this, ctx, tgt.existing!);
    }

    const existing = tgt.existing;
    switch (ctx.method) {
      case 'GET':
        if (!existing) throw resourceNotFound(h.type, tgt.name, rgName);
        return { status: 200, body: h.render(this, existing, ctx) };
      case 'PUT': {
        if (!h.put) throw methodNotAllowed(ctx);
        if (typeof ctx.body !== 'object' || ctx.body === null || Array.isArray(ctx.body)) {
          throw new ArmError(400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized.');
        }
        if (h.tracked && !ctx.body.location) {
          throw new ArmError(400, 'LocationRequired', 'The location property is required for this definition.');
        }
        if (h.tracked && existing && normLocation(ctx.body.location) !== existing.body.location) {
          throw new ArmError(
            409,
            'InvalidResourceLocation',
            `The resource '${tgt.name}' already exists in location '${existing.body.location}' in resource group '${rgName}'. ` +
              `A resource with the same name cannot be created in location '${normLocation(ctx.body.location)}'. Please select a new resource name.`,
          );
        }
        if (rgRes.body.properties.provisioningState === 'Deleting') {
          throw new ArmError(
            409,
            'ResourceGroupBeingDeleted',
            `The resource group '${rgName}' is in deprovisioning state and cannot perform this operation.`,
          );
        }
        return h.put(this, ctx, tgt);
      }
      case 'PATCH': {
        if (!existing) throw resourceNotFound(h.type, tgt.name, rgName);
        if (h.patch) return h.patch(this, ctx, existing);
        if (!h.put || !isObject(ctx.body)) throw methodNotAllowed(ctx);
        // ARM PATCH: a JSON merge patch (RFC 7386) of the resource, applied like a PUT of the result.
        const merged = mergePatch(h.render(this, existing), ctx.body);
        return h.put(this, { ...ctx, method: 'PUT', body: merged }, tgt);
      }
      case 'DELETE':
        if (!existing) return { status: 204 };
        if (!h.delete) throw methodNotAllowed(ctx);
        return h.delete(this, ctx, existing);
      default:
        throw methodNotAllowed(ctx);
    }
  }
}

function invalidType(ns: string, chain: string): ArmError {
  return new ArmError(
    404,
    'InvalidResourceType',
    `The resource type '${chain.slice(ns.length + 1)}' could not be found in the namespace '${ns}'.`,
  );
}

const isObject = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export function methodNotAllowed(ctx: RequestContext): ArmError {
  return new ArmError(405, 'MethodNotAllowed', `The HTTP method '${ctx.method}' is not supported for '${ctx.path}'.`);
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
