// Benchmark of enabling replication at scale (issue 5): N ReplicatedVMs against the ARM emulator with zero
// latency; the operator runs as its own process (so its peak RSS is its own).
// Reports: time from the first ReplicatedVM created to all of them ReplicationEnabled, ARM calls (and
// writes) per VM, and the operator's peak RSS.
// Usage: node bench/operator.ts [--vms 500] [--workers 8] [--groups 10]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import { startControlPlane } from '../sandbox/src/kube/controlplane.ts';
import { startLocalAzure } from '../test/support/local-azure.ts';
import { crClients } from '../test/support/operator-fixtures.ts';

const { values } = parseArgs({ options: { vms: { type: 'string', default: '500' }, workers: { type: 'string', default: '8' }, groups: { type: 'string', default: '10' } } });
const vmCount = Number(values.vms);
const groups = Number(values.groups);
const MAIN = path.join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');

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

const child = spawn(process.execPath, [MAIN, 'operator', '--namespace', ns, '--no-leader-election', '--metrics-port', '0', '--workers', values.workers as string], {
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
let ready = 0;
while (ready < vmIds.length) {
  await new Promise((r) => setTimeout(r, 500));
  const list = await clients.vms.list(ns);
  ready = list.items.filter((o) => o.status?.conditions?.some((c) => c.type === 'ReplicationEnabled' && c.status === 'True')).length;
  if (performance.now() - start > 30 * 60_000) throw new Error(`only ${ready}/${vmIds.length} ready after 30 minutes`);
}
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
};
console.log(JSON.stringify(result, null, 2));
