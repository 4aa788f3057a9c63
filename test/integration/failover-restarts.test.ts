// A test failover survives its operator being killed (SIGKILL) after every step it completes: each
// successor resumes from status.steps and the request still ends Succeeded, with nothing created twice.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import type { FailoverRequest } from '../../src/api/types.ts';
import { buildDatapath } from '../../src/datapath/datapath.ts';
import { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { createSmallVm, startDatapathSandbox, type DatapathSandbox } from '../support/datapath-sandbox.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';
import { crClients, type Clients } from '../support/operator-fixtures.ts';
import { waitForObject } from '../support/wait.ts';

const MAIN = path.join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const rg = 'restart-src';

let sb: DatapathSandbox;
let kc: KubeConfig;
let ns: string;
let clients: Clients;
let failovers: CustomResourceClient<FailoverRequest>;
const stop = new AbortController();
let datapathRun: Promise<void>;
let operator: ChildProcess | undefined;

function startOperator(): ChildProcess {
  const child = spawn(process.execPath, [MAIN, 'operator', '--namespace', ns, '--no-leader-election', '--metrics-port', '0'], {
    env: { ...process.env, ...sb.env, KUBECONFIG: inject('kubeconfigPath'), LOG_LEVEL: 'error', LOG_FORMAT: 'json' },
    stdio: 'ignore',
  });
  operator = child;
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

beforeAll(async () => {
  sb = await startDatapathSandbox();
  kc = testKubeConfig();
  ns = await createTestNamespace(kc, 'fo-restart');
  clients = crClients(kc);
  failovers = new CustomResourceClient<FailoverRequest>(kc, 'FailoverRequest');
  const source = await createSmallVm(sb, rg, 'app', 2, 8 * 1024 * 1024);
  datapathRun = buildDatapath({ kubeConfig: kc, azure: sb.azure, identity: 'dp-restart', namespace: ns, port: 0, leaseDurationMs: 3000, worker: { cycleIntervalMs: 1500, statusIntervalMs: 500, retryMs: 300 } }).run(stop.signal);
  startOperator();
  await clients.policies.create(ns, { metadata: { name: 'fast' }, spec: { recoveryPointInterval: '1m', retention: '1h' } });
  await clients.mappings.create(ns, {
    metadata: { name: 'net' },
    spec: { sourceVirtualNetworkId: `/subscriptions/${sb.arm.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${rg}-vnet`, targetLocation: 'northeurope', targetResourceGroup: `${rg}-asr` },
  });
  await clients.vms.create(ns, { metadata: { name: 'app' }, spec: { sourceVirtualMachineId: source.id as string, targetLocation: 'northeurope', policyRef: { name: 'fast' }, networkMappingRef: { name: 'net' } } });
  await waitForObject(kc, clients.vms, { namespace: ns, name: 'app' }, (o) => o?.status?.phase === 'Protected', 'protected', 180_000);
});

afterAll(async () => {
  if (operator && operator.exitCode === null) await kill(operator);
  stop.abort();
  await datapathRun?.catch(() => undefined);
  await sb?.close();
});

it('ends Succeeded without duplicates when the operator is killed after every step', async () => {
  // Slow long-running operations so that each step is seen on its own.
  sb.arm.setLatency({ operations: { 'disks.put': 1500, 'networkInterfaces.put': 1500, 'virtualMachines.put': 1500, 'virtualMachines.start': 1000 } });
  const succeededSteps = (o: FailoverRequest | undefined) => (o?.status?.steps ?? []).filter((s) => s.state === 'Succeeded').length;
  await failovers.create(ns, { metadata: { name: 'drill' }, spec: { replicatedVMName: 'app', type: 'Test' } });

  let kills = 0;
  let seen = 0;
  for (;;) {
    const fo = await waitForObject(kc, failovers, { namespace: ns, name: 'drill' }, (o) => succeededSteps(o) > seen || ['Succeeded', 'Failed'].includes(o?.status?.phase ?? ''), 'the next step', 120_000);
    if (fo?.status?.phase === 'Succeeded' || fo?.status?.phase === 'Failed') break;
    seen = succeededSteps(fo);
    await kill(operator as ChildProcess);
    kills++;
    startOperator();
  }
  const done = await failovers.get({ namespace: ns, name: 'drill' });
  expect(done?.status?.phase, JSON.stringify(done?.status)).toBe('Succeeded');
  expect(kills).toBeGreaterThanOrEqual(3);

  // Exactly one VM, one NIC and two disks carry the test's suffix in the target resource group.
  const suffix = (done?.status?.targetVirtualMachineId as string).split('/').pop()!.replace(/^app/, '');
  const inGroup: string[] = [];
  for await (const r of sb.c.resources.resources.listByResourceGroup(`${rg}-asr`)) if (r.name?.includes(suffix)) inGroup.push(r.type as string);
  const count = (type: string) => inGroup.filter((t) => t.toLowerCase() === type.toLowerCase()).length;
  expect(count('Microsoft.Compute/virtualMachines')).toBe(1);
  expect(count('Microsoft.Network/networkInterfaces')).toBe(1);
  expect(count('Microsoft.Compute/disks')).toBe(2);
  expect(done?.status?.targetResources).toHaveLength(4);
  sb.arm.setLatency({ operations: { 'disks.put': 0, 'networkInterfaces.put': 0, 'virtualMachines.put': 0, 'virtualMachines.start': 0 } });
});
