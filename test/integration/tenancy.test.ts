// Namespaced tenancy (issue #16, item 1): the operator runs with `--tenancy namespaced` as the chart's
// service account (which may read Namespaces). Its namespace's siterecovery.io/azure-scopes annotation
// lists two resource groups (a source group and its -asr target group): a VM and a network mapping in
// there proceed; those naming another group stop at once with Stalled/ScopeNotAllowed and an event, and
// local Azure records no request at all for the other group — neither a write nor a read. Widening the
// annotation reconciles the namespace's objects again.
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FailoverRequest } from '../../src/api/types.ts';
import { AZURE_SCOPES_ANNOTATION } from '../../src/azure/scopes.ts';
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
const outside = randomName('tnout');

const group = (rg: string) => `/subscriptions/${azure.arm.subscriptionId}/resourceGroups/${rg}`;
const vnetOf = (rg: string) => `${group(rg)}/providers/Microsoft.Network/virtualNetworks/${rg}-vnet`;
const stalledFor = (reason: string) => (o: { status?: { conditions?: Array<{ type: string; status: string; reason?: string }> } } | undefined) =>
  Boolean(o?.status?.conditions?.some((c) => c.type === 'Stalled' && c.status === 'True' && c.reason === reason));
/** Every ARM request local Azure recorded for a resource group (and its -asr target group). */
const requestsFor = (rg: string) => azure.arm.stats.requests({ path: new RegExp(`/resourceGroups/${rg}(-asr)?(/|$)`, 'i') }).map((r) => `${r.method} ${r.path}`);

async function annotate(scopes: string[]): Promise<void> {
  await kc.makeApiClient(CoreV1Api).patchNamespace({ name: ns, body: { metadata: { annotations: { [AZURE_SCOPES_ANNOTATION]: scopes.join(',') } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
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
  const operatorKc = await chartServiceAccountKubeConfig(kc, 'operator', ns);
  operator = buildOperator({ kubeConfig: operatorKc, azure: azure.azureConfig(), namespace: ns, tenancy: 'namespaced', workers: 2 }).run(stop.signal);
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
});
