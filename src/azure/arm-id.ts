/** Azure Resource Manager ids: parse, build, compare (ARM ids are case-insensitive). */
import { createHash } from 'node:crypto';

export interface ParsedArmId {
  subscriptionId: string;
  resourceGroup: string;
  /** e.g. Microsoft.Compute */
  provider: string;
  /** e.g. virtualMachines, or virtualNetworks/subnets for a child */
  type: string;
  /** the last name, e.g. the subnet name of a subnet id */
  name: string;
  /** every name along the path, parent first */
  names: string[];
}

const ID = /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/([^/]+)\/(.+)$/i;

export function parseArmId(id: string): ParsedArmId {
  const match = ID.exec(id);
  if (!match) throw new Error(`not an ARM resource id: ${id}`);
  const [, subscriptionId, resourceGroup, provider, rest] = match as unknown as [string, string, string, string, string];
  const parts = rest.split('/');
  if (parts.length % 2 !== 0) throw new Error(`not an ARM resource id (odd path): ${id}`);
  const types: string[] = [];
  const names: string[] = [];
  for (let i = 0; i < parts.length; i += 2) {
    types.push(parts[i] as string);
    names.push(parts[i + 1] as string);
  }
  return { subscriptionId, resourceGroup, provider, type: types.join('/'), name: names[names.length - 1] as string, names };
}

export function resourceGroupId(subscriptionId: string, resourceGroup: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}`;
}

export function resourceId(subscriptionId: string, resourceGroup: string, provider: string, ...typeNamePairs: string[]): string {
  return `${resourceGroupId(subscriptionId, resourceGroup)}/providers/${provider}/${typeNamePairs.join('/')}`;
}

export function sameArmId(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}

/** A short stable hash of the parts, lowercase hex. */
export function shortHash(length: number, ...parts: string[]): string {
  return createHash('sha256').update(parts.map((p) => p.toLowerCase()).join('\n')).digest('hex').slice(0, length);
}

/** A storage account name (3-24 lowercase letters and digits, globally unique) derived from the parts. */
export function storageAccountName(prefix: string, ...parts: string[]): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9]/g, '').slice(0, 10);
  return `${clean}${shortHash(24 - clean.length, ...parts)}`;
}

/** The resource group name of a resource group id or of any resource id. */
export function resourceGroupNameOf(id: string): string {
  const match = /\/resourceGroups\/([^/]+)/i.exec(id);
  if (!match) throw new Error(`no resource group in ARM id: ${id}`);
  return match[1] as string;
}

/** An Azure subscription id: a GUID (never a path segment such as `..` that would address something else). */
const SUBSCRIPTION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The subscription an ARM id names, if it names one. */
export function subscriptionOfId(id: string | undefined): string | undefined {
  return id === undefined ? undefined : /^\/subscriptions\/([^/]+)\//i.exec(id)?.[1];
}

/**
 * Where a replication's source side (a ReplicatedVM's source VM, a NetworkMapping's source network) may be:
 * in the operator's subscription, or in another one only when the replication leads back into the operator's
 * (`targetSubscriptionId`, the subscription it replicates into): what re-protect writes for a VM failed over
 * into another subscription. Every replication thus has one side in the subscription the operator manages,
 * where its replica storage lives. `into` names the field that says where the replication leads.
 */
export function sourceSubscriptionRefusal(
  operatorSubscriptionId: string,
  field: string,
  id: string,
  targetSubscriptionId: string | undefined,
  into: string,
): { reason: string; message: string } | undefined {
  const named = subscriptionOfId(id);
  if (named === undefined || named.toLowerCase() === operatorSubscriptionId.toLowerCase()) return undefined;
  if (!SUBSCRIPTION_ID.test(named)) return { reason: 'SubscriptionNotManaged', message: `${field} names subscription ${named}, which is not a subscription id (a GUID)` };
  if (targetSubscriptionId?.toLowerCase() === operatorSubscriptionId.toLowerCase()) return undefined;
  return {
    reason: 'SubscriptionNotManaged',
    message: `${field} names subscription ${named}; this operator manages subscription ${operatorSubscriptionId}: a source in another subscription is replicated only back into it (${into} in subscription ${operatorSubscriptionId}), as re-protect does`,
  };
}

/**
 * Why the operator refuses these ids, if it does: one names a subscription other than the one its ARM
 * clients manage. Those clients address their own subscription whatever an id says, so without this
 * check `/subscriptions/<other>/resourceGroups/rg/…/vnet` would silently be read, and acted on, as the
 * `rg/vnet` of the operator's subscription (a finding of the fuzz tests, issue #16). `expected` says which
 * subscription the ids must name (a ReplicatedVM's target-side ids: its target subscription).
 */
export function foreignSubscriptionRefusal(
  subscriptionId: string,
  ids: Record<string, string | undefined>,
  expected = `this operator manages subscription ${subscriptionId} only`,
): { reason: string; message: string } | undefined {
  for (const [field, id] of Object.entries(ids)) {
    const named = id === undefined ? undefined : /^\/subscriptions\/([^/]+)\//i.exec(id)?.[1];
    if (named !== undefined && named.toLowerCase() !== subscriptionId.toLowerCase()) {
      return { reason: 'SubscriptionNotManaged', message: `${field} names subscription ${named}; ${expected}` };
    }
  }
  return undefined;
}
