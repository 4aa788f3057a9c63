/**
 * What a NetworkMapping's target subnets carry besides their address prefix (issue 18, item 4): the network
 * security group and the route table of each source subnet. When the mapping creates the target network
 * (`<source>-asr`), it and the test network it creates (`<source>-asr-test`) get, per subnet, a mirror of the
 * source subnet's group (`<source group>-subnet-asr`, rules copied, application security groups mapped through
 * spec.applicationSecurityGroupMappings) and of its route table (`<source table>-asr`, routes copied), both in
 * the target resource group, or the existing group / table spec.subnetMappings[] names for that subnet. With an
 * adopted target network nothing is associated (nor with an adopted test network). The mirrors are kept
 * current as the source changes (each pass compares).
 *
 *   plan       reads the source groups and tables and decides, before anything is created; or refuses
 *              (a named group/table absent or in another region, a rule naming an unmapped or unusable
 *              application security group, a source group/table that cannot be read);
 *   converge   one mirror per source group or table (roles SubnetNetworkSecurityGroup/<name>, RouteTable/<name>);
 *   remove     after the networks are gone (Azure refuses to delete a group or table a subnet uses).
 */
import type { NetworkMapping, SubnetMapping } from '../api/types.ts';
import type { AzureClients } from '../azure/clients.ts';
import { parseArmId } from '../azure/arm-id.ts';
import { convergeResource, removeResource, type ExternalResource } from '../azure/external-resource.ts';
import type { ResourceLedger } from '../azure/resource-ledger.ts';
import { applicationSecurityGroupProblem, getNetworkSecurityGroup, groupsNamed, mirrorableRules, networkSecurityGroupResource } from '../azure/resources/network-security-group.ts';
import { getRouteTable, mirroredRoutes, routeTableResource } from '../azure/resources/route-table.ts';
import { done, type Step } from '../runtime/step.ts';

export const SUBNET_NSG_ROLE = 'SubnetNetworkSecurityGroup/';
export const ROUTE_TABLE_ROLE = 'RouteTable/';

/** The group and table a target subnet is associated with (ARM ids). */
export interface SubnetSecurity {
  networkSecurityGroupId?: string;
  routeTableId?: string;
}

export interface SubnetSecurityPlan {
  /** Per source subnet name. */
  bySubnet: Map<string, SubnetSecurity>;
  /** The mirrors to converge, one per source group or table. */
  mirrors: ExternalResource<unknown>[];
}

interface SourceSubnet {
  name: string;
  networkSecurityGroup?: { id?: string };
  routeTable?: { id?: string };
}

type Refusal = { reason: string; message: string };

const sameLocation = (a: string | undefined, b: string) => (a ?? '').replace(/\s/g, '').toLowerCase() === b.replace(/\s/g, '').toLowerCase();

/** Decides each target subnet's group and table (reading the source ones), or why it cannot. */
export async function planSubnetSecurity(az: AzureClients, mapping: NetworkMapping, subnets: readonly SourceSubnet[]): Promise<SubnetSecurityPlan | Refusal> {
  const plan: SubnetSecurityPlan = { bySubnet: new Map(), mirrors: [] };
  const spec = mapping.spec;
  // An adopted target network is the user's (so is its test network then): a reverse mapping after re-protect,
  // which adopts the original network, must not mirror the mirrors back (nor need their groups mapped back).
  if (spec.targetVirtualNetworkId) return plan;
  const mirrored = new Map<string, string>(); // source id (lower case) -> mirror id
  const owner = `${mapping.metadata.namespace}/${mapping.metadata.name}`;
  for (const subnet of subnets) {
    const named = spec.subnetMappings?.find((m) => m.source === subnet.name);
    const group = await groupFor(az, mapping, subnet, named, owner, mirrored, plan);
    if (typeof group === 'object') return group;
    const table = await tableFor(az, mapping, subnet, named, owner, mirrored, plan);
    if (typeof table === 'object') return table;
    plan.bySubnet.set(subnet.name, { ...(group ? { networkSecurityGroupId: group } : {}), ...(table ? { routeTableId: table } : {}) });
  }
  return plan;
}

/** The group of one target subnet: the one named (checked), the mirror of the source's, or none. */
async function groupFor(az: AzureClients, mapping: NetworkMapping, subnet: SourceSubnet, named: SubnetMapping | undefined, owner: string, mirrored: Map<string, string>, plan: SubnetSecurityPlan): Promise<string | undefined | Refusal> {
  const { targetLocation, targetResourceGroup } = mapping.spec;
  if (named?.targetNetworkSecurityGroupId) {
    const group = await getNetworkSecurityGroup(az, named.targetNetworkSecurityGroupId);
    const why = !group ? 'does not exist' : !sameLocation(group.location, targetLocation) ? `is in ${group.location}, not in the target region ${targetLocation}` : undefined;
    if (why) return { reason: 'NetworkSecurityGroupNotUsable', message: `network security group ${named.targetNetworkSecurityGroupId} named for subnet ${subnet.name} ${why}` };
    return named.targetNetworkSecurityGroupId;
  }
  const sourceId = subnet.networkSecurityGroup?.id;
  if (!sourceId) return undefined;
  const known = mirrored.get(sourceId.toLowerCase());
  if (known) return known;
  const group = await getNetworkSecurityGroup(az, sourceId);
  if (!group) return { reason: 'NetworkSecurityGroupNotMirrorable', message: `network security group ${sourceId} of source subnet ${subnet.name} does not exist` };
  const mappings = mapping.spec.applicationSecurityGroupMappings;
  const rules = mirrorableRules(group, (id) => mappings?.find((m) => m.sourceApplicationSecurityGroupId.toLowerCase() === id.toLowerCase())?.targetApplicationSecurityGroupId, 'spec.applicationSecurityGroupMappings');
  if ('refusal' in rules) return { reason: rules.reason, message: `${rules.refusal}; map it, or name an existing group for subnet ${subnet.name} in spec.subnetMappings[].targetNetworkSecurityGroupId` };
  for (const target of groupsNamed(rules.rules)) {
    const why = await applicationSecurityGroupProblem(az, target, targetLocation);
    if (why) return { reason: 'ApplicationSecurityGroupNotUsable', message: `target application security group ${target} (for network security group ${group.name} of subnet ${subnet.name}) ${why}` };
  }
  const name = `${parseArmId(sourceId).name}-subnet-asr`;
  const resource = networkSecurityGroupResource(az, `${SUBNET_NSG_ROLE}${name}`, { resourceGroup: targetResourceGroup, name, location: targetLocation, owner, rules: rules.rules });
  plan.mirrors.push(resource);
  mirrored.set(sourceId.toLowerCase(), resource.id);
  return resource.id;
}

/** The route table of one target subnet: the one named (checked), the mirror of the source's, or none. */
async function tableFor(az: AzureClients, mapping: NetworkMapping, subnet: SourceSubnet, named: SubnetMapping | undefined, owner: string, mirrored: Map<string, string>, plan: SubnetSecurityPlan): Promise<string | undefined | Refusal> {
  const { targetLocation, targetResourceGroup } = mapping.spec;
  if (named?.targetRouteTableId) {
    const table = await getRouteTable(az, named.targetRouteTableId);
    const why = !table ? 'does not exist' : !sameLocation(table.location, targetLocation) ? `is in ${table.location}, not in the target region ${targetLocation}` : undefined;
    if (why) return { reason: 'RouteTableNotUsable', message: `route table ${named.targetRouteTableId} named for subnet ${subnet.name} ${why}` };
    return named.targetRouteTableId;
  }
  const sourceId = subnet.routeTable?.id;
  if (!sourceId) return undefined;
  const known = mirrored.get(sourceId.toLowerCase());
  if (known) return known;
  const table = await getRouteTable(az, sourceId);
  if (!table) return { reason: 'RouteTableNotMirrorable', message: `route table ${sourceId} of source subnet ${subnet.name} does not exist` };
  const name = `${parseArmId(sourceId).name}-asr`;
  const resource = routeTableResource(az, `${ROUTE_TABLE_ROLE}${name}`, {
    resourceGroup: targetResourceGroup,
    name,
    location: targetLocation,
    owner,
    routes: mirroredRoutes(table),
    disableBgpRoutePropagation: Boolean(table.disableBgpRoutePropagation),
  });
  plan.mirrors.push(resource);
  mirrored.set(sourceId.toLowerCase(), resource.id);
  return resource.id;
}

/** Converges every mirror of the plan; the first one not yet done is the step's outcome. */
export async function convergeSubnetSecurity(plan: SubnetSecurityPlan, ledger: ResourceLedger, persist: () => Promise<void>): Promise<Step<unknown>> {
  for (const mirror of plan.mirrors) {
    const step = await convergeResource(mirror, ledger, persist);
    if (step.state !== 'done') return step;
  }
  return done();
}

/** Deletes the mirrors the operator created (after the networks that used them); true once all are gone. */
export async function removeSubnetSecurity(az: AzureClients, mapping: NetworkMapping, ledger: ResourceLedger): Promise<boolean> {
  const { targetResourceGroup: resourceGroup, targetLocation: location } = mapping.spec;
  const owner = `${mapping.metadata.namespace}/${mapping.metadata.name}`;
  let gone = true;
  for (const record of ledger.list()) {
    const group = record.role.startsWith(SUBNET_NSG_ROLE);
    if (!group && !record.role.startsWith(ROUTE_TABLE_ROLE)) continue;
    const name = parseArmId(record.id).name;
    const resource = group
      ? networkSecurityGroupResource(az, record.role, { resourceGroup, name, location, owner, rules: [] })
      : routeTableResource(az, record.role, { resourceGroup, name, location, owner, routes: [], disableBgpRoutePropagation: false });
    gone = (await removeResource<unknown>(resource, record)) && gone;
  }
  return gone;
}
