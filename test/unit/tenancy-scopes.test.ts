// Namespaced tenancy (issue #16): a namespace's objects may use only the Azure scopes its annotation lists
// (src/azure/scopes.ts), and every Azure id each kind references or creates things in is checked
// (src/reconcilers/tenancy.ts). Property tests: an id built inside a scope is always allowed, one whose
// subscription or resource group differs (in any way, including by a prefix or a crafted segment) never.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FailoverRequest, NetworkMapping, ReplicatedVM } from '../../src/api/types.ts';
import { isInScope, parseScopes, scopeRefusal, type AzureScope } from '../../src/azure/scopes.ts';
import { failoverAzureIds, networkMappingAzureIds, replicatedVmAzureIds, tenancyRefusal } from '../../src/reconcilers/tenancy.ts';

const sub = '00000000-0000-4000-8000-0000000000aa';
const other = '00000000-0000-4000-8000-0000000000bb';
const vmId = (s: string, rg: string, name = 'vm1') => `/subscriptions/${s}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${name}`;

const name = fc.stringMatching(/^[A-Za-z0-9_.()-]{1,20}$/).filter((n) => !/^\.{1,2}$/.test(n));
const tail = fc.array(fc.tuple(fc.constantFrom('virtualMachines', 'storageAccounts', 'virtualNetworks/vnet/subnets'), name), { maxLength: 2 }).map((pairs) => pairs.map(([t, n]) => `/${t}/${n}`).join(''));
const idIn = (s: string, rg: string, rest: string) => `/subscriptions/${s}/resourceGroups/${rg}/providers/Microsoft.Test${rest || '/things/x'}`;

describe('isInScope', () => {
  it('allows every id inside a resource group scope, in any letter case', () => {
    fc.assert(
      fc.property(name, name, tail, fc.boolean(), (s, rg, rest, upper) => {
        const id = idIn(s, rg, rest);
        expect(isInScope(upper ? id.toUpperCase() : id, { subscriptionId: s, resourceGroup: rg })).toBe(true);
        expect(isInScope(id, { subscriptionId: s })).toBe(true);
      }),
    );
  });

  it('refuses every id of another resource group or subscription, including prefixes and extensions of the name', () => {
    fc.assert(
      fc.property(name, name, name, tail, (s, rg, otherRg, rest) => {
        fc.pre(rg.toLowerCase() !== otherRg.toLowerCase());
        const scope: AzureScope = { subscriptionId: s, resourceGroup: rg };
        expect(isInScope(idIn(s, otherRg, rest), scope)).toBe(false);
        expect(isInScope(idIn(s, `${rg}x`, rest), scope)).toBe(false);
        expect(isInScope(idIn(`${s}x`, rg, rest), scope)).toBe(false);
        expect(isInScope(idIn(s, rg, rest), { subscriptionId: `${s}x` })).toBe(false);
      }),
    );
  });

  it('refuses what is not an ARM id, dot segments, and a subscription id for a group scope', () => {
    const scope = { subscriptionId: sub, resourceGroup: 'rg' };
    for (const id of ['', 'rg', `subscriptions/${sub}/resourceGroups/rg/x/y`, `/subscriptions/${sub}`, `/subscriptions/${sub}/resourceGroupsX/rg`, `//subscriptions/${sub}/resourceGroups/rg`, `/subscriptions/${sub}/resourceGroups/../resourceGroups/rg`]) {
      expect(isInScope(id, scope), id).toBe(false);
    }
    expect(isInScope(`/subscriptions/${sub}/resourceGroups/rg`, scope)).toBe(true);
    expect(isInScope(`/subscriptions/${sub}/resourceGroups/rg-asr`, scope)).toBe(false);
  });
});

describe('parseScopes', () => {
  it('reads subscriptions and resource groups, comma-separated, blanks ignored', () => {
    expect(parseScopes('apps', ` /subscriptions/${sub}/resourceGroups/a , /subscriptions/${other}/ ,`)).toEqual({ scopes: [{ subscriptionId: sub, resourceGroup: 'a' }, { subscriptionId: other }] });
  });

  it('allows nothing without the annotation, or with one malformed entry', () => {
    expect(parseScopes('apps', undefined)).toEqual({ none: expect.stringContaining('has no siterecovery.io/azure-scopes annotation') });
    for (const bad of [`/subscriptions/${sub}/resourceGroups/a/providers/x/y/z`, 'rg-1', `/subscriptions/${sub}/resourceGroups/..`, '*', `/subscriptions/${sub},/nope`]) {
      expect(parseScopes('apps', bad), bad).toEqual({ none: expect.stringContaining('allows nothing until fixed') });
    }
  });

  it('never lets an id outside the listed scopes through (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(name, fc.option(name, { nil: undefined })), { minLength: 1, maxLength: 4 }), name, name, (listed, s, rg) => {
        const annotation = listed.map(([ls, lrg]) => `/subscriptions/${ls}${lrg ? `/resourceGroups/${lrg}` : ''}`).join(',');
        const allowed = parseScopes('apps', annotation);
        const id = vmId(s, rg);
        const inside = listed.some(([ls, lrg]) => ls.toLowerCase() === s.toLowerCase() && (!lrg || lrg.toLowerCase() === rg.toLowerCase()));
        expect(scopeRefusal('apps', allowed, { 'spec.x': id }) === undefined).toBe(inside);
      }),
    );
  });
});

describe('the Azure ids of each kind', () => {
  const scopes = parseScopes('apps', `/subscriptions/${sub}/resourceGroups/app,/subscriptions/${sub}/resourceGroups/app-asr`);
  const vm = (spec: Partial<ReplicatedVM['spec']>): ReplicatedVM => ({
    apiVersion: 'siterecovery.io/v1alpha1',
    kind: 'ReplicatedVM',
    metadata: { name: 'vm1', namespace: 'apps' },
    spec: { sourceVirtualMachineId: vmId(sub, 'app'), targetLocation: 'westus', policyRef: { name: 'p' }, networkMappingRef: { name: 'm' }, ...spec },
  });

  it('a ReplicatedVM: the source VM, the default target group <source group>-asr, and every id it names', () => {
    expect(scopeRefusal('apps', scopes, replicatedVmAzureIds(vm({}), sub))).toBeUndefined();
    expect(scopeRefusal('apps', scopes, replicatedVmAzureIds(vm({ targetResourceGroup: 'elsewhere' }), sub))?.message).toContain(`spec.targetResourceGroup (/subscriptions/${sub}/resourceGroups/elsewhere) is outside`);
    expect(scopeRefusal('apps', scopes, replicatedVmAzureIds(vm({ sourceVirtualMachineId: vmId(sub, 'payroll') }), sub))?.message).toContain('spec.sourceVirtualMachineId');
    const outside = `/subscriptions/${sub}/resourceGroups/payroll/providers/Microsoft.Network/networkSecurityGroups/nsg`;
    const refused = scopeRefusal('apps', scopes, replicatedVmAzureIds(vm({ networkInterfaces: [{ sourceName: 'nic0', targetNetworkSecurityGroupId: outside }] }), sub));
    expect(refused).toEqual({ reason: 'ScopeNotAllowed', message: expect.stringContaining('spec.networkInterfaces[nic0].targetNetworkSecurityGroupId') });
    for (const field of ['cacheStorageAccountId', 'targetStorageAccountId', 'targetAvailabilitySetId', 'seedVirtualMachineId'] as const) {
      expect(scopeRefusal('apps', scopes, replicatedVmAzureIds(vm({ [field]: `/subscriptions/${sub}/resourceGroups/payroll/providers/P/t/n` }), sub))?.message, field).toContain(`spec.${field}`);
    }
  });

  it('a ReplicatedVM: the ids of its placement groups, public IP overrides and load balancer, security group and encryption set mappings', () => {
    const at = (rg: string, type: string) => `/subscriptions/${sub}/resourceGroups/${rg}/providers/${type}/x`;
    const inside = vm({
      targetProximityPlacementGroupId: at('app-asr', 'Microsoft.Compute/proximityPlacementGroups'),
      networkInterfaces: [{ sourceName: 'nic0', targetPublicIpAddressId: at('app-asr', 'Microsoft.Network/publicIPAddresses') }],
      loadBalancerMappings: [{ sourceLoadBalancerId: at('app', 'Microsoft.Network/loadBalancers'), targetLoadBalancerId: at('app-asr', 'Microsoft.Network/loadBalancers') }],
    });
    expect(scopeRefusal('apps', scopes, replicatedVmAzureIds(inside, sub))).toBeUndefined();
    const cases: Array<[Partial<ReplicatedVM['spec']>, string]> = [
      [{ targetCapacityReservationGroupId: at('payroll', 'Microsoft.Compute/capacityReservationGroups') }, 'spec.targetCapacityReservationGroupId'],
      [{ networkInterfaces: [{ sourceName: 'nic0', targetPublicIpAddressId: at('payroll', 'Microsoft.Network/publicIPAddresses') }] }, 'spec.networkInterfaces[nic0].targetPublicIpAddressId'],
      [{ loadBalancerMappings: [{ sourceLoadBalancerId: at('app', 'Microsoft.Network/loadBalancers'), targetLoadBalancerId: at('payroll', 'Microsoft.Network/loadBalancers') }] }, 'spec.loadBalancerMappings[0].targetLoadBalancerId'],
      [{ applicationSecurityGroupMappings: [{ sourceApplicationSecurityGroupId: at('payroll', 'Microsoft.Network/applicationSecurityGroups'), targetApplicationSecurityGroupId: at('app-asr', 'Microsoft.Network/applicationSecurityGroups') }] }, 'spec.applicationSecurityGroupMappings[0].sourceApplicationSecurityGroupId'],
      [{ diskEncryptionSetMappings: [{ sourceDiskEncryptionSetId: at('app', 'Microsoft.Compute/diskEncryptionSets'), targetDiskEncryptionSetId: at('payroll', 'Microsoft.Compute/diskEncryptionSets') }] }, 'spec.diskEncryptionSetMappings[0].targetDiskEncryptionSetId'],
    ];
    for (const [spec, field] of cases) expect(scopeRefusal('apps', scopes, replicatedVmAzureIds(vm(spec), sub))?.message, field).toContain(field);
  });

  it('a NetworkMapping: its networks, its target resource group, and the groups and route tables it names', () => {
    const vnet = (rg: string, n: string) => `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${n}`;
    const mapping = (spec: Partial<NetworkMapping['spec']>): NetworkMapping => ({ apiVersion: 'siterecovery.io/v1alpha1', kind: 'NetworkMapping', metadata: { name: 'm', namespace: 'apps' }, spec: { sourceVirtualNetworkId: vnet('app', 'v'), targetLocation: 'westus', targetResourceGroup: 'app-asr', ...spec } });
    expect(scopeRefusal('apps', scopes, networkMappingAzureIds(mapping({}), sub))).toBeUndefined();
    expect(scopeRefusal('apps', scopes, networkMappingAzureIds(mapping({ targetResourceGroup: 'other' }), sub))?.message).toContain('spec.targetResourceGroup');
    expect(scopeRefusal('apps', scopes, networkMappingAzureIds(mapping({ testVirtualNetworkId: vnet('shared', 't') }), sub))?.message).toContain('spec.testVirtualNetworkId');
    expect(scopeRefusal('apps', scopes, networkMappingAzureIds(mapping({ targetVirtualNetworkId: vnet('shared', 't') }), sub))?.message).toContain('spec.targetVirtualNetworkId');
    // The groups and route tables named for its subnets, and its application security group mappings.
    const at = (rg: string, type: string) => `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/${type}/x`;
    const named = { source: 'app', target: 'app', targetNetworkSecurityGroupId: at('app-asr', 'networkSecurityGroups'), targetRouteTableId: at('app-asr', 'routeTables') };
    const groups = (target: string) => [{ sourceApplicationSecurityGroupId: at('app', 'applicationSecurityGroups'), targetApplicationSecurityGroupId: at(target, 'applicationSecurityGroups') }];
    expect(scopeRefusal('apps', scopes, networkMappingAzureIds(mapping({ subnetMappings: [named], applicationSecurityGroupMappings: groups('app-asr') }), sub))).toBeUndefined();
    expect(scopeRefusal('apps', scopes, networkMappingAzureIds(mapping({ subnetMappings: [{ ...named, targetRouteTableId: at('shared', 'routeTables') }] }), sub))?.message).toContain('spec.subnetMappings[app].targetRouteTableId');
    expect(scopeRefusal('apps', scopes, networkMappingAzureIds(mapping({ applicationSecurityGroupMappings: groups('shared') }), sub))?.message).toContain('spec.applicationSecurityGroupMappings[0].targetApplicationSecurityGroupId');
  });

  it('a FailoverRequest: its test network, then the ReplicatedVM it acts on', () => {
    const fo: FailoverRequest = { apiVersion: 'siterecovery.io/v1alpha1', kind: 'FailoverRequest', metadata: { name: 'f', namespace: 'apps' }, spec: { replicatedVMName: 'vm1', type: 'Test', testVirtualNetworkId: `/subscriptions/${sub}/resourceGroups/shared/providers/Microsoft.Network/virtualNetworks/t` } };
    expect(scopeRefusal('apps', scopes, failoverAzureIds(fo, undefined, sub))?.message).toContain('spec.testVirtualNetworkId');
    const plain = { ...fo, spec: { replicatedVMName: 'vm1', type: 'Planned' as const } };
    expect(scopeRefusal('apps', scopes, failoverAzureIds(plain, vm({}), sub))).toBeUndefined();
    expect(scopeRefusal('apps', scopes, failoverAzureIds(plain, vm({ sourceVirtualMachineId: vmId(sub, 'payroll') }), sub))?.message).toContain('ReplicatedVM vm1 spec.sourceVirtualMachineId');
  });

  it('cluster tenancy (no scope source) checks nothing', () => {
    expect(tenancyRefusal(undefined, 'apps', replicatedVmAzureIds(vm({ sourceVirtualMachineId: vmId(other, 'x') }), sub))).toBeUndefined();
    expect(tenancyRefusal({ scopesOf: () => ({ none: 'no annotation' }) }, 'apps', { a: vmId(sub, 'app') })).toEqual({ reason: 'ScopeNotAllowed', message: 'no annotation' });
  });
});
