// Failovers survive their operator being killed (SIGKILL) after every step it completes: each successor
// resumes from status.steps and the request still ends Succeeded, with nothing created twice. A Test
// failover, then an Unplanned one committed and re-protected, killed through every re-protect step too.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import type { FailoverRequest } from '../../src/api/types.ts';
import { buildDatapath } from '../../src/datapath/datapath.ts';
import type { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import type { DatapathSandbox } from '../support/datapath-sandbox.ts';
import { startFailoverFixture } from '../support/failover-fixture.ts';
import type { Clients } from '../support/operator-fixtures.ts';
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

const succeededSteps = (o: FailoverRequest | undefined) => (o?.status?.steps ?? []).filter((s) => s.state === 'Succeeded').length;

/** SIGKILLs the operator (and starts another) each time request `name` completes a step, until `over`. */
async function killAfterEveryStep(name: string, over: (o: FailoverRequest | undefined) => boolean): Promise<number> {
  let kills = 0;
  let seen = succeededSteps(await failovers.get({ namespace: ns, name }));
  for (;;) {
    const fo = await waitForObject(kc, failovers, { namespace: ns, name }, (o) => succeededSteps(o) > seen || over(o), 'the next step', 180_000);
    if (over(fo)) return kills;
    seen = succeededSteps(fo);
    await kill(operator as ChildProcess);
    kills++;
    startOperator();
  }
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

beforeAll(async () => {
  const fx = await startFailoverFixture({ namespacePrefix: 'fo-restart', rg, disks: 2, diskBytes: 8 * 1024 * 1024 });
  ({ sb, kc, ns, clients, failovers } = fx);
  datapathRun = buildDatapath({ kubeConfig: kc, azure: sb.azure, identity: 'dp-restart', namespace: ns, watchNamespace: ns, port: 0, leaseDurationMs: 3000, worker: { cycleIntervalMs: 1500, statusIntervalMs: 500, retryMs: 300 } }).run(stop.signal);
  startOperator();
  await fx.protect();
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
  await failovers.create(ns, { metadata: { name: 'drill' }, spec: { replicatedVMName: 'app', type: 'Test' } });

  const kills = await killAfterEveryStep('drill', (o) => ['Succeeded', 'Failed'].includes(o?.status?.phase ?? ''));
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

it('an Unplanned failover and its re-protect finish without duplicates when the operator is killed after every step', async () => {
  sb.arm.setLatency({ operations: { 'disks.put': 1000, 'networkInterfaces.put': 1000, 'virtualMachines.put': 1000, 'virtualMachines.start': 500, 'virtualMachines.deallocate': 1000 } });
  await failovers.create(ns, { metadata: { name: 'disaster' }, spec: { replicatedVMName: 'app', type: 'Unplanned', commit: true, reprotect: true } });
  const reprotected = (o: FailoverRequest | undefined) => o?.status?.phase === 'Failed' || Boolean(o?.status?.conditions?.some((c) => c.type === 'Reprotected' && (c.status === 'True' || c.reason !== 'Reprotecting')));
  const kills = await killAfterEveryStep('disaster', reprotected);
  const done = await failovers.get({ namespace: ns, name: 'disaster' });
  expect(done?.status?.conditions?.find((c) => c.type === 'Reprotected'), JSON.stringify(done?.status)).toMatchObject({ status: 'True' });
  expect(kills).toBeGreaterThanOrEqual(6);
  expect(done?.status?.steps?.every((s) => s.state === 'Succeeded')).toBe(true);

  // One VM, one NIC, two disks of this failover; one reverse mapping and one reverse ReplicatedVM.
  const inGroup: string[] = [];
  for await (const r of sb.c.resources.resources.listByResourceGroup(`${rg}-asr`)) if (r.name === 'app' || r.name === 'app-nic-asr' || /^app-(os|lun\d+)-asr-/.test(r.name ?? '')) inGroup.push(r.type as string);
  expect(inGroup.sort()).toEqual(['Microsoft.Compute/disks', 'Microsoft.Compute/disks', 'Microsoft.Compute/virtualMachines', 'Microsoft.Network/networkInterfaces']);
  const byLabel = `siterecovery.io/reprotect-of=disaster`;
  expect((await clients.mappings.list(ns, byLabel)).items.map((m) => m.metadata.name)).toEqual(['net-reverse']);
  expect((await clients.vms.list(ns, byLabel)).items.map((v) => v.metadata.name)).toEqual(['app-reverse']);
  sb.arm.setLatency({ operations: { 'disks.put': 0, 'networkInterfaces.put': 0, 'virtualMachines.put': 0, 'virtualMachines.start': 0, 'virtualMachines.deallocate': 0 } });
});
