// Dispatch of a parsed ARM request to the resource type handlers (providers/): subscription-level lists
// and actions, resource groups, generic resource lists (Resources - List with $filter, $top, $expand), and
// the resource chain /{type}/{name}[/{childType}/{childName}...] with its item, list and action shapes
// and the checks ARM makes before a handler runs (parent exists, location required and unchanged, resource
// group not being deleted). PATCH without a handler of its own is a JSON merge patch applied as a PUT.
// Every subscription the store serves is a separate namespace of resource groups, as in ARM, where
// resource group names are unique per subscription: a request's resource group, and every list, is the
// one of the subscription in its path; any other subscription is 404 SubscriptionNotFound.
// ("Resource group names must be unique within a subscription": Microsoft.Resources/resourcegroups, scope
// subscription, in https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules.)
import type { ArmEngine, Reply, RequestContext, Target, TypeHandler } from './engine.ts';
import { normLocation } from './engine.ts';
import { ArmError, resourceGroupNotFound, resourceNotFound } from './errors.ts';
import type { ParsedPath } from './paths.ts';
import { inSubscription, rgId } from './paths.ts';
import { withoutDownRegions } from './regions.ts';
import type { Json, StoredResource } from './store.ts';

export async function dispatchRequest(engine: ArmEngine, ctx: RequestContext, p: ParsedPath): Promise<Reply> {
  if (p.kind === 'unknown') {
    throw new ArmError(404, 'InvalidResourceType', `The resource path '${ctx.path}' is not supported by this endpoint.`);
  }
  if (!engine.store.serves(p.sub)) {
    throw new ArmError(404, 'SubscriptionNotFound', `The subscription '${p.sub}' could not be found.`);
  }
  switch (p.kind) {
    case 'operation':
    case 'rgOperationResult':
      if (ctx.method !== 'GET') throw methodNotAllowed(ctx);
      return engine.getOperation(ctx, p);
    case 'resourceGroups':
      if (ctx.method !== 'GET') throw methodNotAllowed(ctx);
      return engine.page(ctx, (await rgHandler(engine).list!(engine, ctx, undefined)).filter((r) => inSubscription(r.id, p.sub)).map((r) => rgHandler(engine).render(engine, r)));
    case 'resourceGroup':
      return dispatchResourceGroup(engine, ctx, p.sub, p.rg);
    case 'subscriptionProvider':
      return dispatchSubscriptionProvider(engine, ctx, p.sub, p.ns, p.segment);
    case 'locationCollection': {
      const list = engine.locationCollection(p.ns, p.collection);
      if (!list) throw new ArmError(404, 'InvalidResourceType', `The resource type 'locations/${p.collection}' could not be found in the namespace '${p.ns}'.`);
      if (ctx.method !== 'GET') throw methodNotAllowed(ctx);
      return list(engine, ctx, p.location);
    }
    case 'genericResources':
      if (ctx.method !== 'GET') throw methodNotAllowed(ctx);
      return listGenericResources(engine, ctx, p.sub, p.rg);
    case 'resource':
      return dispatchResource(engine, ctx, p);
  }
}

/**
 * Resources - List / List By Resource Group: top-level (tracked) resources in generic form. Supports
 * `$filter` with `resourceType eq '...'` and `name eq '...'` (joined by `and`), `$top`, and
 * `$expand=provisioningState` / `createdTime`.
 */
function listGenericResources(engine: ArmEngine, ctx: RequestContext, sub: string, rg: string | undefined): Reply {
  if (rg !== undefined && !engine.store.get(rgId(sub, rg))) throw resourceGroupNotFound(rg);
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
  const items = withoutDownRegions(engine, engine.store.all())
    .filter((r) => inSubscription(r.id, sub) && r.type !== 'Microsoft.Resources/resourceGroups' && (r.type.match(/\//g) ?? []).length === 1 && r.body.location)
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
  return engine.page(ctx, items);
}

function rgHandler(engine: ArmEngine): TypeHandler {
  return engine.handler('Microsoft.Resources/resourceGroups')!;
}

async function dispatchResourceGroup(engine: ArmEngine, ctx: RequestContext, sub: string, rg: string): Promise<Reply> {
  const h = rgHandler(engine);
  const id = rgId(sub, rg);
  const existing = engine.store.get(id);
  switch (ctx.method) {
    case 'HEAD':
      return { status: existing ? 204 : 404 };
    case 'GET':
      if (!existing) throw resourceGroupNotFound(rg);
      return { status: 200, body: h.render(engine, existing, ctx) };
    case 'PUT':
      return h.put!(engine, ctx, { id: existing?.id ?? id, name: existing?.body.name ?? rg, rg, ...(existing ? { existing } : {}) });
    case 'PATCH':
      if (!existing) throw resourceGroupNotFound(rg);
      return h.patch!(engine, ctx, existing);
    case 'DELETE':
      if (!existing) throw resourceGroupNotFound(rg);
      return h.delete!(engine, ctx, existing);
    default:
      throw methodNotAllowed(ctx);
  }
}

async function dispatchSubscriptionProvider(engine: ArmEngine, ctx: RequestContext, sub: string, ns: string, segment: string): Promise<Reply> {
  const h = engine.handler(`${ns}/${segment}`);
  if (h?.subscriptionList && ctx.method === 'GET') {
    const items = withoutDownRegions(engine, engine.store.ofType(h.type).filter((r) => inSubscription(r.id, sub))).map((r) => h.render(engine, r, ctx));
    return engine.page(ctx, items);
  }
  const action = engine.handler(`${ns}/*`)?.actions?.[segment.toLowerCase()];
  if (action && action.method === ctx.method) return action.run(engine, ctx, undefined as unknown as StoredResource);
  throw new ArmError(404, 'InvalidResourceType', `The resource type '${segment}' could not be found in the namespace '${ns}'.`);
}

async function dispatchResource(engine: ArmEngine, ctx: RequestContext, p: Extract<ParsedPath, { kind: 'resource' }>): Promise<Reply> {
  const rgRes = engine.store.get(rgId(p.sub, p.rg));
  if (!rgRes) throw resourceGroupNotFound(p.rg);
  const shape = resourceShape(engine, p);
  const { parent, target, handler } = await walkChain(engine, ctx, shape, rgRes);
  if (shape.mode === 'list') return listResources(engine, ctx, shape, parent, rgRes);
  if (shape.mode === 'action') return runAction(engine, ctx, shape, handler!, target!);
  return itemRequest(engine, ctx, handler!, target!, rgRes);
}

/** A resource path as type/name pairs and what follows them. */
interface ResourceShape {
  ns: string;
  segments: string[];
  mode: 'item' | 'list' | 'action';
  /** How many type/name pairs precede the tail. */
  pairs: number;
  /** The child type of a list, the action of an action. */
  tail?: string;
  nameAt(i: number): string;
  /** `ns/type0/type1/...` of the first n pairs. */
  chain(n: number): string;
}

function resourceShape(engine: ArmEngine, p: Extract<ParsedPath, { kind: 'resource' }>): ResourceShape {
  const segs = p.segments;
  const typeAt = (i: number): string => segs[i * 2]!;
  const nameAt = (i: number): string => segs[i * 2 + 1]!;
  const chain = (n: number): string => `${p.ns}/${Array.from({ length: n }, (_, i) => typeAt(i)).join('/')}`;

  // Shape: item (/t/n[/t/n...]), list (/t or /t/n/childType), or action (/t/n/action).
  if (segs.length % 2 === 0) return { ns: p.ns, segments: segs, mode: 'item', pairs: segs.length / 2, nameAt, chain };
  const tail = segs[segs.length - 1]!;
  const pairs = (segs.length - 1) / 2;
  const mode = pairs > 0 && !engine.handler(`${chain(pairs)}/${tail}`) ? 'action' : 'list';
  return { ns: p.ns, segments: segs, mode, pairs, tail, nameAt, chain };
}

/**
 * Walk the chain: every pair must exist except the last one of an item request. Returns the handler and
 * target of the last pair, and the parent of what a list lists.
 */
async function walkChain(
  engine: ArmEngine,
  ctx: RequestContext,
  shape: ResourceShape,
  rgRes: StoredResource,
): Promise<{ parent?: StoredResource; target?: Target; handler?: TypeHandler }> {
  const { pairs, mode, chain, nameAt } = shape;
  let parent: StoredResource | undefined;
  let target: Target | undefined;
  let handler: TypeHandler | undefined;
  const rgName: string = rgRes.body.name;
  const rgCanonical = rgRes.id;
  for (let i = 0; i < pairs; i++) {
    const h = engine.handler(chain(i + 1));
    if (!h) throw invalidType(shape.ns, chain(i + 1));
    const t = h.type.split('/');
    const id = parent ? `${parent.id}/${t[i + 1]}/${nameAt(i)}` : `${rgCanonical}/providers/${t[0]}/${t[1]}/${nameAt(i)}`;
    const tgt: Target = { id, name: nameAt(i), rg: rgName, ...(parent ? { parent } : {}) };
    const found = h.get ? await h.get(engine, ctx, tgt) : engine.store.get(id);
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
        `Can not perform requested operation on nested resource. Parent resource '${shape.segments.slice(0, i * 2 + 2).join('/')}' not found.`,
      );
    }
    if (last) {
      target = tgt;
      handler = h;
    }
    if (found && !(last && mode !== 'list')) parent = found;
  }
  return { ...(parent ? { parent } : {}), ...(target ? { target } : {}), ...(handler ? { handler } : {}) };
}

async function listResources(engine: ArmEngine, ctx: RequestContext, shape: ResourceShape, parent: StoredResource | undefined, rgRes: StoredResource): Promise<Reply> {
  const { ns, pairs, tail, chain } = shape;
  const h = engine.handler(pairs === 0 ? `${ns}/${tail}` : `${chain(pairs)}/${tail}`);
  if (!h) throw invalidType(ns, `${chain(pairs)}/${tail}`);
  if (ctx.method !== 'GET') throw methodNotAllowed(ctx);
  let items = h.list
    ? await h.list(engine, ctx, parent)
    : parent
      ? engine.store.children(parent.id, h.type)
      : engine.store.ofType(h.type).filter((r) => r.id.toLowerCase().startsWith(`${rgRes.id.toLowerCase()}/`));
  // A resource-group-wide list of a type; a child list is a request on its (down or up) parent.
  if (!parent) items = withoutDownRegions(engine, items);
  return engine.page(ctx, items.map((r) => h.render(engine, r, ctx)));
}

function runAction(engine: ArmEngine, ctx: RequestContext, shape: ResourceShape, h: TypeHandler, tgt: Target): Promise<Reply> {
  const action = h.actions?.[shape.tail!.toLowerCase()];
  if (!action) throw invalidType(shape.ns, `${shape.chain(shape.pairs)}/${shape.tail}`);
  if (action.method !== ctx.method) throw methodNotAllowed(ctx);
  return action.run(engine, ctx, tgt.existing!);
}

async function itemRequest(engine: ArmEngine, ctx: RequestContext, h: TypeHandler, tgt: Target, rgRes: StoredResource): Promise<Reply> {
  const existing = tgt.existing;
  const rgName: string = rgRes.body.name;
  switch (ctx.method) {
    case 'GET':
      if (!existing) throw resourceNotFound(h.type, tgt.name, rgName);
      return { status: 200, body: h.render(engine, existing, ctx) };
    case 'PUT': {
      if (!h.put) throw methodNotAllowed(ctx);
      checkPut(ctx, h, tgt, rgRes);
      return h.put(engine, ctx, tgt);
    }
    case 'PATCH': {
      if (!existing) throw resourceNotFound(h.type, tgt.name, rgName);
      if (h.patch) return h.patch(engine, ctx, existing);
      if (!h.put || !isObject(ctx.body)) throw methodNotAllowed(ctx);
      // ARM PATCH: a JSON merge patch (RFC 7386) of the resource, applied like a PUT of the result.
      const merged = mergePatch(h.render(engine, existing), ctx.body);
      return h.put(engine, { ...ctx, method: 'PUT', body: merged }, tgt);
    }
    case 'DELETE':
      if (!existing) return { status: 204 };
      if (!h.delete) throw methodNotAllowed(ctx);
      return h.delete(engine, ctx, existing);
    default:
      throw methodNotAllowed(ctx);
  }
}

/** What ARM checks before a PUT reaches the provider: a JSON object body, the location (required, unchanged), the resource group not being deleted. */
function checkPut(ctx: RequestContext, h: TypeHandler, tgt: Target, rgRes: StoredResource): void {
  const existing = tgt.existing;
  const rgName: string = rgRes.body.name;
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
