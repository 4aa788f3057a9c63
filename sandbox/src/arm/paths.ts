// ARM request paths are fully regular, so the emulator parses them instead of matching route templates:
// every path is one of a few shapes, and resource type chains are looked up in the provider registry.
// Matching is case-insensitive, as ARM's is.

export type ParsedPath =
  | { kind: 'resourceGroups'; sub: string }
  | { kind: 'resourceGroup'; sub: string; rg: string }
  /** Generic resource lists: /subscriptions/{s}/resources, /subscriptions/{s}/resourceGroups/{rg}/resources */
  | { kind: 'genericResources'; sub: string; rg?: string }
  | { kind: 'rgOperationResult'; sub: string; opId: string }
  /** /subscriptions/{s}/providers/{ns}/locations/{loc}/{operations|operationResults|asyncoperations}/{id} */
  | { kind: 'operation'; sub: string; ns: string; location: string; collection: string; opId: string }
  /** /subscriptions/{s}/providers/{ns}/locations/{loc}/{collection}: a per-region list (Compute usages). */
  | { kind: 'locationCollection'; sub: string; ns: string; location: string; collection: string }
  /** /subscriptions/{s}/providers/{ns}/{segment}: a subscription-wide list or a subscription-level action. */
  | { kind: 'subscriptionProvider'; sub: string; ns: string; segment: string }
  /** /subscriptions/{s}/resourceGroups/{rg}/providers/{ns}/{t1}/{n1}/.../[{tail}] */
  | { kind: 'resource'; sub: string; rg: string; ns: string; segments: string[] }
  | { kind: 'unknown' };

const eq = (a: string | undefined, b: string): boolean => a !== undefined && a.toLowerCase() === b.toLowerCase();

export function parseArmPath(pathname: string): ParsedPath {
  const seg = pathname
    .split('/')
    .filter((s) => s.length > 0)
    .map((s) => decodeURIComponent(s));
  if (!eq(seg[0], 'subscriptions') || seg[1] === undefined) return { kind: 'unknown' };
  const sub = seg[1];
  const rest = seg.slice(2);
  if (eq(rest[0], 'resourcegroups')) {
    if (rest.length === 1) return { kind: 'resourceGroups', sub };
    const rg = rest[1]!;
    if (rest.length === 2) return { kind: 'resourceGroup', sub, rg };
    if (rest.length === 3 && eq(rest[2], 'resources')) return { kind: 'genericResources', sub, rg };
    if (eq(rest[2], 'providers') && rest.length >= 5) {
      return { kind: 'resource', sub, rg, ns: rest[3]!, segments: rest.slice(4) };
    }
    return { kind: 'unknown' };
  }
  if (eq(rest[0], 'resources') && rest.length === 1) return { kind: 'genericResources', sub };
  if (eq(rest[0], 'operationresults') && rest.length === 2) return { kind: 'rgOperationResult', sub, opId: rest[1]! };
  if (eq(rest[0], 'providers') && rest.length >= 3) {
    const ns = rest[1]!;
    if (eq(rest[2], 'locations') && rest.length === 6) {
      return { kind: 'operation', sub, ns, location: rest[3]!, collection: rest[4]!, opId: rest[5]! };
    }
    if (eq(rest[2], 'locations') && rest.length === 5) return { kind: 'locationCollection', sub, ns, location: rest[3]!, collection: rest[4]! };
    if (rest.length === 3) return { kind: 'subscriptionProvider', sub, ns, segment: rest[2]! };
  }
  return { kind: 'unknown' };
}

/** A parsed resource id (`/subscriptions/.../resourceGroups/.../providers/ns/t1/n1[/t2/n2...]`). */
export interface ResourceIdParts {
  sub: string;
  rg: string;
  ns: string;
  types: string[];
  names: string[];
}

export function parseResourceId(id: string): ResourceIdParts | undefined {
  const p = parseArmPath(id);
  if (p.kind !== 'resource' || p.segments.length % 2 !== 0) return undefined;
  const types: string[] = [];
  const names: string[] = [];
  for (let i = 0; i < p.segments.length; i += 2) {
    types.push(p.segments[i]!);
    names.push(p.segments[i + 1]!);
  }
  return { sub: p.sub, rg: p.rg, ns: p.ns, types, names };
}

/** The ARM type of a resource id, e.g. `Microsoft.Compute/virtualMachines`, lower-cased for comparisons. */
export function resourceTypeOf(id: string): string | undefined {
  const p = parseResourceId(id);
  return p ? `${p.ns}/${p.types.join('/')}`.toLowerCase() : undefined;
}

export const idKey = (id: string): string => id.replace(/\/+$/, '').toLowerCase();

export function rgId(sub: string, rg: string): string {
  return `/subscriptions/${sub}/resourceGroups/${rg}`;
}

/** Whether the resource with id `id` is in subscription `sub` (ids and subscriptions are case-insensitive). */
export function inSubscription(id: string, sub: string): boolean {
  return id.toLowerCase().startsWith(`/subscriptions/${sub.toLowerCase()}/`);
}

/** Parent resource id of a child resource id (drops the last type/name pair). */
export function parentId(id: string): string | undefined {
  const parts = id.split('/');
  if (parts.length < 11) return undefined;
  return parts.slice(0, -2).join('/');
}

export const lastSegment = (id: string): string => id.split('/').filter(Boolean).pop() ?? '';
