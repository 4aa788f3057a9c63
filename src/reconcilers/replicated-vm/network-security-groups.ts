/**
 * The network security groups a failed-over VM's NICs get (ASR's default): each source NIC's group is
 * mirrored into the target resource group as `<name>-asr`, its rules copied and kept current (a drift check
 * that finds the source rules changed updates the mirror), unless spec.networkInterfaces names an existing
 * group in the target region for that NIC. The mirrors are made while replication is enabled, in the target
 * region, so a failover needs nothing from the source region and only references them. A mirror updated
 * because the source rules changed is recorded as one DriftDetected event, old rules → new.
 *
 *   refusal        before anything is created: a named group that does not exist or is in another region,
 *                  a source group whose rules name an application security group that
 *                  spec.applicationSecurityGroupMappings does not map, or maps to a group absent from the target
 *                  region (the mirror's rules name the mapped ones);
 *   mirror step    one target resource per source group (role TargetNetworkSecurityGroup/<mirror name>);
 *   targetGroupOf  the group recorded for each NIC (status.sourceNetworkInterfaces[].targetNetworkSecurityGroupId).
 */
import type { NetworkSecurityGroup, SecurityRule } from '@azure/arm-network';
import type { ReplicatedVM } from '../../api/types.ts';
import { parseArmId, resourceId } from '../../azure/arm-id.ts';
import { convergeResource } from '../../azure/external-resource.ts';
import { applicationSecurityGroupProblem, getNetworkSecurityGroup, groupsNamed, inUse, mirrorableRules, networkSecurityGroupResource } from '../../azure/resources/network-security-group.ts';
import type { AzureClients } from '../../azure/clients.ts';
import type { SourceVm } from '../../azure/source-vm.ts';
import { done, type Step } from '../../runtime/step.ts';
import type { VmPass } from './pass.ts';
import { APPLICATION_SECURITY_GROUP_NOT_USABLE, targetApplicationSecurityGroup } from '../load-balancer-mapping.ts';

/** Ledger roles of the mirrors start with this (one role per mirror). */
export const NSG_MIRROR_ROLE = 'TargetNetworkSecurityGroup/';
export const NSG_NOT_USABLE = 'NetworkSecurityGroupNotUsable';

type SourceNic = SourceVm['networkInterfaces'][number];

const sameLocation = (a: string | undefined, b: string) => (a ?? '').replace(/\s/g, '').toLowerCase() === b.replace(/\s/g, '').toLowerCase();

function namedGroupOf(vm: ReplicatedVM, nicName: string): string | undefined {
  return vm.spec.networkInterfaces?.find((o) => o.sourceName === nicName)?.targetNetworkSecurityGroupId;
}

/** The NICs whose source group is mirrored (no group named for them), one entry per source group. */
function mirroredGroups(vm: ReplicatedVM, nics: readonly SourceNic[]): string[] {
  const ids = nics.filter((n) => n.networkSecurityGroupId && !namedGroupOf(vm, n.name)).map((n) => n.networkSecurityGroupId as string);
  return [...new Map(ids.map((id) => [id.toLowerCase(), id])).values()];
}

/** Each group is read once per pass (the refusal and the mirror step read the same ones). */
const groupsRead = new WeakMap<VmPass, Map<string, Promise<NetworkSecurityGroup | undefined>>>();
function readGroup(pass: VmPass, id: string): Promise<NetworkSecurityGroup | undefined> {
  const read = groupsRead.get(pass) ?? new Map<string, Promise<NetworkSecurityGroup | undefined>>();
  groupsRead.set(pass, read);
  const key = id.toLowerCase();
  if (!read.has(key)) read.set(key, getNetworkSecurityGroup(pass.deps.az.forResource(id), id));
  return read.get(key) as Promise<NetworkSecurityGroup | undefined>;
}

function mirrorName(sourceGroupId: string): string {
  return `${parseArmId(sourceGroupId).name}-asr`;
}

/** Why the NICs' groups cannot be carried over, if they cannot; read before anything is created. */
export async function networkSecurityGroupRefusal(pass: VmPass, source: SourceVm): Promise<{ reason: string; message: string } | undefined> {
  const { vm } = pass;
  for (const nic of source.networkInterfaces) {
    const named = namedGroupOf(vm, nic.name);
    if (!named) continue;
    const group = await readGroup(pass, named);
    if (!group) return { reason: NSG_NOT_USABLE, message: `network security group ${named} named for network interface ${nic.name} does not exist` };
    if (!sameLocation(group.location, vm.spec.targetLocation)) {
      return { reason: NSG_NOT_USABLE, message: `network security group ${named} named for network interface ${nic.name} is in ${group.location}, not in the target region ${vm.spec.targetLocation}` };
    }
  }
  for (const id of mirroredGroups(vm, source.networkInterfaces)) {
    const group = await readGroup(pass, id);
    const rules = group ? rulesOf(vm, group) : { reason: 'NetworkSecurityGroupNotMirrorable', refusal: `network security group ${id} of the source VM's network interfaces does not exist` };
    if ('refusal' in rules) return { reason: rules.reason, message: `${rules.refusal}; name an existing group in ${vm.spec.targetLocation} for the NIC in spec.networkInterfaces[].targetNetworkSecurityGroupId` };
    for (const target of groupsNamed(rules.rules)) {
      const why = await applicationSecurityGroupProblem(pass.deps.az, target, vm.spec.targetLocation);
      if (why) return { reason: APPLICATION_SECURITY_GROUP_NOT_USABLE, message: `target application security group ${target} (for a rule of network security group ${group?.name}) ${why}` };
    }
  }
  return undefined;
}

/** A source group's rules as its mirror carries them, application security groups mapped by the ReplicatedVM. */
function rulesOf(vm: ReplicatedVM, group: NetworkSecurityGroup) {
  return mirrorableRules(group, (id) => targetApplicationSecurityGroup(vm.spec.applicationSecurityGroupMappings, id), 'spec.applicationSecurityGroupMappings');
}

/** Converges the mirror of every source group (one per pass while one is being created or updated). */
export async function networkSecurityGroupMirrorStep(pass: VmPass, source: SourceVm, resourceGroup: string, persist: () => Promise<void>): Promise<Step<unknown>> {
  const { vm } = pass;
  for (const id of mirroredGroups(vm, source.networkInterfaces)) {
    const group = await readGroup(pass, id);
    const rules = group ? rulesOf(vm, group) : undefined;
    if (!rules || 'refusal' in rules) continue; // refused before anything was created
    const name = mirrorName(id);
    const resource = networkSecurityGroupResource(pass.targetAz, `${NSG_MIRROR_ROLE}${name}`, { resourceGroup, name, location: vm.spec.targetLocation, owner: pass.owner, rules: rules.rules });
    // The source rules changed since the mirror was made: one DriftDetected event, old → new, as the mirror is updated.
    const update = async (current: NetworkSecurityGroup) => {
      const message = `network security group ${parseArmId(id).name} rules changed from ${rulesText(current.securityRules ?? [])} to ${rulesText(rules.rules)}: its mirror ${name} is updated`;
      await resource.update(current);
      pass.ctx.events.record(vm, 'Normal', 'DriftDetected', message);
    };
    const step = await convergeResource({ ...resource, update }, pass.ledger, persist);
    if (step.state !== 'done') return step;
  }
  return done();
}

/** Rules as a person reads them: `name direction access protocol port priority`, by name. */
function rulesText(rules: readonly SecurityRule[]): string {
  const text = [...rules].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '')).map((r) => `${r.name} ${r.direction} ${r.access} ${r.protocol} ${r.destinationPortRange ?? r.destinationPortRanges?.join(',') ?? '*'} ${r.priority}`);
  return text.length ? `[${text.join('; ')}]` : '(none)';
}

/** The group a NIC's failed-over NIC gets: the one named for it, else the mirror of its source group, else none. */
export function targetGroupOf(vm: ReplicatedVM, subscriptionId: string, resourceGroup: string, nic: { name: string; networkSecurityGroupId?: string }): string | undefined {
  const named = namedGroupOf(vm, nic.name);
  if (named) return named;
  return nic.networkSecurityGroupId ? resourceId(subscriptionId, resourceGroup, 'Microsoft.Network', 'networkSecurityGroups', mirrorName(nic.networkSecurityGroupId)) : undefined;
}

/** Whether the mirror `id` is attached to a NIC or subnet (a failed-over VM's): then disabling replication keeps it. */
export async function mirrorInUse(az: AzureClients, id: string): Promise<boolean> {
  const group = await getNetworkSecurityGroup(az.forResource(id), id);
  return group ? inUse(group) : false;
}
