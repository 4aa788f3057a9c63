// The source VM changing after enable, the pure parts: one DriftDetected line per change (old → new) of the
// size, the properties carried over and the NICs (their public IPs and load balancer pools too); none when nothing changed or when the registration is
// older than the field; and which rules of a network security group a mirror carries.
import { describe, expect, it } from 'vitest';
import type { SourceNetworkInterface, SourceVmProperties } from '../../src/api/types.ts';
import { mirrorableRules } from '../../src/azure/resources/network-security-group.ts';
import { describeVmChanges } from '../../src/reconcilers/replicated-vm/vm-drift.ts';

const props: SourceVmProperties = { hyperVGeneration: 'V2', securityType: 'TrustedLaunch', secureBootEnabled: true, vTpmEnabled: true, tags: { app: 'billing' }, bootDiagnostics: { enabled: true } };
const nic = (name: string, ip: string, more: Partial<SourceNetworkInterface> = {}): SourceNetworkInterface => ({
  name,
  primary: name === 'nic0',
  subnetName: 'default',
  privateIpAddress: ip,
  ipConfigurations: [{ name: 'ipconfig1', primary: true, subnetName: 'default', privateIpAddress: ip }],
  ...more,
});
const vm = (size: string, p: SourceVmProperties, nics: SourceNetworkInterface[]) => ({ sourceVmSize: size, sourceVmProperties: p, sourceNetworkInterfaces: nics });

describe('drift of the source VM besides its disks', () => {
  const before = vm('Standard_D2s_v3', props, [nic('nic0', '10.1.0.4')]);

  it('says nothing when nothing changed, or when nothing was recorded yet', () => {
    expect(describeVmChanges(before, structuredClone(before))).toEqual([]);
    expect(describeVmChanges(undefined, before)).toEqual([]);
    expect(describeVmChanges({}, before)).toEqual([]);
  });

  it('a system-assigned identity added or removed; nothing against a registration older than the field', () => {
    const on = vm('Standard_D2s_v3', { ...props, systemAssignedIdentity: true }, before.sourceNetworkInterfaces);
    const off = vm('Standard_D2s_v3', { ...props, systemAssignedIdentity: false }, before.sourceNetworkInterfaces);
    expect(describeVmChanges(off, on)).toEqual(['system-assigned identity changed from off to on: a failover gives the VM a system-assigned identity (a new principal)']);
    expect(describeVmChanges(on, off)).toEqual(['system-assigned identity changed from on to off: a failover gives the VM none']);
    expect(describeVmChanges(before, on)).toEqual([]);
  });

  it('one line per change, old → new: size, tags, security type, license, identities, boot diagnostics', () => {
    const after = vm('Standard_D4s_v5', { ...props, securityType: 'Standard', secureBootEnabled: undefined, vTpmEnabled: undefined, tags: { app: 'billing', owner: 'team-a' }, licenseType: 'RHEL_BYOS', userAssignedIdentityIds: ['/subscriptions/s/resourceGroups/i/providers/Microsoft.ManagedIdentity/userAssignedIdentities/billing-id'], bootDiagnostics: { enabled: false } }, before.sourceNetworkInterfaces);
    expect(describeVmChanges(before, after)).toEqual([
      'size changed from Standard_D2s_v3 to Standard_D4s_v5: a failover creates the VM at Standard_D4s_v5 unless spec.targetVmSize says otherwise',
      'security type changed from TrustedLaunch (secure boot on, vTPM on) to Standard: a failover carries the new security type over',
      'license type changed from (none) to RHEL_BYOS: a failover carries the new license type over',
      'tags changed from {app=billing} to {app=billing, owner=team-a}: a failover carries the new tags over',
      'user-assigned identities changed from (none) to billing-id: a failover carries the new user-assigned identities over',
      'boot diagnostics changed from on to off: a failover carries the new boot diagnostics over',
    ]);
  });

  it('a NIC attached, detached or changed (address, secondary IP configuration, NSG) is one line each', () => {
    const nsg = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/web-nsg';
    const twoNics = vm('Standard_D2s_v3', props, [nic('nic0', '10.1.0.4'), nic('nic1', '10.1.0.9')]);
    expect(describeVmChanges(before, twoNics)).toEqual(['network interface nic1 attached (secondary, ipconfig1 default/10.1.0.9, NSG (none), accelerated networking off): a failover creates it too']);
    expect(describeVmChanges(twoNics, before)).toEqual(['network interface nic1 detached (secondary, ipconfig1 default/10.1.0.9, NSG (none), accelerated networking off): a failover no longer creates it']);
    const changed = vm('Standard_D2s_v3', props, [
      nic('nic0', '10.1.0.4', { networkSecurityGroupId: nsg, ipConfigurations: [{ name: 'ipconfig1', primary: true, subnetName: 'default', privateIpAddress: '10.1.0.4' }, { name: 'ipconfig2', primary: false, subnetName: 'default', privateIpAddress: '10.1.0.20' }] }),
    ]);
    expect(describeVmChanges(before, changed)).toEqual([
      'network interface nic0 changed from primary, ipconfig1 default/10.1.0.4, NSG (none), accelerated networking off to primary, ipconfig1 default/10.1.0.4, ipconfig2 default/10.1.0.20, NSG web-nsg, accelerated networking off: a failover creates it as it is now',
    ]);
  });

  it('a public IP address, a load balancer pool or an application security group added to an IP configuration is a change of its NIC', () => {
    const pip = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/web-pip';
    const pool = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/web-lb/backendAddressPools/web';
    const after = vm('Standard_D2s_v3', props, [nic('nic0', '10.1.0.4', { ipConfigurations: [{ name: 'ipconfig1', primary: true, subnetName: 'default', privateIpAddress: '10.1.0.4', publicIpAddressId: pip, loadBalancerBackendAddressPoolIds: [pool], applicationSecurityGroupIds: [`${pool.split('/providers/')[0]}/providers/Microsoft.Network/applicationSecurityGroups/web-asg`] }] })]);
    expect(describeVmChanges(before, after)).toEqual([
      'network interface nic0 changed from primary, ipconfig1 default/10.1.0.4, NSG (none), accelerated networking off to primary, ipconfig1 default/10.1.0.4 public IP web-pip pools web-lb/web ASGs web-asg, NSG (none), accelerated networking off: a failover creates it as it is now',
    ]);
  });

  it('a NIC recorded before IP configurations and NSGs were is compared only on what it recorded', () => {
    const legacy = vm('Standard_D2s_v3', props, [{ name: 'nic0', primary: true, subnetName: 'default', privateIpAddress: '10.1.0.4' }]);
    const now = vm('Standard_D2s_v3', props, [nic('nic0', '10.1.0.4', { networkSecurityGroupId: '/x/networkSecurityGroups/g' })]);
    expect(describeVmChanges(legacy, now)).toEqual([]);
    expect(describeVmChanges(legacy, vm('Standard_D2s_v3', props, [nic('nic0', '10.1.0.5')]))).toHaveLength(1);
  });
});

describe('the rules a network security group mirror carries', () => {
  it('copies what each rule does, sorted by name; maps the application security groups a rule names, refusing one not mapped', () => {
    const rule = { name: 'ssh', id: '/x/securityRules/ssh', etag: 'e', provisioningState: 'Succeeded' as const, protocol: 'Tcp', sourcePortRange: '*', destinationPortRange: '22', sourceAddressPrefix: '10.0.0.0/8', destinationAddressPrefix: '*', access: 'Allow', priority: 200, direction: 'Inbound', sourcePortRanges: [] };
    const web = { ...rule, name: 'https', destinationPortRange: '443', priority: 300 };
    const none = () => undefined;
    expect(mirrorableRules({ name: 'g', securityRules: [rule, web] }, none, 'm')).toEqual({
      rules: [
        { name: 'https', protocol: 'Tcp', sourcePortRange: '*', destinationPortRange: '443', sourceAddressPrefix: '10.0.0.0/8', destinationAddressPrefix: '*', access: 'Allow', priority: 300, direction: 'Inbound' },
        { name: 'ssh', protocol: 'Tcp', sourcePortRange: '*', destinationPortRange: '22', sourceAddressPrefix: '10.0.0.0/8', destinationAddressPrefix: '*', access: 'Allow', priority: 200, direction: 'Inbound' },
      ],
    });
    const named = { ...rule, sourceApplicationSecurityGroups: [{ id: '/x/applicationSecurityGroups/web', location: 'westeurope' }], destinationApplicationSecurityGroups: [] };
    expect(mirrorableRules({ name: 'g', securityRules: [named] }, none, 'spec.applicationSecurityGroupMappings')).toEqual({
      reason: 'ApplicationSecurityGroupNotMapped',
      refusal: 'rule ssh of network security group g names application security group /x/applicationSecurityGroups/web, which spec.applicationSecurityGroupMappings does not map to a target group',
    });
    const mapped = mirrorableRules({ name: 'g', securityRules: [named] }, (id) => (id.endsWith('/web') ? '/y/applicationSecurityGroups/web-dr' : undefined), 'm');
    expect(mapped).toEqual({ rules: [expect.objectContaining({ name: 'ssh', sourceApplicationSecurityGroups: [{ id: '/y/applicationSecurityGroups/web-dr' }] })] });
    expect('rules' in mapped && mapped.rules[0]).not.toHaveProperty('destinationApplicationSecurityGroups');
  });
});
