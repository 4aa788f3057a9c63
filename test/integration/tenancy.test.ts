// Namespaced tenancy (issue #16, item 1): the operator runs with `--tenancy namespaced` as the chart's
// service account (which may read Namespaces). Its namespace's siterecovery.io/azure-scopes annotation
// lists two resource groups (a source group and its -asr target group): a VM and a network mapping in
// there proceed; those naming another group stop at once with Stalled/ScopeNotAllowed and an event, and
// local Azure records no request at all for the other group — neither a write nor a read. Widening the
// annotation reconciles the namespace's objects again.
// Per-namespace Azure identity: the Namespace also names a workload identity (siterecovery.io/azure-client-id)
// and local Azure enforces role assignments: only that identity holds a role (the shipped operator role), the
// operator's own holds none. Everything the namespace's objects do in Azure succeeds, so it was done as the
// namespace's identity; removing the annotation makes the next call go as the operator's own, which is refused.
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FailoverRequest } from '../../src/api/types.ts';
import { AZURE_SCOPES_ANNOTATION } from '../../src/azure/scopes.ts';
import { AZURE_CLIENT_ID_ANNOTATION } from '../../src/azure/namespace-clients.ts';
import { StaticTokenCredential } from '../../src/azure/credential.ts';
import { OWNER, shippedRole } from '../../sandbox/src/azure-roles.ts';
import type { Denial } from '../../sandbox/src/arm/index.ts';
import { SANDBOX_PRINCIPALS, sandboxAccessToken, sandboxTokenForObjectId } from '../../sandbox/src/storage/token.ts';
import { on } from 'node:events';
import { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { buildOperator } from '../../src/operator/run-operator.ts';
import { waitForEvents } from '../support/events.ts';
import { chartServiceAccountKubeConfig } from '../support/helm-rbac.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';
import { startLocalAzure, type LocalAzure } from '../support/local-azure.ts';
import { conditionIs, crClients, randomName, type Clients } from '../support/operator-fixtures.ts';
import { waitForObject } from '../support/wait.ts';

let azure: LocalAzure;
let kc: KubeConfig;
let ns: string;
let clients: Clients;
let failovers: CustomResourceClient<FailoverRequest>;
const stop = new AbortController();
let operator: Promise<void> | undefined;
const inside = randomName('tnin');
/** The namespace's own Azure identity (client id = object id in the sandbox's tokens). */
const tenantIdentity = '00000000-0000-4000-8000-00000000fe11';
const outside = randomName('tnout');

const group = (rg: string) => `/subscriptions/${azure.arm.subscriptionId}/resourceGroups/${rg}`;
const vnetOf = (rg: string) => `${group(rg)}/providers/Microsoft.Network/virtualNetworks/${rg}-vnet`;
const stalledFor = (reason: string) => (o: { status?: { conditions?: Array<{ type: string; status: string; reason?: string }> } } | undefined) =>
  Boolean(o?.status?.conditions?.some((c) => c.type === 'Stalled' && c.status === 'True' && c.reason === reason));
/** Every ARM request local Azure recorded for a resource group (and its -asr target group). */
const requestsFor = (rg: string) => azure.arm.stats.requests({ path: new RegExp(`/resourceGroups/${rg}(-asr)?(/|$)`, 'i') }).map((r) => `${r.method} ${r.path}`);

async function annotate(scopes: string[], clientId: string | null = tenantIdentity): Promise<void> {
  const annotations = { [AZURE_SCOPES_ANNOTATION]: scopes.join(','), [AZURE_CLIENT_ID_ANNOTATION]: clientId };
  await kc.makeApiClient(CoreV1Api).patchNamespace({ name: ns, body: { metadata: { annotations } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
}

async function protect(rg: string, name: string): Promise<void> {
  const vm = await azure.createVm({ name, resourceGroup: rg, dataDisks: 0 });
  await clients.mappings.create(ns, { metadata: { name: `${name}-net` }, spec: { sourceVirtualNetworkId: vnetOf(rg), targetLocation: 'northeurope', targetResourceGroup: `${rg}-asr` } });
  await clients.vms.create(ns, { metadata: { name }, spec: { sourceVirtualMachineId: vm.id as string, targetLocation: 'northeurope', policyRef: { name: 'policy' }, networkMappingRef: { name: `${name}-net` }, deletionPolicy: 'Delete' } });
}

beforeAll(async () => {
  azure = await startLocalAzure();
  kc = testKubeConfig();
  clients = crClients(kc);
  failovers = new CustomResourceClient<FailoverRequest>(kc, 'FailoverRequest');
  ns = await createTestNamespace(kc, 'tenancy');
  await annotate([group(inside), group(`${inside}-asr`)]);
  await clients.policies.create(ns, { metadata: { name: 'policy' }, spec: {} });
  await protect(inside, 'in-vm');
  await protect(outside, 'out-vm');
  await failovers.create(ns, { metadata: { name: 'out-test' }, spec: { replicatedVMName: 'in-vm', type: 'Test', testVirtualNetworkId: vnetOf(outside) } });
  await azure.arm.idle();
  azure.arm.stats.reset(); // the fixture's own requests (creating the VMs) do not count
  const subscription = `/subscriptions/${azure.arm.subscriptionId}`;
  azure.arm.rbac.configure({ enabled: true, assignments: [{ principalId: SANDBOX_PRINCIPALS.sandbox, role: OWNER, scope: subscription }, { principalId: tenantIdentity, role: shippedRole('operator'), scope: subscription }] });
  const operatorKc = await chartServiceAccountKubeConfig(kc, 'operator', ns);
  // The operator's own identity (no role); a namespace's identity by its client id (the sandbox's token for it).
  const own = azure.azureConfig({ credential: new StaticTokenCredential(sandboxAccessToken('operator')) });
  const credentialFor = (clientId: string) => new StaticTokenCredential(sandboxTokenForObjectId(clientId));
  operator = buildOperator({ kubeConfig: operatorKc, azure: own, namespace: ns, tenancy: 'namespaced', workers: 2, credentialFor }).run(stop.signal);
}, 120_000);

afterAll(async () => {
  stop.abort();
  await operator?.catch(() => undefined);
  await azure?.stop();
});

describe('namespaced tenancy', () => {
  it('stops every object naming a resource group outside the namespace\'s scopes, with an event and no ARM request for it', async () => {
    const vm = await waitForObject(kc, clients.vms, { namespace: ns, name: 'out-vm' }, stalledFor('ScopeNotAllowed'), 'out-vm ScopeNotAllowed');
    expect(vm?.status?.conditions?.find((c) => c.type === 'Stalled')?.message).toContain(`spec.sourceVirtualMachineId (${group(outside)}/providers/Microsoft.Compute/virtualMachines/out-vm) is outside the Azure scopes of namespace ${ns}`);
    await waitForObject(kc, clients.mappings, { namespace: ns, name: 'out-vm-net' }, stalledFor('ScopeNotAllowed'), 'out-vm-net ScopeNotAllowed');
    const fo = await waitForObject(kc, failovers, { namespace: ns, name: 'out-test' }, stalledFor('ScopeNotAllowed'), 'out-test ScopeNotAllowed');
    expect(fo?.status?.phase).toBe('Failed');
    expect(fo?.status?.conditions?.find((c) => c.type === 'Stalled')?.message).toContain('spec.testVirtualNetworkId');
    for (const name of ['out-vm', 'out-vm-net', 'out-test']) expect((await waitForEvents(kc, ns, name, 'ScopeNotAllowed', 1))[0]?.type, name).toBe('Warning');
    // The one inside goes on meanwhile (so the operator did run), and nothing at all reached the other group.
    await waitForObject(kc, clients.vms, { namespace: ns, name: 'in-vm' }, conditionIs('ReplicationEnabled', 'True'), 'in-vm ReplicationEnabled');
    await azure.arm.idle();
    expect(requestsFor(outside)).toEqual([]);
    expect(requestsFor(inside).filter((r) => r.startsWith('PUT')).length).toBeGreaterThan(0);
  });

  it('reconciles the namespace again when a cluster admin widens its scopes', async () => {
    await annotate([group(inside), group(`${inside}-asr`), group(outside), group(`${outside}-asr`)]);
    await waitForObject(kc, clients.mappings, { namespace: ns, name: 'out-vm-net' }, conditionIs('Ready', 'True'), 'out-vm-net Ready once allowed');
    await waitForObject(kc, clients.vms, { namespace: ns, name: 'out-vm' }, conditionIs('ReplicationEnabled', 'True'), 'out-vm ReplicationEnabled once allowed');
  });

  it("called Azure as the namespace's own identity; without the annotation, as the operator's own", async () => {
    expect(azure.arm.rbac.denied()).toEqual([]);
    expect(azure.arm.rbac.audit()[tenantIdentity]).toEqual(expect.arrayContaining(['Microsoft.Compute/virtualMachines/read', 'Microsoft.Resources/subscriptions/resourceGroups/write']));
    expect(azure.arm.rbac.audit()[SANDBOX_PRINCIPALS.operator]).toBeUndefined();
    const stopWaiting = new AbortController();
    const refused = (async () => {
      for await (const [d] of on(azure.arm.rbac.events, 'denied', { signal: stopWaiting.signal }) as AsyncIterable<[Denial]>) if (d.principalId === SANDBOX_PRINCIPALS.operator) return d;
      return undefined;
    })();
    await annotate([group(inside), group(`${inside}-asr`), group(outside), group(`${outside}-asr`)], null);
    try {
      expect((await refused)?.principalId).toBe(SANDBOX_PRINCIPALS.operator);
    } finally {
      stopWaiting.abort();
    }
  });
});
