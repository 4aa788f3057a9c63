/**
 * The source VM changing after enable, besides its disks (disk-changes.ts): its size, network interfaces
 * (added, removed, or with another subnet, address, IP configuration, NSG or accelerated networking), tags,
 * security profile, generation, license type, user-assigned identities, system-assigned identity and boot
 * diagnostics. Each pass
 * re-reads the source VM and records what a failover needs (status.sourceVmSize, sourceVmProperties,
 * sourceNetworkInterfaces, and the registration saved in the target region), so a failover after the change
 * creates the VM as the source is now. This file says what changed since the registration recorded, one
 * line per change, old → new; the reconciler records one DriftDetected event per line. Nothing is compared
 * against a registration that did not record the field yet (a registration older than the field): that is
 * not a change of the VM.
 */
import type { SourceNetworkInterface, SourceVmProperties } from '../../api/types.ts';

/** What the registration records of the VM besides its disks. */
export interface RecordedVm {
  sourceVmSize?: string;
  sourceVmProperties?: SourceVmProperties;
  sourceNetworkInterfaces?: SourceNetworkInterface[];
}

/** One line per change between `recorded` and `newest`; empty when nothing changed or nothing was recorded. */
export function describeVmChanges(recorded: RecordedVm | undefined, newest: Required<RecordedVm>): string[] {
  if (!recorded?.sourceVmSize) return [];
  const changes: string[] = [];
  if (recorded.sourceVmSize !== newest.sourceVmSize) changes.push(`size changed from ${recorded.sourceVmSize} to ${newest.sourceVmSize}: a failover creates the VM at ${newest.sourceVmSize} unless spec.targetVmSize says otherwise`);
  if (recorded.sourceVmProperties) changes.push(...propertyChanges(recorded.sourceVmProperties, newest.sourceVmProperties));
  if (recorded.sourceNetworkInterfaces) changes.push(...nicChanges(recorded.sourceNetworkInterfaces, newest.sourceNetworkInterfaces));
  return changes;
}

/** One entry per property a person reads as one thing: [what, how it reads]. */
const PROPERTIES: Array<[string, (p: SourceVmProperties) => string]> = [
  ['generation', (p) => p.hyperVGeneration ?? '(unknown)'],
  ['security type', securityText],
  ['license type', (p) => p.licenseType ?? '(none)'],
  ['tags', (p) => mapText(p.tags)],
  ['user-assigned identities', (p) => listText((p.userAssignedIdentityIds ?? []).map(lastSegment))],
  ['boot diagnostics', (p) => (p.bootDiagnostics?.enabled ? 'on' : 'off')],
];

function propertyChanges(before: SourceVmProperties, after: SourceVmProperties): string[] {
  const changes: string[] = [];
  for (const [what, text] of PROPERTIES) {
    const [old, now] = [text(before), text(after)];
    if (old !== now) changes.push(`${what} changed from ${old} to ${now}: a failover carries the new ${what} over`);
  }
  // Recorded as a boolean since it was added: a registration without it is older, not a VM that changed.
  if (typeof before.systemAssignedIdentity === 'boolean' && before.systemAssignedIdentity !== Boolean(after.systemAssignedIdentity)) {
    const [old, now] = before.systemAssignedIdentity ? ['on', 'off'] : ['off', 'on'];
    changes.push(`system-assigned identity changed from ${old} to ${now}: a failover ${now === 'on' ? 'gives the VM a system-assigned identity (a new principal)' : 'gives the VM none'}`);
  }
  return changes;
}

function nicChanges(before: readonly SourceNetworkInterface[], after: readonly SourceNetworkInterface[]): string[] {
  const changes: string[] = [];
  for (const nic of after) {
    const old = before.find((n) => n.name === nic.name);
    if (!old) changes.push(`network interface ${nic.name} attached (${nicText(nic)}): a failover creates it too`);
    else if (nicText(old) !== nicText(nic, old)) changes.push(`network interface ${nic.name} changed from ${nicText(old)} to ${nicText(nic, old)}: a failover creates it as it is now`);
  }
  for (const nic of before) {
    if (!after.some((n) => n.name === nic.name)) changes.push(`network interface ${nic.name} detached (${nicText(nic)}): a failover no longer creates it`);
  }
  return changes;
}

/**
 * A NIC as a person reads it: primary or secondary, each IP configuration (subnet, address, public IP, load
 * balancer pools, application security groups), NSG, accelerated networking. Read `like` a record without IP configurations (recorded before they were, with
 * no NSG either), only what that record had is read: an upgrade is not a change of the VM.
 */
function nicText(nic: SourceNetworkInterface, like: SourceNetworkInterface = nic): string {
  const full = Boolean(like.ipConfigurations);
  const configs = full && nic.ipConfigurations ? nic.ipConfigurations.map((c) => `${c.name} ${c.subnetName ?? '?'}/${c.privateIpAddress ?? 'dynamic'}${c.publicIpAddressId ? ` public IP ${lastSegment(c.publicIpAddressId)}` : ''}${c.loadBalancerBackendAddressPoolIds?.length ? ` pools ${c.loadBalancerBackendAddressPoolIds.map(poolText).join('+')}` : ''}${c.applicationSecurityGroupIds?.length ? ` ASGs ${c.applicationSecurityGroupIds.map(lastSegment).join('+')}` : ''}`) : [`${nic.subnetName ?? '?'}/${nic.privateIpAddress ?? 'dynamic'}`];
  const parts = [nic.primary ? 'primary' : 'secondary', ...configs, ...(full ? [`NSG ${nic.networkSecurityGroupId ? lastSegment(nic.networkSecurityGroupId) : '(none)'}`] : []), `accelerated networking ${nic.acceleratedNetworking ? 'on' : 'off'}`];
  return parts.join(', ');
}

function securityText(p: SourceVmProperties): string {
  if (p.securityType !== 'TrustedLaunch') return p.securityType ?? 'Standard';
  return `TrustedLaunch (secure boot ${p.secureBootEnabled ? 'on' : 'off'}, vTPM ${p.vTpmEnabled ? 'on' : 'off'})`;
}

function mapText(map: Record<string, string | undefined> | undefined): string {
  const entries = Object.entries(map ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return entries.length ? `{${entries.map(([k, v]) => `${k}=${v ?? ''}`).join(', ')}}` : '(none)';
}

function listText(items: string[]): string {
  return items.length ? [...items].sort().join(', ') : '(none)';
}

/** A backend pool as `<load balancer>/<pool>`. */
function poolText(id: string): string {
  const parts = id.split('/');
  return `${parts[parts.length - 3] ?? '?'}/${parts[parts.length - 1] ?? '?'}`;
}

function lastSegment(id: string): string {
  return id.split('/').pop() ?? id;
}
