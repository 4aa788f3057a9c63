// Benchmark of enabling replication at scale (issue 5): N ReplicatedVMs against the ARM emulator with zero
// latency; the operator runs as its own process (so its peak RSS is its own).
// Reports: time from the first ReplicatedVM created to all of them ReplicationEnabled, ARM calls (and
// writes) per VM, and the operator's peak RSS.
// Usage: node bench/operator.ts [--vms=500] [--workers=8] [--groups=10] [--node-options="<the operator's Node options; default: the chart's operator.nodeOptions>"]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import YAML from 'yaml';
import { startControlPlane } from '../sandbox/src/kube/controlplane.ts';
import { startLocalAzure } from '../test/support/local-azure.ts';
import { crClients } from '../test/support/operator-fixtures.ts';
import type { ReplicatedVM } from '../src/api/types.ts';
import { Informer } from '../src/runtime/informer.ts';

const { values } = parseArgs({ options: { vms: { type: 'string', default: '500' }, workers: { type: 'string', default: '8' }, groups: { type: 'string', default: '10' }, 'node-options': { type: 'string' } } });
const vmCount = Number(values.vms);
const groups = Number(values.groups);
const MAIN = path.join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');

/** The operator's Node options as the chart launches it (values.yaml, operator.nodeOptions). */
function operatorNodeOptions(): string {
  const chartValues = YAML.parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'charts', 'site-recovery-operator', 'values.yaml'), 'utf8')) as { operator?: { nodeOptions?: string } };
  return chartValues.operator?.nodeOptions ?? '';
}

const cp = await startControlPlane({});
const azure = await startLocalAzure({ latency: 0 });
const clients = crClients(cp.kubeConfig);
const ns = 'bench';
await cp.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });

// Source estate: `groups` resource groups (each with its network and mapping), VMs spread across them.
console.error(`creating ${vmCount} source VMs in ${groups} resource groups...`);
const t0 = performance.now();
await clients.policies.create(ns, { metadata: { name: 'standard' }, spec: {} });
const vmIds: Array<{ name: string; id: string; group: number }> = [];
for (let g = 0; g < groups; g++) {
  const rg = `app${g}`;
  const names = Array.from({ length: Math.ceil(vmCount / groups) }, (_, i) => `vm-${g}-${i}`).slice(0, vmCount - vmIds.length);
  await azure.createVm({ name: names[0] as string, resourceGroup: rg, dataDisks: 1 });
  vmIds.push({ name: names[0] as string, id: `/subscriptions/${azure.arm.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${names[0]}`, group: g });
  for (let i = 1; i < names.length; i += 16) {
    await Promise.all(names.slice(i, i + 16).map(async (name) => {
      const vm = await azure.createVm({ name, resourceGroup: rg, dataDisks: 1 });
      vmIds.push({ name, id: vm.id as string, group: g });
    }));
  }
  await clients.mappings.create(ns, { metadata: { name: `net${g}` }, spec: { sourceVirtualNetworkId: `/subscriptions/${azure.arm.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${rg}-vnet`, targetLocation: 'northeurope', targetResourceGroup: `${rg}-asr` } });
}
console.error(`source estate ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

// OPERATOR_HEAP_PROF=<dir>: the operator runs under Node's sampling heap profiler (--heap-prof), which
// writes where its live memory was allocated into <dir> when it exits (open it in Chrome DevTools).
// OPERATOR_CPU_PROF=<dir>: the same with Node's CPU profiler (--cpu-prof): where the operator's time goes.
const heapProf = process.env.OPERATOR_HEAP_PROF ? ['--heap-prof', `--heap-prof-dir=${process.env.OPERATOR_HEAP_PROF}`] : [];
const cpuProf = process.env.OPERATOR_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.OPERATOR_CPU_PROF}`] : [];
// The operator's V8 flags: the chart's (operatorNodeOptions), unless --node-options says otherwise.
const nodeOptions = (values['node-options'] ?? operatorNodeOptions()).split(/\s+/).filter(Boolean);
const child = spawn(process.execPath, [...nodeOptions, ...heapProf, ...cpuProf, MAIN, 'operator', '--namespace', ns, '--no-leader-election', '--metrics-port', '0', '--workers', values.workers as string], {
  env: { ...process.env, ...azure.env(), KUBECONFIG: cp.kubeconfigPath, LOG_LEVEL: 'error', LOG_FORMAT: 'json' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
let peakRssKiB = 0;
const sampleRss = () => {
  try {
    const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
    if (hwm) peakRssKiB = Math.max(peakRssKiB, Number(hwm[1]));
  } catch {
    // process gone
  }
};
const sampler = setInterval(sampleRss, 200);

azure.arm.stats.reset();
const start = performance.now();
for (let i = 0; i < vmIds.length; i += 50) {
  await Promise.all(vmIds.slice(i, i + 50).map((vm) => clients.vms.create(ns, { metadata: { name: vm.name }, spec: { sourceVirtualMachineId: vm.id, targetLocation: 'northeurope', policyRef: { name: 'standard' }, networkMappingRef: { name: `net${vm.group}` } } })));
}
// Counted from a watch (an informer), not by listing every VM every 500 ms: a list of 1,000 VMs with their
// status, twice a second, loaded the API server and this process (which is also the ARM emulator) more
// with every VM, and so slowed the operator it measures more at 1,000 than at 100.
const enabled = new Set<string>();
const watched = new Informer<ReplicatedVM>(cp.kubeConfig, clients.vms.path(ns), async () => (await clients.vms.list(ns)) as never);
const allEnabled = new Promise<void>((resolve) => {
  const look = (o: ReplicatedVM) => {
    if (o.status?.conditions?.some((c) => c.type === 'ReplicationEnabled' && c.status === 'True')) enabled.add(o.metadata.name ?? '');
    if (enabled.size >= vmIds.length) resolve();
  };
  watched.on('add', look);
  watched.on('update', look);
});
await watched.start();
const timeout = setTimeout(() => {
  console.error(`only ${enabled.size}/${vmIds.length} ready after 30 minutes`);
  process.exit(1);
}, 30 * 60_000);
await allEnabled;
clearTimeout(timeout);
await watched.stop();
const seconds = (performance.now() - start) / 1000;
sampleRss();
clearInterval(sampler);
const byOperation = Object.entries(azure.arm.stats.byOperation());
const calls = byOperation.reduce((sum, [, n]) => sum + n, 0);
const writes = byOperation.filter(([op]) => !/^(GET|LIST|HEAD)\b/i.test(op)).reduce((sum, [, n]) => sum + n, 0);
child.kill('SIGTERM');
await new Promise((r) => child.on('exit', r));
await azure.stop();
await cp.stop();

const result = {
  vms: vmIds.length,
  workers: Number(values.workers),
  secondsToAllReplicationEnabled: Number(seconds.toFixed(1)),
  vmsPerSecond: Number((vmIds.length / seconds).toFixed(2)),
  armCallsPerVm: Number((calls / vmIds.length).toFixed(1)),
  armWritesPerVm: Number((writes / vmIds.length).toFixed(2)),
  operatorPeakRssMiB: Number((peakRssKiB / 1024).toFixed(1)),
  // The machine is shared: its 1, 5 and 15-minute load averages when the run ended.
  loadAverage: os.loadavg().map((l) => Number(l.toFixed(1))),
};
console.log(JSON.stringify(result, null, 2));
