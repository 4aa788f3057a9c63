// Every Azure id a ReplicatedVM names beyond its first five fields reaches the subscription check by its field
// path: placement groups, per-NIC overrides and the load balancer, application security group and disk
// encryption set mappings (an id in another subscription is refused, naming the field). With
// spec.targetSubscriptionId, the target-side ones are checked against it; the clients of that subscription.
import { describe, expect, it } from 'vitest';
import type { ReplicatedVM } from '../../src/api/types.ts';
import { foreignSubscriptionRefusal } from '../../src/azure/arm-id.ts';
import { AzureClients } from '../../src/azure/clients.ts';
import { StaticTokenCredential } from '../../src/azure/credential.ts';
import { moreAzureIds, sourceSideAzureIds, targetSideAzureIds } from '../../src/reconcilers/replicated-vm/spec-ids.ts';
import { replicatedVmAzureIds } from '../../src/reconcilers/tenancy.ts';

const mine = '00000000-0000-0000-0000-000000000001';
const other = '00000000-0000-0000-0000-0000000000ff';
const id = (sub: string, type: string) => `/subscriptions/${sub}/resourceGroups/rg/providers/${type}/x`;
const vm = (sub: (field: string) => string): ReplicatedVM =>
  ({
    apiVersion: 'siterecovery.io/v1alpha1',
    kind: 'ReplicatedVM',
    metadata: { name: 'vm' },
    spec: {
      sourceVirtualMachineId: id(mine, 'Microsoft.Compute/virtualMachines'),
      targetLocation: 'northeurope',
      policyRef: { name: 'p' },
      networkMappingRef: { name: 'n' },
      targetProximityPlacementGroupId: id(sub('ppg'), 'Microsoft.Compute/proximityPlacementGroups'),
      targetCapacityReservationGroupId: id(sub('crg'), 'Microsoft.Compute/capacityReservationGroups'),
      networkInterfaces: [{ sourceName: 'nic', targetNetworkSecurityGroupId: id(sub('nsg'), 'Microsoft.Network/networkSecurityGroups'), targetPublicIpAddressId: id(sub('pip'), 'Microsoft.Network/publicIPAddresses') }],
      loadBalancerMappings: [{ sourceLoadBalancerId: id(sub('slb'), 'Microsoft.Network/loadBalancers'), targetLoadBalancerId: id(sub('tlb'), 'Microsoft.Network/loadBalancers') }],
      applicationSecurityGroupMappings: [{ sourceApplicationSecurityGroupId: id(sub('sasg'), 'Microsoft.Network/applicationSecurityGroups'), targetApplicationSecurityGroupId: id(sub('tasg'), 'Microsoft.Network/applicationSecurityGroups') }],
      diskEncryptionSetMappings: [{ sourceDiskEncryptionSetId: id(sub('sdes'), 'Microsoft.Compute/diskEncryptionSets'), targetDiskEncryptionSetId: id(sub('tdes'), 'Microsoft.Compute/diskEncryptionSets') }],
    },
  }) as ReplicatedVM;

describe('the Azure ids of a ReplicatedVM beyond its first five', () => {
  it('all in the operator\'s subscription: no refusal', () => {
    expect(foreignSubscriptionRefusal(mine, moreAzureIds(vm(() => mine)))).toBeUndefined();
  });

  it.each([
    ['ppg', 'targetProximityPlacementGroupId'],
    ['crg', 'targetCapacityReservationGroupId'],
    ['nsg', 'networkInterfaces[nic].targetNetworkSecurityGroupId'],
    ['pip', 'networkInterfaces[nic].targetPublicIpAddressId'],
    ['slb', 'loadBalancerMappings[0].sourceLoadBalancerId'],
    ['tlb', 'loadBalancerMappings[0].targetLoadBalancerId'],
    ['sasg', 'applicationSecurityGroupMappings[0].sourceApplicationSecurityGroupId'],
    ['tasg', 'applicationSecurityGroupMappings[0].targetApplicationSecurityGroupId'],
    ['sdes', 'diskEncryptionSetMappings[0].sourceDiskEncryptionSetId'],
    ['tdes', 'diskEncryptionSetMappings[0].targetDiskEncryptionSetId'],
  ])('%s in another subscription is refused, naming %s', (which, field) => {
    expect(foreignSubscriptionRefusal(mine, moreAzureIds(vm((f) => (f === which ? other : mine))))).toEqual({
      reason: 'SubscriptionNotManaged',
      message: `${field} names subscription ${other}; this operator manages subscription ${mine} only`,
    });
  });
});

// spec.targetSubscriptionId: what the failed-over VM uses is checked against the target subscription, the rest
// against the operator's; tenancy sees the target group in the target subscription and the replica storage's
// group of that name in the operator's.
describe('a ReplicatedVM failing over into another subscription', () => {
  const sides = (f: string) => (f.startsWith('s') ? mine : other);
  it('accepts target-side ids in the target subscription and source-side ids in its own', () => {
    const v = vm(sides);
    expect(foreignSubscriptionRefusal(mine, sourceSideAzureIds(v))).toBeUndefined();
    expect(foreignSubscriptionRefusal(other, targetSideAzureIds(v))).toBeUndefined();
    expect(Object.keys(moreAzureIds(v)).sort()).toEqual([...Object.keys(sourceSideAzureIds(v)), ...Object.keys(targetSideAzureIds(v))].sort());
  });

  it('refuses a target-side id outside the target subscription, saying where the VM fails over', () => {
    expect(foreignSubscriptionRefusal(other, targetSideAzureIds(vm(() => mine)), `the VM fails over into subscription ${other} (spec.targetSubscriptionId)`)).toEqual({
      reason: 'SubscriptionNotManaged',
      message: `targetProximityPlacementGroupId names subscription ${mine}; the VM fails over into subscription ${other} (spec.targetSubscriptionId)`,
    });
  });

  it('tenancy: the target group in the target subscription, the replica storage group in the operator\'s', () => {
    const v = vm(() => mine);
    v.spec.targetSubscriptionId = other;
    const ids = replicatedVmAzureIds(v, mine);
    expect(ids['spec.targetResourceGroup']).toBe(`/subscriptions/${other}/resourceGroups/rg-asr`);
    expect(ids['spec.targetResourceGroup (replica storage)']).toBe(`/subscriptions/${mine}/resourceGroups/rg-asr`);
    expect(replicatedVmAzureIds(vm(() => mine), mine)['spec.targetResourceGroup (replica storage)']).toBeUndefined();
  });
});

describe('AzureClients.forSubscription / forResource', () => {
  const az = new AzureClients({ subscriptionId: mine, resourceManagerEndpoint: 'https://127.0.0.1:9', credential: new StaticTokenCredential('t') }, { followOperations: true });
  it('answers itself for its own subscription (any letter case) and for an id naming none', () => {
    expect(az.forSubscription(mine.toUpperCase())).toBe(az);
    expect(az.forResource(id(mine, 'Microsoft.Compute/virtualMachines'))).toBe(az);
    expect(az.forResource('not-an-id')).toBe(az);
  });
  it('builds the clients of another subscription once, sharing the followed operations', () => {
    const theirs = az.forResource(id(other, 'Microsoft.Compute/disks'));
    expect(theirs.subscriptionId).toBe(other);
    expect(az.forSubscription(other)).toBe(theirs);
    expect(theirs.operations).toBe(az.operations);
  });
});
