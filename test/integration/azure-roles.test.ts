// The shipped Azure roles (deploy/azure-roles/*.json), proven against the ARM emulator enforcing role
// assignments: the operator and the datapath call ARM as distinct principals.
//  1. Each action of the operator role is needed, and its absence stops the step that needs it with reason
//     AuthorizationFailed naming it: the scenario (replicate, Test failover, cleanup, Planned failover) starts
//     with none of the operator's actions; each time ARM refuses one, the test finds the condition naming it
//     and grants it back, so every action is removed exactly while it is first needed. The datapath starts
//     with none of its data actions likewise: each blob operation the storage front refuses (403
//     AuthorizationPermissionMismatch) shows as a ReplicationError event of the ReplicatedVM naming the data
//     action, and is granted back.
//  2. Replicate, Test failover and cleanup of another VM pass with exactly the shipped roles, nothing refused.
//  3. `sandbox up --azure-rbac`: the env file's operator token holds the shipped role, nothing more; /_sandbox/rbac.
import { on } from 'node:events';
import fs from 'node:fs';
import { ResourceManagementClient } from '@azure/arm-resources';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Condition } from '../../src/api/types.ts';
import type { CustomObject, CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { waitForObject as waitUntil } from '../../src/kube/wait-for-object.ts';
import type { Denial, RoleDefinition } from '../../sandbox/src/arm/index.ts';
import { sandboxRbac, shippedRole } from '../../sandbox/src/azure-roles.ts';
import { SANDBOX_PRINCIPALS } from '../../sandbox/src/storage/token.ts';
import { CoreV1Api, Watch, type CoreV1Event } from '@kubernetes/client-node';
import { finished, startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import { waitForObject } from '../support/wait.ts';
import { staticTokenCredential } from '../../sandbox/src/arm/credential.ts';
import { connectSandbox } from '../../sandbox/src/client.ts';
import { envFile, parseEnvFile } from '../../sandbox/src/state.ts';
import { startSandboxProcess } from '../support/sandbox-process.ts';

const DISK_BYTES = 4 * 1024 * 1024;
/**
 * Role actions this scenario does not need: used by other suites, which run under enforcement with exactly
 * the shipped roles and end asserting nothing was refused (test/support/shipped-roles.ts): re-protect
 * deallocates (failover-reprotect, failover-outage), VM shapes use availability sets (failover-vm-shape),
 * networks use NSGs (failover-networks), removing a VM's replication deletes what it created; or asked for by
 * ARM's linked checks, which the emulator does not make.
 */
const OUTSIDE_SCENARIO = {
  operator: [
    'Microsoft.Compute/availabilitySets/read',
    'Microsoft.Compute/availabilitySets/write',
    'Microsoft.Compute/restorePointCollections/delete',
    'Microsoft.Compute/virtualMachines/deallocate/action',
    'Microsoft.Network/networkInterfaces/join/action', // linked: a VM using a NIC
    'Microsoft.Network/networkSecurityGroups/delete',
    'Microsoft.Network/networkSecurityGroups/join/action', // linked: a NIC using an NSG
    'Microsoft.Network/networkSecurityGroups/read',
    'Microsoft.Network/networkSecurityGroups/write',
    'Microsoft.Network/virtualNetworks/subnets/join/action', // linked: a NIC in a subnet
    'Microsoft.Resources/subscriptions/resourceGroups/resources/read',
    'Microsoft.Storage/storageAccounts/blobServices/containers/delete',
    'Microsoft.Storage/storageAccounts/delete',
    // A failed-over VM's public IPs, load balancer pools, application security groups, encryption sets and
    // placement groups (failover-networks, failover-vm-shape); a scheduled drill's verification (drill-schedule).
    'Microsoft.Compute/capacityReservationGroups/read',
    'Microsoft.Compute/capacityReservationGroups/deploy/action', // linked: a VM in a capacity reservation group
    'Microsoft.Compute/diskEncryptionSets/read',
    'Microsoft.Compute/proximityPlacementGroups/read',
    'Microsoft.Compute/snapshots/beginGetAccess/action',
    'Microsoft.Compute/snapshots/delete',
    'Microsoft.Compute/snapshots/endGetAccess/action',
    'Microsoft.Compute/snapshots/write',
    'Microsoft.Network/applicationSecurityGroups/read',
    'Microsoft.Network/applicationSecurityGroups/joinIpConfiguration/action', // linked: a NIC in the group
    'Microsoft.Network/loadBalancers/read',
    'Microsoft.Network/loadBalancers/backendAddressPools/join/action', // linked: a NIC in a pool
    // A network mapping's mirrors of its source subnets' route tables (failover-networks).
    'Microsoft.Network/routeTables/delete',
    'Microsoft.Network/routeTables/join/action', // linked: a subnet with a route table
    'Microsoft.Network/routeTables/read',
    'Microsoft.Network/routeTables/write',
    'Microsoft.Network/publicIPAddresses/delete',
    'Microsoft.Network/publicIPAddresses/read',
    'Microsoft.Network/publicIPAddresses/write',
    'Microsoft.Network/publicIPAddresses/join/action', // linked: a NIC using the address
    // Removing what the operator created when a person asks (failover-target-subscription: deletionPolicy
    // Delete; a deleted NetworkMapping's networks).
    'Microsoft.Network/virtualNetworks/delete',
    'Microsoft.Resources/subscriptions/resourceGroups/delete',
  ],
  datapath: [
    'Microsoft.Compute/disks/beginGetAccess/action', // re-protect's seed disks
    'Microsoft.Compute/disks/endGetAccess/action',
    'Microsoft.Compute/virtualMachines/runCommand/action', // a quiesced consistency group (consistency-group.test.ts)
  ],
};

/**
 * The operator's polls of its long-running operations (src/azure/operation-polls.ts): used, but a refused
 * poll falls back to reading the resource's own state, so no step stops without them. Granted throughout.
 */
const OPERATION_POLLS = ['Microsoft.Compute/locations/operations/read', 'Microsoft.Network/locations/operations/read'];

/**
 * Data actions of the roles this scenario may not need: the operator's are a scheduled drill's verification
 * (drill-schedule.test.ts: it reads a replica snapshot and stages, then deletes, scratch blobs beside it) and
 * the background verification of a sealed point (point-verification.test.ts), which here runs once the VM's
 * first point is sealed — or not yet, by the time the scenario ends.
 */
const DATA_OUTSIDE_SCENARIO = {
  operator: [
    'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read',
    'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write',
    'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete',
  ],
  datapath: [] as string[],
};

let fx: FailoverFixture;
const operatorRole = shippedRole('operator');
const datapathRole = shippedRole('datapath');

beforeAll(async () => {
  fx = await startFailoverFixture({ namespacePrefix: 'azure-roles', rg: 'roles-src', disks: 1, diskBytes: DISK_BYTES, principals: true });
  // Long-running operations answer 201/202 and are polled, as in Azure: the polls need their actions too.
  fx.sb.arm.setLatency(20);
});

afterAll(async () => {
  await fx?.close();
});

const rolesWith = (actions: string[], dataActions: string[] = datapathRole.DataActions ?? []): void => {
  fx.sb.arm.rbac.configure(
    sandboxRbac(fx.sb.arm.subscriptionId, {
      operator: { ...operatorRole, Actions: actions } satisfies RoleDefinition,
      datapath: { ...datapathRole, DataActions: dataActions } satisfies RoleDefinition,
    }),
  );
};

/** The ReplicationError event of the ReplicatedVM naming data action `action` (a watch from the current list). */
async function eventNaming(action: string): Promise<string> {
  const selector = `involvedObject.name=${fx.vmName},reason=ReplicationError`;
  const names = (e: CoreV1Event) => (e.message ?? '').includes(`'${action}'`);
  const list = await fx.kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: fx.ns, fieldSelector: selector });
  const hit = list.items.find(names);
  if (hit) return `ReplicatedVM/${fx.vmName} event ${hit.reason}: ${hit.message}`;
  return new Promise((resolve, reject) => {
    let request: { abort(): void } | undefined;
    const timer = setTimeout(() => finish(new Error(`no ReplicationError event naming ${action}`)), 30_000);
    const finish = (error?: Error, e?: CoreV1Event) => {
      clearTimeout(timer);
      request?.abort();
      if (error) reject(error);
      else resolve(`ReplicatedVM/${fx.vmName} event ${e!.reason}: ${e!.message}`);
    };
    void new Watch(fx.kc)
      .watch(`/api/v1/namespaces/${fx.ns}/events`, { fieldSelector: selector, resourceVersion: list.metadata?.resourceVersion }, (phase: string, e: CoreV1Event) => {
        if (phase !== 'DELETED' && names(e)) finish(undefined, e);
      }, (error?: unknown) => finish(new Error(`event watch ended: ${String(error)}`)))
      .then((r) => (request = r), (error: unknown) => finish(error instanceof Error ? error : new Error(String(error))));
  });
}

/** The object of the scenario whose condition has reason AuthorizationFailed naming `action`. */
async function conditionNaming(action: string): Promise<string> {
  const c = fx.clients;
  const candidates: Array<[CustomResourceClient<CustomObject>, string]> = [
    [c.policies as never, 'fast'], [c.mappings as never, 'net'], [c.vms as never, fx.vmName], [fx.failovers as never, 'drill'], [fx.failovers as never, 'move'],
  ];
  const names = (o: CustomObject | undefined): Condition | undefined =>
    ((o?.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).find((x) => x.reason === 'AuthorizationFailed' && (x.message ?? '').includes(`'${action}'`));
  const stop = new AbortController();
  try {
    return await Promise.any(
      candidates.map(async ([client, name]) => {
        const o = await waitUntil(fx.kc, client, { namespace: fx.ns, name }, (x) => names(x) !== undefined, { what: `${name}: AuthorizationFailed naming ${action}`, timeoutMs: 30_000, signal: stop.signal });
        return `${client.kind}/${name} ${names(o)!.type}`;
      }),
    );
  } finally {
    stop.abort();
  }
}

async function scenario(): Promise<void> {
  const ref = (name: string) => ({ namespace: fx.ns, name });
  await fx.protect(1);
  await fx.failovers.create(fx.ns, { metadata: { name: 'drill' }, spec: { replicatedVMName: fx.vmName, type: 'Test' } });
  expect((await waitForObject(fx.kc, fx.failovers, ref('drill'), finished, 'test failover done', 60_000))?.status?.phase).toBe('Succeeded');
  await fx.failovers.delete(ref('drill'));
  await waitForObject(fx.kc, fx.failovers, ref('drill'), (o) => o === undefined, 'test failover cleaned up');
  await fx.failovers.create(fx.ns, { metadata: { name: 'move' }, spec: { replicatedVMName: fx.vmName, type: 'Planned' } });
  expect((await waitForObject(fx.kc, fx.failovers, ref('move'), finished, 'planned failover done', 60_000))?.status?.phase).toBe('Succeeded');
}

describe('shipped Azure roles under enforcement', () => {
  it('stops the step that needs each operator action and each datapath data action, naming it', async () => {
    const pending = new Set(operatorRole.Actions.filter((a) => !OPERATION_POLLS.includes(a)));
    const pendingData = new Set(datapathRole.DataActions ?? []);
    const grant = () => rolesWith(operatorRole.Actions.filter((a) => !pending.has(a)), (datapathRole.DataActions ?? []).filter((a) => !pendingData.has(a)));
    rolesWith(OPERATION_POLLS, []);
    await fx.runInProcess('dp-azure-roles', { backoff: { baseDelayMs: 100, maxDelayMs: 400, jitter: 0.2 } });
    const proven: Record<string, string> = {};
    const others: Denial[] = [];
    const done = new AbortController();
    const run = scenario().finally(() => done.abort());
    try {
      for await (const [d] of on(fx.sb.arm.rbac.events, 'denied', { signal: done.signal }) as AsyncIterable<[Denial]>) {
        const same = (a: string) => a.toLowerCase() === d.action.toLowerCase();
        const dataAction = d.dataAction && d.principalId === SANDBOX_PRINCIPALS.datapath ? (datapathRole.DataActions ?? []).find(same) : undefined;
        const action = !d.dataAction && d.principalId === SANDBOX_PRINCIPALS.operator ? operatorRole.Actions.find(same) : undefined;
        if (!action && !dataAction) others.push(d);
        if (dataAction && pendingData.has(dataAction)) {
          proven[dataAction] = await eventNaming(dataAction);
          pendingData.delete(dataAction);
          grant();
        }
        if (!action || !pending.has(action)) continue; // refused before it was granted back
        proven[action] = await conditionNaming(action);
        pending.delete(action);
        grant();
      }
    } catch (e) {
      if (!done.signal.aborted) throw e;
    }
    await run;
    expect(others, 'refused beyond the operator role').toEqual([]);
    expect([...pending].sort(), 'operator actions the scenario never needed').toEqual([...OUTSIDE_SCENARIO.operator].sort());
    expect([...pendingData].sort(), 'datapath data actions the scenario never needed').toEqual(DATA_OUTSIDE_SCENARIO.datapath);
    // The operator's data actions are its verifications' (a point's in the background here, maybe not yet).
    const operatorUsed = fx.sb.arm.rbac.audit()[SANDBOX_PRINCIPALS.operator] ?? [];
    expect(DATA_OUTSIDE_SCENARIO.operator).toEqual(expect.arrayContaining((operatorRole.DataActions ?? []).filter((a) => !operatorUsed.includes(a))));
    // The datapath held exactly its role all along: it used every action of it the scenario can need.
    const used = fx.sb.arm.rbac.audit()[SANDBOX_PRINCIPALS.datapath] ?? [];
    expect(shippedRole('datapath').Actions.filter((a) => !used.includes(a)), 'datapath actions never used').toEqual(OUTSIDE_SCENARIO.datapath);
    console.log(`operator action or datapath data action → where its absence shows:\n${Object.entries(proven).map(([a, w]) => `  ${a} → ${w}`).join('\n')}`);
  });

  it('replicates, fails over for a test and cleans up another VM with exactly the shipped roles', async () => {
    fx.sb.arm.rbac.configure(sandboxRbac(fx.sb.arm.subscriptionId));
    fx.sb.arm.rbac.resetAudit();
    const vm = await fx.protectVm({ rg: 'roles-two', name: 'two', location: 'westeurope', disks: 1 });
    const ref = { namespace: fx.ns, name: 'drill-two' };
    await fx.failovers.create(fx.ns, { metadata: { name: 'drill-two' }, spec: { replicatedVMName: 'two', type: 'Test' } });
    const fo = await waitForObject(fx.kc, fx.failovers, ref, finished, 'test failover done', 60_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    await fx.failovers.delete(ref);
    await waitForObject(fx.kc, fx.failovers, ref, (o) => o === undefined, 'test failover cleaned up');
    expect(vm.sourceVmId).toContain('/roles-two/');
    expect(fx.sb.arm.rbac.denied()).toEqual([]);
    const audit = fx.sb.arm.rbac.audit();
    expect(audit[SANDBOX_PRINCIPALS.operator]?.length).toBeGreaterThan(0);
    expect(audit[SANDBOX_PRINCIPALS.datapath]?.length).toBeGreaterThan(0);
  });
});

describe('sandbox up --azure-rbac', () => {
  it("gives the operator's token exactly the shipped role, audits what it did, and can be turned off at run time", async () => {
    const sandbox = await startSandboxProcess('azure-roles-up', '--azure-rbac');
    try {
      const conn = connectSandbox(sandbox.dir);
      const env = parseEnvFile(fs.readFileSync(envFile(sandbox.dir), 'utf8'));
      const as = (token: string) => new ResourceManagementClient(staticTokenCredential(token), conn.subscriptionId, { endpoint: conn.endpoint });
      const operator = as(env.SITE_RECOVERY_OPERATOR_ACCESS_TOKEN!);
      await operator.resourceGroups.createOrUpdate('roles-up', { location: 'westeurope' });
      // Listing every resource of the subscription is not in the operator's role (it lists one group's). The
      // bare SDK's pager drops the 403 body (our clients keep it: arm-error-body.ts); the refusal below names it.
      await expect(operator.resources.list().next()).rejects.toMatchObject({ statusCode: 403 });
      await expect(as(env.SITE_RECOVERY_DATAPATH_ACCESS_TOKEN!).resourceGroups.get('roles-up')).rejects.toMatchObject({ statusCode: 403 });
      // The control endpoint: the audit and the refusals; a malformed change is refused; enforcement off at run time.
      const control = (method: string, body?: unknown) =>
        fetch(`${conn.endpoint}/_sandbox/rbac`, { method, headers: { Authorization: `Bearer ${conn.token}`, 'Content-Type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
      const seen = (await (await control('GET')).json()) as { enabled: boolean; audit: Record<string, string[]>; denied: Denial[] };
      expect(seen.enabled).toBe(true);
      expect(seen.audit[SANDBOX_PRINCIPALS.operator]).toContain('Microsoft.Resources/subscriptions/resourceGroups/write');
      expect(seen.denied.map((d) => `${d.principalId} ${d.action}`)).toContain(`${SANDBOX_PRINCIPALS.operator} Microsoft.Resources/subscriptions/resources/read`);
      expect((await control('PUT', { assignments: [{ principalId: 'x' }] })).status).toBe(400);
      expect((await control('PUT', { enabled: false })).status).toBe(200);
      await operator.resources.list().next();
      await operator.resourceGroups.beginDeleteAndWait('roles-up', { updateIntervalInMs: 50 });
    } finally {
      await sandbox.down();
    }
  });
});
