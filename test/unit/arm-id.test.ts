// ARM ids as the operator reads them from specs (src/azure/arm-id.ts): an id in another subscription than
// the one the operator's clients manage is refused, not read as the same name in the operator's own.
import { describe, expect, it } from 'vitest';
import { foreignSubscriptionRefusal, sourceSubscriptionRefusal } from '../../src/azure/arm-id.ts';

const ours = '00000000-0000-4000-8000-00000000a2a0';
const vnet = (sub: string) => `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet`;

describe('foreignSubscriptionRefusal', () => {
  it('accepts ids of the managed subscription (case-insensitively) and fields left out', () => {
    expect(foreignSubscriptionRefusal(ours, { sourceVirtualNetworkId: vnet(ours), targetVirtualNetworkId: vnet(ours.toUpperCase()), testVirtualNetworkId: undefined })).toBeUndefined();
  });

  it('names the first field that points at another subscription', () => {
    const other = '11111111-2222-4333-8444-555555555555';
    expect(foreignSubscriptionRefusal(ours, { sourceVirtualNetworkId: vnet(ours), testVirtualNetworkId: vnet(other) })).toEqual({
      reason: 'SubscriptionNotManaged',
      message: `testVirtualNetworkId names subscription ${other}; this operator manages subscription ${ours} only`,
    });
  });
});

// A replication's source may be in another subscription only when it leads back into the operator's (the
// reverse replication of re-protect after a failover into another subscription).
describe('sourceSubscriptionRefusal', () => {
  const other = '11111111-2222-4333-8444-555555555555';
  const vm = (sub: string) => `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm`;

  it('accepts a source in the managed subscription, whatever the target', () => {
    expect(sourceSubscriptionRefusal(ours, 'sourceVirtualMachineId', vm(ours.toUpperCase()), other, 'spec.targetSubscriptionId')).toBeUndefined();
    expect(sourceSubscriptionRefusal(ours, 'sourceVirtualMachineId', vm(ours), undefined, 'spec.targetSubscriptionId')).toBeUndefined();
  });

  it('accepts a source in another subscription replicating back into the managed one', () => {
    expect(sourceSubscriptionRefusal(ours, 'sourceVirtualMachineId', vm(other), ours.toUpperCase(), 'spec.targetSubscriptionId')).toBeUndefined();
  });

  it('refuses a source in another subscription replicating anywhere else', () => {
    const refusal = {
      reason: 'SubscriptionNotManaged',
      message: `sourceVirtualMachineId names subscription ${other}; this operator manages subscription ${ours}: a source in another subscription is replicated only back into it (spec.targetSubscriptionId in subscription ${ours}), as re-protect does`,
    };
    expect(sourceSubscriptionRefusal(ours, 'sourceVirtualMachineId', vm(other), undefined, 'spec.targetSubscriptionId')).toEqual(refusal);
    expect(sourceSubscriptionRefusal(ours, 'sourceVirtualMachineId', vm(other), other, 'spec.targetSubscriptionId')).toEqual(refusal);
  });

  it('refuses a source subscription that is not a subscription id, even back into the managed one', () => {
    expect(sourceSubscriptionRefusal(ours, 'sourceVirtualMachineId', vm('..'), ours, 'spec.targetSubscriptionId')).toEqual({
      reason: 'SubscriptionNotManaged',
      message: 'sourceVirtualMachineId names subscription .., which is not a subscription id (a GUID)',
    });
  });
});
