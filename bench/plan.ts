// Recovery plan failover (issue 19): a Test failover of a plan of N protected VMs in G groups, from the
// request to the last VM running, with the ARM emulator at a latency profile (disk import, NIC and VM
// creation scaled from the times Azure shows, as bench/failover.ts). The ARM critical path is, per group,
// one disk import, one NIC and one VM creation per wave of `parallelism` VMs (the members of a wave run
// side by side); the operator's share is the total less that critical path: queueing on the operator's
// workers, the API server, the member requests' own passes and the hand-offs between groups.
// Usage: node bench/plan.ts [--vms 100] [--groups 5] [--scale 0.05]
import { parseArgs } from 'node:util';
import type { RecoveryPlan } from '../src/api/types.ts';
import { CustomResourceClient } from '../src/kube/custom-resources.ts';
import { createSmallVm } from '../test/support/datapath-sandbox.ts';
import { startHarness, until } from './lib/harness.ts';

const { values } = parseArgs({ options: { vms: { type: 'string', default: '100' }, groups: { type: 'string', default: '5' }, scale: { type: 'string', default: '0.05' } } });
const vmCount = Number(values.vms);
const groupCount = Number(values.groups);
const scale = Number(values.scale);
const parallelism = 20;
const latency = { 'disks.put': 30_000 * scale, 'networkInterfaces.put': 5_000 * scale, 'virtualMachines.put': 60_000 * scale };

const { sb, ns, clients, failovers, kc, close } = await startHarness('bench-plan', 2000);
const rg = 'bench-plan-src';
const names = Array.from({ length: vmCount }, (_, i) => `vm-${String(i).padStart(3, '0')}`);
for (const name of names) await createSmallVm(sb, rg, name, 1, 1024 * 1024);
await clients.policies.create(ns, { metadata: { name: 'p' }, spec: { recoveryPointInterval: '1m' } });
await clients.mappings.create(ns, { metadata: { name: 'net' }, spec: { sourceVirtualNetworkId: `/subscriptions/${sb.arm.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Network/virtualNetworks/${rg}-vnet`, targetLocation: 'northeurope', targetResourceGroup: `${rg}-asr` } });
for (const name of names) {
  const sourceVirtualMachineId = `/subscriptions/${sb.arm.subscriptionId}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${name}`;
  await clients.vms.create(ns, { metadata: { name }, spec: { sourceVirtualMachineId, targetLocation: 'northeurope', policyRef: { name: 'p' }, networkMappingRef: { name: 'net' } } });
}
const protectStart = performance.now();
await until(() => clients.vms.list(ns), (l) => l.items.filter((v) => v.status?.phase === 'Protected' && v.status.lastRecoveryPoint).length === vmCount, 3_600_000, 1000);
const protectSeconds = (performance.now() - protectStart) / 1000;

const plans = new CustomResourceClient<RecoveryPlan>(kc, 'RecoveryPlan');
const perGroup = Math.ceil(vmCount / groupCount);
const groups = Array.from({ length: groupCount }, (_, g) => ({ name: `g${g}`, replicatedVMs: names.slice(g * perGroup, (g + 1) * perGroup) })).filter((g) => g.replicatedVMs.length);
await plans.create(ns, { metadata: { name: 'bench' }, spec: { parallelism, groups } });

sb.arm.setLatency({ default: 0, operations: latency });
const t0 = performance.now();
await failovers.create(ns, { metadata: { name: 'drill' }, spec: { recoveryPlanName: 'bench', type: 'Test' } });
const fo = await until(() => failovers.get({ namespace: ns, name: 'drill' }), (o) => ['Succeeded', 'Failed'].includes(o?.status?.phase ?? ''), 3_600_000, 250);
const totalSeconds = (performance.now() - t0) / 1000;
if (fo?.status?.phase !== 'Succeeded') throw new Error(`plan failover failed: ${JSON.stringify(fo?.status?.conditions)}`);
sb.arm.setLatency(0);
await close();

const waves = groups.reduce((n, g) => n + Math.ceil(g.replicatedVMs.length / parallelism), 0);
const armCriticalPathSeconds = (waves * (latency['disks.put'] + latency['networkInterfaces.put'] + latency['virtualMachines.put'])) / 1000;
const seconds = (a?: string, b?: string) => Number(((new Date(b as string).getTime() - new Date(a as string).getTime()) / 1000).toFixed(2));
console.log(JSON.stringify({
  vms: vmCount,
  groups: groups.length,
  parallelism,
  protectSeconds: Number(protectSeconds.toFixed(1)),
  latencyMs: latency,
  requestToLastVmRunningSeconds: Number(totalSeconds.toFixed(2)),
  groupSeconds: Object.fromEntries((fo.status.groups ?? []).map((g) => [g.name, seconds(g.startedAt, g.completedAt)])),
  armCriticalPathSeconds,
  operatorShareSeconds: Number((totalSeconds - armCriticalPathSeconds).toFixed(2)),
  operatorShareRatio: Number(((totalSeconds - armCriticalPathSeconds) / totalSeconds).toFixed(3)),
}, null, 2));
