/**
 * Azure scopes of a tenant (issue #16, namespaced tenancy). A Namespace's annotation
 * `siterecovery.io/azure-scopes` lists, comma-separated, the subscriptions and resource groups its objects
 * may reference or have the operator create things in:
 *
 *   siterecovery.io/azure-scopes: /subscriptions/<s>/resourceGroups/app-prod,/subscriptions/<s>/resourceGroups/app-prod-asr
 *
 * An ARM id falls inside `/subscriptions/S` when its subscription is S, and inside
 * `/subscriptions/S/resourceGroups/R` when its subscription is S and its resource group R (ARM ids are
 * case-insensitive). Nothing else is parsed: an id that does not start with `/subscriptions/<s>/` (or with
 * `/resourceGroups/<r>` for a group scope) is outside every scope, so a malformed or crafted id can never
 * slip through. A missing or malformed annotation allows nothing.
 */

export const AZURE_SCOPES_ANNOTATION = 'siterecovery.io/azure-scopes';
export const SCOPE_NOT_ALLOWED = 'ScopeNotAllowed';

export interface AzureScope {
  subscriptionId: string;
  /** Absent: the whole subscription. */
  resourceGroup?: string;
}

/** The scopes a namespace allows, or why it allows none. */
export type TenantScopes = { scopes: AzureScope[] } | { none: string };

const SCOPE = /^\/subscriptions\/([^/]+)(?:\/resourceGroups\/([^/]+))?\/?$/i;
const ID = /^\/subscriptions\/([^/]+)(?:\/resourceGroups\/([^/]+)(?:\/|$))?/i;
/** Segments ARM never accepts as a name; refusing them keeps `..` and friends out of scopes and ids. */
const DOT_SEGMENT = /^\.{1,2}$/;

/** Parses the annotation of namespace `namespace` (undefined: the annotation is absent). */
export function parseScopes(namespace: string, annotation: string | undefined): TenantScopes {
  if (annotation === undefined || annotation.trim() === '') {
    return { none: `namespace ${namespace} has no ${AZURE_SCOPES_ANNOTATION} annotation: in namespaced tenancy its objects may use no Azure scope until a cluster admin sets one` };
  }
  const scopes: AzureScope[] = [];
  for (const entry of annotation.split(',').map((e) => e.trim()).filter(Boolean)) {
    const match = SCOPE.exec(entry);
    if (!match || DOT_SEGMENT.test(match[1] as string) || (match[2] !== undefined && DOT_SEGMENT.test(match[2]))) {
      return { none: `the ${AZURE_SCOPES_ANNOTATION} annotation of namespace ${namespace} has "${entry}", which is neither /subscriptions/<id> nor /subscriptions/<id>/resourceGroups/<name>: it allows nothing until fixed` };
    }
    scopes.push({ subscriptionId: match[1] as string, ...(match[2] !== undefined ? { resourceGroup: match[2] } : {}) });
  }
  return { scopes };
}

/** Whether ARM id `id` (a resource, a resource group or a subscription) is inside `scope`. */
export function isInScope(id: string, scope: AzureScope): boolean {
  const match = ID.exec(id);
  if (!match) return false;
  const [, subscriptionId, resourceGroup] = match as unknown as [string, string, string | undefined];
  if (DOT_SEGMENT.test(subscriptionId) || (resourceGroup !== undefined && DOT_SEGMENT.test(resourceGroup))) return false;
  if (subscriptionId.toLowerCase() !== scope.subscriptionId.toLowerCase()) return false;
  if (scope.resourceGroup === undefined) return true;
  return resourceGroup !== undefined && resourceGroup.toLowerCase() === scope.resourceGroup.toLowerCase();
}

/**
 * Why the objects of `namespace` may not use these ids, if they may not: the first id (by field) outside
 * every scope the namespace allows. `ids` maps a field path (as a person finds it in the object) to an ARM id.
 */
export function scopeRefusal(namespace: string, allowed: TenantScopes, ids: Record<string, string | undefined>): { reason: string; message: string } | undefined {
  const named = Object.entries(ids).filter((e): e is [string, string] => e[1] !== undefined);
  if (named.length === 0) return undefined;
  if ('none' in allowed) return { reason: SCOPE_NOT_ALLOWED, message: allowed.none };
  for (const [field, id] of named) {
    if (!allowed.scopes.some((scope) => isInScope(id, scope))) {
      return { reason: SCOPE_NOT_ALLOWED, message: `${field} (${id}) is outside the Azure scopes of namespace ${namespace} (${AZURE_SCOPES_ANNOTATION}: ${allowed.scopes.map(formatScope).join(', ')})` };
    }
  }
  return undefined;
}

function formatScope(scope: AzureScope): string {
  return `/subscriptions/${scope.subscriptionId}${scope.resourceGroup !== undefined ? `/resourceGroups/${scope.resourceGroup}` : ''}`;
}

/**
 * Where the operator learns a namespace's scopes. In cluster tenancy there is no such source: every
 * object may use the whole subscription (single-tenant).
 */
export interface ScopeSource {
  scopesOf(namespace: string): TenantScopes;
}
