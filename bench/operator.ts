// Benchmark of enabling replication at scale (issue 5): N ReplicatedVMs against the ARM emulator with zero
// latency; the operator runs as its own process (so its peak RSS is its own).
// Reports: time from the first ReplicatedVM created to all of them ReplicationEnabled, ARM calls (and
// writes) per VM, and the operator's peak RSS.
// Usage: node bench/operator.ts [--vms=500] [--workers=8] [--groups=10] [--node-options="<the operator's Node options; default: the chart's operator.nodeOptions>"]
import os from 'node:os';
import { parseArgs } from 'node:util';
import { CoreV1Api } from '@kubernetes/client-node';
import { startControlPlane } from '../sandbox/src/kube/controlplane.ts';
import { startLocalAzure } from '../test/support/local-azure.ts';
import { crClients } from '../test/support/operator-fixtures.ts';
import { createSourceEstate, enableAll, spawnOperator } from './lib/operator-fleet.ts';
import { peakRss } from './lib/process-rss.ts';

const { values } = parseArgs({ options: { vms: { type: 'string', default: '500' }, workers: { type: 'string', default: '8' }, groups: { type: 'string', default: '10' }, 'node-options': { type: 'string' } } });
const vmCount = Number(values.vms);
const groups = Number(values.groups);


const cp = await startControlPlane({});
const azure = await startLocalAzure({ latency: 0 });
const clients = crClients(cp.kubeConfig);
const ns = 'bench';
await cp.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });

// Source estate: `groups` resource groups (each with its network and mapping), VMs spread across them.
console.error(`creating ${vmCount} source VMs in ${groups} resource groups...`);
const t0 = performance.now();
const vmIds = await createSourceEstate(azure, clients, ns, vmCount, groups);
console.error(`source estate ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const child = spawnOperator(cp, azure, ns, values.workers as string, values['node-options']);
const rss = peakRss(child.pid);

azure.arm.stats.reset();
const start = performance.now();
await enableAll(cp, clients, ns, vmIds);
const seconds = (performance.now() - start) / 1000;
rss.stop();
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
  operatorPeakRssMiB: Number(rss.peakMiB.toFixed(1)),
  // What the ARM calls are, per VM, most frequent first (a reconcile reads the source VM once: its GET
  // per VM is about the reconciles per VM).
  armCallsPerVmByOperation: Object.fromEntries(byOperation.sort(([, a], [, b]) => b - a).map(([op, n]) => [op, Number((n / vmIds.length).toFixed(2))])),
  // The machine is shared: its 1, 5 and 15-minute load averages when the run ended.
  loadAverage: os.loadavg().map((l) => Number(l.toFixed(1))),
};
console.log(JSON.stringify(result, null, 2));
