/**
 * Network security groups: the mirror of a source NIC's group that the operator keeps in the target
 * resource group (ASR's default: the failed-over NIC gets the same rules), as an ExternalResource —
 * observe / create / update / delete through ARM, tagged as ours. The mirror holds the source group's own
 * rules (Azure adds its six default rules to every group); when the source rules change, the next drift
 * check sees the mirror out of date and updates it, so a failover never needs to read the source region.
 *
 * A rule naming application security groups is mirrored naming the target groups a mapping gives for them
 * (a ReplicatedVM's or a NetworkMapping's applicationSecurityGroupMappings): those groups live in the source
 * region, and a rule without them would allow or deny other traffic, so a group with no mapping is refused
 * (`mirrorableRules`, reason ApplicationSecurityGroupNotMapped). The same mirror serves NIC groups (a
 * ReplicatedVM's) and subnet groups (a NetworkMapping's).
 */
import type { NetworkSecurityGroup, SecurityRule } from '@azure/arm-network';
import type { AzureClients } from '../clients.ts';
import { parseArmId, resourceId } from '../arm-id.ts';
import { hasManagedTag, managedTags, type ExternalResource, type Observation } from '../external-resource.ts';
import { deleteIgnoringNotFound, getOrUndefined, provisioningReady, startOperation } from './observe.ts';

/** The fields of a rule that are copied (and compared): what the rule does, not its ids or state. */
const RULE_FIELDS = [
  'description',
  'protocol',
  'sourcePortRange',
  'sourcePortRanges',
  'destinationPortRange',
  'destinationPortRanges',
  'sourceAddressPrefix',
  'sourceAddressPrefixes',
  'destinationAddressPrefix',
  'destinationAddressPrefixes',
  'access',
  'priority',
  'direction',
] as const;

/** The application security group fields of a rule: mapped to the target groups, compared by id. */
const GROUP_FIELDS = ['sourceApplicationSecurityGroups', 'destinationApplicationSecurityGroups'] as const;

export type MirroredRule = Pick<SecurityRule, 'name' | (typeof RULE_FIELDS)[number] | (typeof GROUP_FIELDS)[number]>;

/** The target application security group of a source one (undefined: not mapped). */
export type GroupMapper = (sourceGroupId: string) => string | undefined;

export const APPLICATION_SECURITY_GROUP_NOT_MAPPED = 'ApplicationSecurityGroupNotMapped';

export async function getNetworkSecurityGroup(az: AzureClients, nsgId: string): Promise<NetworkSecurityGroup | undefined> {
  const id = parseArmId(nsgId);
  return getOrUndefined(() => az.network.networkSecurityGroups.get(id.resourceGroup, id.name));
}

/**
 * The rules of `group` as a mirror carries them (application security groups mapped through `targetGroupOf`,
 * named `mappings` in a refusal), or why they cannot be mirrored.
 */
export function mirrorableRules(group: NetworkSecurityGroup, targetGroupOf: GroupMapper, mappings: string): { rules: MirroredRule[] } | { reason: string; refusal: string } {
  const rules: MirroredRule[] = [];
  for (const rule of group.securityRules ?? []) {
    const copy = copyRule(rule);
    for (const field of GROUP_FIELDS) {
      const mapped: { id: string }[] = [];
      for (const source of copy[field] ?? []) {
        const target = targetGroupOf(source.id as string);
        if (!target) {
          const refusal = `rule ${rule.name} of network security group ${group.name} names application security group ${source.id}, which ${mappings} does not map to a target group`;
          return { reason: APPLICATION_SECURITY_GROUP_NOT_MAPPED, refusal };
        }
        mapped.push({ id: target });
      }
      if (mapped.length) copy[field] = mapped;
    }
    rules.push(copy);
  }
  return { rules: rules.sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '')) };
}

/** The target application security groups the rules name (each once), to check before a mirror is made. */
export function groupsNamed(rules: readonly MirroredRule[]): string[] {
  const ids = rules.flatMap((r) => GROUP_FIELDS.flatMap((f) => (r[f] ?? []).map((g) => g.id as string)));
  return [...new Map(ids.map((id) => [id.toLowerCase(), id])).values()];
}

function copyRule(rule: SecurityRule): MirroredRule {
  const out: Record<string, unknown> = { name: rule.name };
  for (const field of RULE_FIELDS) {
    const value = rule[field];
    if (value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0)) out[field] = value;
  }
  for (const field of GROUP_FIELDS) {
    const groups = rule[field];
    if (groups?.length) out[field] = groups.map((g) => ({ id: g.id }));
  }
  return out as MirroredRule;
}

export interface NsgMirrorSpec {
  resourceGroup: string;
  name: string;
  location: string;
  owner: string;
  rules: MirroredRule[];
}

export function networkSecurityGroupResource(az: AzureClients, role: string, spec: NsgMirrorSpec): ExternalResource<NetworkSecurityGroup> {
  const put = () =>
    startOperation(az.network.networkSecurityGroups.createOrUpdate(spec.resourceGroup, spec.name, { location: spec.location, tags: managedTags(spec.owner), securityRules: spec.rules }));
  return {
    role,
    id: resourceId(az.subscriptionId, spec.resourceGroup, 'Microsoft.Network', 'networkSecurityGroups', spec.name),
    manage: true,
    async observe(): Promise<Observation<NetworkSecurityGroup>> {
      const group = await getOrUndefined(() => az.network.networkSecurityGroups.get(spec.resourceGroup, spec.name));
      if (!group) return { exists: false };
      const current = JSON.stringify((group.securityRules ?? []).map(copyRule).sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '')));
      return { exists: true, ...provisioningReady(group.provisioningState), upToDate: current === JSON.stringify(spec.rules), managedTag: hasManagedTag(group.tags), resource: group };
    },
    create: put,
    update: put,
    async delete() {
      await deleteIgnoringNotFound(() => startOperation(az.network.networkSecurityGroups.delete(spec.resourceGroup, spec.name)));
    },
  };
}

/** Whether a group is attached to any NIC or subnet (then it is not deleted: a failed-over NIC may use it). */
export function inUse(group: NetworkSecurityGroup): boolean {
  return Boolean(group.networkInterfaces?.length || group.subnets?.length);
}

/** What keeps target application security group `id` from serving in `location` (absent, another region), if anything. */
export async function applicationSecurityGroupProblem(az: AzureClients, groupId: string, location: string): Promise<string | undefined> {
  const id = parseArmId(groupId);
  const group = await getOrUndefined(() => az.network.applicationSecurityGroups.get(id.resourceGroup, id.name));
  const norm = (l: string | undefined) => (l ?? '').replace(/\s/g, '').toLowerCase();
  if (!group) return 'does not exist';
  return norm(group.location) === norm(location) ? undefined : `is in ${group.location}, not in the target region ${location}`;
}
