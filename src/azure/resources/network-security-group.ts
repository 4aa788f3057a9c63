/**
 * Network security groups: the mirror of a source NIC's group that the operator keeps in the target
 * resource group (ASR's default: the failed-over NIC gets the same rules), as an ExternalResource —
 * observe / create / update / delete through ARM, tagged as ours. The mirror holds the source group's own
 * rules (Azure adds its six default rules to every group); when the source rules change, the next drift
 * check sees the mirror out of date and updates it, so a failover never needs to read the source region.
 *
 * A rule naming application security groups cannot be mirrored (those groups live in the source region,
 * and a rule without them would allow or deny other traffic): `mirrorableRules` refuses it with a reason.
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

export type MirroredRule = Pick<SecurityRule, 'name' | (typeof RULE_FIELDS)[number]>;

export async function getNetworkSecurityGroup(az: AzureClients, nsgId: string): Promise<NetworkSecurityGroup | undefined> {
  const id = parseArmId(nsgId);
  return getOrUndefined(() => az.network.networkSecurityGroups.get(id.resourceGroup, id.name));
}

/** The rules of `group` as a mirror carries them, or why they cannot be mirrored. */
export function mirrorableRules(group: NetworkSecurityGroup): { rules: MirroredRule[] } | { refusal: string } {
  const rules: MirroredRule[] = [];
  for (const rule of group.securityRules ?? []) {
    if (rule.sourceApplicationSecurityGroups?.length || rule.destinationApplicationSecurityGroups?.length) {
      return { refusal: `rule ${rule.name} of network security group ${group.name} names application security groups, which live in the source region` };
    }
    rules.push(copyRule(rule));
  }
  return { rules: rules.sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '')) };
}

function copyRule(rule: SecurityRule): MirroredRule {
  const out: Record<string, unknown> = { name: rule.name };
  for (const field of RULE_FIELDS) {
    const value = rule[field];
    if (value !== undefined && value !== null && !(Array.isArray(value) && value.length === 0)) out[field] = value;
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
