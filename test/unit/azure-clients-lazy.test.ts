// src/azure/clients.ts creates the network and resources clients on first use (the datapath never uses
// them, and their SDKs stay unloaded there): the lazily loaded SDK is the module an `import` gives (one
// copy of its classes), each client is created once per subscription, with the same pipeline.
import { NetworkManagementClient } from '@azure/arm-network';
import { ResourceManagementClient } from '@azure/arm-resources';
import { describe, expect, it } from 'vitest';
import { AzureClients } from '../../src/azure/clients.ts';
import { StaticTokenCredential } from '../../src/azure/credential.ts';

const mine = '00000000-0000-0000-0000-000000000001';
const other = '00000000-0000-0000-0000-0000000000ff';

describe('AzureClients: network and resources on first use', () => {
  const az = new AzureClients({ subscriptionId: mine, component: 'operator', resourceManagerEndpoint: 'https://127.0.0.1:9', credential: new StaticTokenCredential('t') });
  it('are the imported SDKs\' classes, created once', () => {
    expect(az.network).toBeInstanceOf(NetworkManagementClient);
    expect(az.resources).toBeInstanceOf(ResourceManagementClient);
    expect(az.network).toBe(az.network);
    expect(az.resources).toBe(az.resources);
  });
  it('address their subscription, through the same pipeline policies as the eager clients', () => {
    const theirs = az.forSubscription(other);
    expect(theirs.network).not.toBe(az.network);
    expect(theirs.resources).toBe(theirs.resources);
    const names = (c: { pipeline: { getOrderedPolicies(): { name: string }[] } }) => c.pipeline.getOrderedPolicies().map((p) => p.name).filter((n) => n.startsWith('siteRecovery'));
    expect(names(az.network)).toEqual(names(az.compute));
    expect(names(az.resources)).toEqual(names(az.compute));
    expect(names(az.compute).length).toBeGreaterThan(0);
  });
});
