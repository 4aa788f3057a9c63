// Per-namespace Azure identity (src/azure/namespace-clients.ts): the clients in use are those of the identity the
// reconcile's namespace names, each identity with its own clients (its own token cache), the operator's own
// outside a reconcile and for a namespace without one; concurrent reconciles of two namespaces never mix.
import { describe, expect, it } from 'vitest';
import { AzureClients } from '../../src/azure/clients.ts';
import { StaticTokenCredential } from '../../src/azure/credential.ts';
import { perNamespaceClients } from '../../src/azure/namespace-clients.ts';
import { inNamespace } from '../../src/runtime/reconcile-scope.ts';

const own = new StaticTokenCredential('own');
const identities: Record<string, string> = { tenant_a: 'client-a', tenant_b: 'client-b', shared: 'client-a' };
const made: string[] = [];
const az = perNamespaceClients({ subscriptionId: 's1', resourceManagerEndpoint: 'https://arm.invalid', credential: own }, {}, (ns) => identities[ns], (clientId) => {
  made.push(clientId);
  return new StaticTokenCredential(clientId);
});
const tokenNow = async () => (await az.credential.getToken('https://management.azure.com/.default'))?.token;

describe('per-namespace Azure clients', () => {
  it("uses the operator's own clients outside a reconcile and for a namespace naming no identity", async () => {
    expect(az).toBeInstanceOf(AzureClients);
    expect(await tokenNow()).toBe('own');
    expect(await inNamespace('plain', tokenNow)).toBe('own');
  });

  it("uses the namespace's identity across awaits, one set of clients per identity, concurrent namespaces unmixed", async () => {
    const run = (ns: string) => inNamespace(ns, async () => {
      const first = await tokenNow();
      await new Promise((resolve) => setImmediate(resolve));
      return [first, await tokenNow(), az.compute === az.compute];
    });
    expect(await Promise.all([run('tenant_a'), run('tenant_b'), run('shared')])).toEqual([['client-a', 'client-a', true], ['client-b', 'client-b', true], ['client-a', 'client-a', true]]);
    expect(made).toEqual(['client-a', 'client-b']);
    expect(inNamespace('tenant_a', () => az.compute)).not.toBe(inNamespace('tenant_b', () => az.compute));
    expect(inNamespace('tenant_a', () => az.compute)).toBe(inNamespace('shared', () => az.compute));
  });
});
