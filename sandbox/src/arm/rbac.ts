// Azure RBAC in the ARM emulator (opt-in, `sandbox up --azure-rbac`): each request maps to its action string,
// the caller (the bearer token's `oid`) must hold a role assignment at or above the request's scope whose role
// definition allows that action, else ARM's 403 AuthorizationFailed. Whatever the mode, the actions each
// principal used are recorded (audit), which is how deploy/azure-roles/*.json were derived.
//
// Action strings, https://learn.microsoft.com/en-us/azure/role-based-access-control/role-definitions#actions-format:
// `{Company}.{ProviderName}/{resourceType}/{action}` where action is `read` (GET), `write` (PUT/PATCH),
// `delete` (DELETE) or `action` (POST, e.g. `Microsoft.Compute/virtualMachines/powerOff/action`); child types
// chain their parents' types (`Microsoft.Storage/storageAccounts/blobServices/containers/write`). A POST names
// its action in the URL's last segment (https://github.com/Azure/azure-resource-manager-rpc/blob/master/v1.0/proxy-api-reference.md:
// "the action name must be included in the URL"), as does a GET of a resource's sub-path (`.../instanceView/read`).
// Async operation polls are `{ns}/locations/{operations|operationResults|...}/read` (e.g.
// `Microsoft.Compute/locations/operations/read`, which Azure lists as "Gets the status of an asynchronous operation").
//
// Matching, same page ("Actions" / "NotActions"): `*` matches any characters, case-insensitively; a role allows
// what its Actions match minus what its NotActions match (NotActions are not a deny: another assignment may
// grant the action); an assignment applies to its scope and everything beneath it.
//
// Denied answer (403, code AuthorizationFailed), as ARM words it, for example in
// https://github.com/microsoft/foundry-dev-tools/issues/555: "The client '<appid>' with object id '<oid>' does
// not have authorization to perform action '<action>' over scope '<scope>' or the scope is invalid. If access
// was recently granted, please refresh your credentials."
import { EventEmitter } from 'node:events';
import type { ParsedPath } from './paths.ts';
import { ArmError } from './errors.ts';

/** Azure's custom role definition format (as `az role definition create --role-definition @file` takes it). */
export interface RoleDefinition {
  Name: string;
  Description?: string;
  Actions: string[];
  NotActions?: string[];
  DataActions?: string[];
  NotDataActions?: string[];
  AssignableScopes?: string[];
}

export interface RoleAssignment {
  /** The principal's object id (the token's `oid`). */
  principalId: string;
  role: RoleDefinition;
  /** `/subscriptions/{s}` or `/subscriptions/{s}/resourceGroups/{rg}` (or any resource id). */
  scope: string;
}

export interface RbacConfig {
  enabled: boolean;
  assignments: RoleAssignment[];
}

/** What a request asks for: its action string and the scope it is checked at. */
export interface RequestAction {
  action: string;
  scope: string;
}

const VERB: Record<string, string> = { GET: 'read', HEAD: 'read', PUT: 'write', PATCH: 'write', DELETE: 'delete', POST: 'action' };

/** The action and scope of an ARM request, derived from the provider, the resource type chain and the method. */
export function requestAction(method: string, p: ParsedPath): RequestAction | undefined {
  const verb = VERB[method.toUpperCase()];
  if (!verb) return undefined;
  const sub = 'sub' in p ? `/subscriptions/${p.sub}` : '';
  switch (p.kind) {
    case 'resourceGroups':
      return { action: `Microsoft.Resources/subscriptions/resourceGroups/${verb}`, scope: sub };
    case 'resourceGroup':
      return { action: `Microsoft.Resources/subscriptions/resourceGroups/${verb}`, scope: `${sub}/resourceGroups/${p.rg}` };
    case 'genericResources':
      return p.rg === undefined
        ? { action: `Microsoft.Resources/subscriptions/resources/${verb}`, scope: sub }
        : { action: `Microsoft.Resources/subscriptions/resourceGroups/resources/${verb}`, scope: `${sub}/resourceGroups/${p.rg}` };
    case 'rgOperationResult':
      return { action: `Microsoft.Resources/subscriptions/operationresults/${verb}`, scope: sub };
    case 'operation':
      return { action: `${p.ns}/locations/${p.collection}/${verb}`, scope: sub };
    case 'locationCollection': // a per-region list: Usage - List is Microsoft.Compute/locations/usages/read
      return { action: `${p.ns}/locations/${p.collection}/${verb}`, scope: sub };
    case 'subscriptionProvider':
      return { action: `${p.ns}/${p.segment}/${verb}`, scope: sub };
    case 'resource':
      return resourceAction(verb, sub, p);
    default:
      return undefined;
  }
}

function resourceAction(verb: string, sub: string, p: Extract<ParsedPath, { kind: 'resource' }>): RequestAction {
  const types = p.segments.filter((_, i) => i % 2 === 0);
  const rgScope = `${sub}/resourceGroups/${p.rg}`;
  const full = `${rgScope}/providers/${p.ns}/${p.segments.join('/')}`;
  if (p.segments.length % 2 === 0) return { action: `${p.ns}/${types.join('/')}/${verb}`, scope: full };
  // A list of (child) resources, a POST action or a GET of a sub-path: checked at the parent resource.
  const parent = p.segments.length > 1 ? `${rgScope}/providers/${p.ns}/${p.segments.slice(0, -1).join('/')}` : rgScope;
  return { action: `${p.ns}/${types.join('/')}/${verb}`, scope: parent };
}

const patternCache = new Map<string, RegExp>();

/** Whether an Actions/NotActions entry (with `*` wildcards) matches an action, case-insensitively. */
export function actionMatches(pattern: string, action: string): boolean {
  let re = patternCache.get(pattern);
  if (!re) {
    re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`, 'i');
    patternCache.set(pattern, re);
  }
  return re.test(action);
}

/** Actions minus NotActions of one role. */
export function roleAllows(role: RoleDefinition, action: string): boolean {
  return role.Actions.some((a) => actionMatches(a, action)) && !(role.NotActions ?? []).some((a) => actionMatches(a, action));
}

/**
 * DataActions minus NotDataActions of one role: what a data operation (blob read, write, delete) needs. Kept
 * apart from Actions as in Azure: `"Actions": ["*"]` (Owner) grants no data access
 * (https://learn.microsoft.com/en-us/azure/role-based-access-control/role-definitions#dataactions).
 */
export function roleAllowsData(role: RoleDefinition, dataAction: string): boolean {
  return (role.DataActions ?? []).some((a) => actionMatches(a, dataAction)) && !(role.NotDataActions ?? []).some((a) => actionMatches(a, dataAction));
}

/** Whether `scope` is `assigned` or beneath it (case-insensitive, on segment boundaries). */
export function scopeCovers(assigned: string, scope: string): boolean {
  const a = assigned.replace(/\/+$/, '').toLowerCase();
  const s = scope.replace(/\/+$/, '').toLowerCase();
  return a === '' || s === a || s.startsWith(`${a}/`);
}

export interface Principal {
  objectId: string;
  clientId: string;
}

/** The caller a bearer token names: its `oid` and `appid` claims (the sandbox's tokens are unsigned JWTs). */
export function principalOf(authorization: string | undefined): Principal {
  const token = /^Bearer\s+(\S+)/i.exec(authorization ?? '')?.[1] ?? '';
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    const objectId = typeof claims.oid === 'string' ? claims.oid : 'unknown';
    return { objectId, clientId: typeof claims.appid === 'string' ? claims.appid : objectId };
  } catch {
    return { objectId: 'unknown', clientId: 'unknown' };
  }
}

export function authorizationFailed(principal: Principal, a: RequestAction): ArmError {
  return new ArmError(
    403,
    'AuthorizationFailed',
    `The client '${principal.clientId}' with object id '${principal.objectId}' does not have authorization to perform action '${a.action}' over scope '${a.scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
  );
}

/** Role assignments, their enforcement (when enabled) and the audit of the actions each principal used. */
export interface Denial {
  principalId: string;
  action: string;
  scope: string;
  /** A data action (checked against DataActions, by the storage front) rather than an ARM action. */
  dataAction?: true;
}

export class ArmRbac {
  enabled: boolean;
  /** Emits `denied` (a Denial) for every request refused. */
  readonly events = new EventEmitter<{ denied: [Denial] }>();
  assignments: RoleAssignment[];
  /** principal object id → action (lower-cased) → the action as first seen; in order of first use. */
  private used = new Map<string, Map<string, string>>();
  private deniedLog: Denial[] = [];

  constructor(config: Partial<RbacConfig> = {}) {
    this.enabled = config.enabled ?? false;
    this.assignments = config.assignments ?? [];
  }

  configure(config: Partial<RbacConfig>): RbacConfig {
    if (config.enabled !== undefined) this.enabled = config.enabled;
    if (config.assignments !== undefined) this.assignments = config.assignments;
    return { enabled: this.enabled, assignments: this.assignments };
  }

  allows(principalId: string, a: RequestAction, data = false): boolean {
    const grants = data ? roleAllowsData : roleAllows;
    return this.assignments.some((x) => x.principalId.toLowerCase() === principalId.toLowerCase() && scopeCovers(x.scope, a.scope) && grants(x.role, a.action));
  }

  /** Records the action for the audit; when enforcing and not allowed, the 403 to answer. */
  check(principal: Principal, a: RequestAction): ArmError | undefined {
    return this.refused(principal, a, false) ? authorizationFailed(principal, a) : undefined;
  }

  /**
   * A data action (the storage front's blob operations): recorded for the audit like an action; true when
   * enforcing and no assignment's DataActions allow it at the scope (the front answers its own 403).
   */
  refusesData(principal: Principal, a: RequestAction): boolean {
    return this.refused(principal, a, true);
  }

  private refused(principal: Principal, a: RequestAction, data: boolean): boolean {
    if (this.enabled && !this.allows(principal.objectId, a, data)) {
      const denial: Denial = { principalId: principal.objectId, action: a.action, scope: a.scope, ...(data ? { dataAction: true as const } : {}) };
      this.deniedLog.push(denial);
      this.events.emit('denied', denial);
      return true;
    }
    let actions = this.used.get(principal.objectId);
    if (!actions) this.used.set(principal.objectId, (actions = new Map()));
    if (!actions.has(a.action.toLowerCase())) actions.set(a.action.toLowerCase(), a.action);
    return false;
  }

  /** The actions each principal was allowed, in order of first use. */
  audit(): Record<string, string[]> {
    return Object.fromEntries([...this.used].map(([p, m]) => [p, [...m.values()]]));
  }

  denied(): Denial[] {
    return [...this.deniedLog];
  }

  resetAudit(): void {
    this.used.clear();
    this.deniedLog = [];
  }
}
