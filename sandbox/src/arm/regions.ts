// Where an ARM request's resource is located, for regional outages (../outages.ts explains the behaviour
// and cites Azure's documentation): a tracked resource's own `location`; a child resource's (restore
// points, disk restore points, subnets, blob services and containers) its top-level parent's; an
// operation status poll's, the region in its URL (`/providers/{ns}/locations/{region}/operations/{id}`,
// which the emulator fills with the resource's location). Resource groups, their operations and lists,
// and subscription-level calls are global here. Also the locator the storage front asks.
import type { OutageFailure, OutageLocator } from '../outages.ts';
import type { ArmEngine, RequestContext } from './engine.ts';
import { normLocation } from './engine.ts';
import type { FaultRule } from './faults.ts';
import type { ParsedPath } from './paths.ts';
import { lastSegment, rgId } from './paths.ts';
import type { StoredResource } from './store.ts';

/** `/subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{type}/{name}`: 9 parts when split on '/'. */
const TOP_LEVEL_PARTS = 9;

/** Location of a stored resource: its top-level ancestor's (undefined when that has none). */
export function regionOfResource(engine: ArmEngine, res: StoredResource): string | undefined {
  const parts = res.id.split('/');
  const top = parts.length > TOP_LEVEL_PARTS ? engine.store.get(parts.slice(0, TOP_LEVEL_PARTS).join('/')) : res;
  const location: unknown = top?.body.location;
  return typeof location === 'string' && location ? normLocation(location) : undefined;
}

/** The region a request acts in, or undefined when it is global (see the header). */
export function regionOfRequest(engine: ArmEngine, p: ParsedPath, ctx: Pick<RequestContext, 'method' | 'body'>): string | undefined {
  if (p.kind === 'operation') return normLocation(p.location);
  if (p.kind !== 'resource' || p.segments.length < 2) return undefined;
  const topId = `${rgId(p.sub, p.rg)}/providers/${p.ns}/${p.segments[0]}/${p.segments[1]}`;
  const top = engine.store.get(topId);
  if (top) return regionOfResource(engine, top);
  // A new tracked resource: where it is being created.
  const location: unknown = p.segments.length === 2 && ctx.method === 'PUT' ? (ctx.body as { location?: unknown } | undefined)?.location : undefined;
  return typeof location === 'string' && location ? normLocation(location) : undefined;
}

/** Drops the resources of down regions from a subscription- or resource-group-wide list. */
export function withoutDownRegions(engine: ArmEngine, items: StoredResource[]): StoredResource[] {
  const outages = engine.outages;
  if (outages.list().length === 0) return items;
  return items.filter((r) => !outages.of(regionOfResource(engine, r)));
}

/**
 * The answer to a request on a resource in a down region, as a fault the server acts out. ARM's error
 * body is `{"error":{"code","message"}}` (azure-resource-manager-rpc v1.0/common-api-details.md, "Error
 * Response Content"); 503 ServiceUnavailable and 500 InternalServerError are the server failures clients
 * retry (v1.0/Addendum.md, "Retrying REST Calls"), as are a dropped connection and a timeout.
 */
export function outageFault(failure: OutageFailure, region: string): FaultRule {
  switch (failure) {
    case 'unavailable':
      return {
        kind: 'error',
        status: 503,
        code: 'ServiceUnavailable',
        message: `The service is unavailable in region '${region}'. Please retry the request later.`,
      };
    case 'internal':
      return {
        kind: 'error',
        status: 500,
        code: 'InternalServerError',
        message: `Encountered internal server error. Diagnostic information: region '${region}' is unavailable.`,
      };
    case 'reset':
      return { kind: 'drop' };
    case 'hang':
      return { kind: 'hang' };
  }
}

/** What the storage front asks the emulator: the region of a storage account, and of a disk's page blob. */
export function outageLocator(engine: ArmEngine, diskTypes: readonly string[], accountType: string): OutageLocator {
  let blobRegions = new Map<string, string | undefined>();
  return {
    accountRegion(account) {
      const res = engine.store.ofType(accountType).find((a) => a.body.name === account);
      return res ? regionOfResource(engine, res) : undefined;
    },
    diskBlobRegion(name) {
      if (!blobRegions.has(name)) {
        // Rebuilt on a miss (asked only while a region is down): disks come and go.
        const blobName = (r: StoredResource): string => lastSegment(new URL(engine.storage.diskBlobUrl(r.id)).pathname);
        blobRegions = new Map(diskTypes.flatMap((t) => engine.store.ofType(t)).map((r) => [blobName(r), regionOfResource(engine, r)]));
      }
      return blobRegions.get(name);
    },
  };
}
