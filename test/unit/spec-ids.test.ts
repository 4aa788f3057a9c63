// Every Azure id a ReplicatedVM names beyond its first five fields reaches the subscription check by its field
// path: placement groups, per-NIC overrides and the load balancer, application security group and disk
// encryption set mappings (an id in another subscription is refused, naming the field).
import { describe, expect, it } from 'vitest';
import type { ReplicatedVM } from '../../src/api/types.ts';
import { foreignSubscriptionRefusal } from '../../src/azure/arm-id.ts';
import { moreAzureIds } from '../../src/reconcilers/replicated-vm/spec-ids.ts';

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
