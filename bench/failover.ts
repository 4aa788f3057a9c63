// Failover RTO (issue 7): a Test failover from request to target VM running, with the ARM emulator at
// zero latency (the operator's and emulator's own cost) and at a realistic latency profile (disk import,
// NIC and VM creation times as Azure shows them). The operator's share is the RTO less the ARM time on the
// critical path (disks in parallel, then NICs, then the VM).
// Usage: node bench/failover.ts [--scale 1]   (--scale 0.1 shrinks the realistic profile for a quick run)
import { parseArgs } from 'node:util';
import { createSmallVm } from '../test/support/datapath-sandbox.ts';
import { startHarness, until } from './lib/harness.ts';

const { values } = parseArgs({ options: { scale: { type: 'string', default: '1' } } });
const scale = Number(values.scale);
const realistic = { 'disks.put': 30_000, 'networkInterfaces.put': 5_000, 'virtualMachines.put': 60_000, 'virtualMachines.start': 0 };
const criticalPathMs = (realistic['disks.put'] + realistic['networkInterfaces.put'] + realistic['virtualMachines.put']) * scale;

const { sb, ns, clients, failovers, close } = await startHarness('bench-failover', 2000);
const source = await createSmallVm(sb, 'bench-src', 'app', 3, 64 * 1024 * 1024);
await clients.policies.create(ns, { metadata: { name: 'p' }, spec: { recoveryPointInterval: '1m' } });
await clients.mappings.create(ns, { metadata: { name: 'net' }, spec: { sourceVirtualNetworkId: `/subscriptions/${sb.arm.subscriptionId}/resourceGroups/bench-src/providers/Microsoft.Network/virtualNetworks/bench-src-vnet`, targetLocation: 'northeurope', targetResourceGroup: 'bench-src-asr' } });
await clients.vms.create(ns, { metadata: { name: 'app' }, spec: { sourceVirtualMachineId: source.id as string, targetLocation: 'northeurope', policyRef: { name: 'p' }, networkMappingRef: { name: 'net' } } });

await until(() => clients.vms.get({ namespace: ns, name: 'app' }), (o) => o?.status?.phase === 'Protected', 300_000);

async function drill(name: string): Promise<{ rtoSeconds: number; measuredSeconds: number }> {
  const t0 = performance.now();
  await failovers.create(ns, { metadata: { name }, spec: { replicatedVMName: 'app', type: 'Test' } });
  const fo = await until(() => failovers.get({ namespace: ns, name }), (o) => ['Succeeded', 'Failed'].includes(o?.status?.phase ?? ''), 600_000);
  if (fo?.status?.phase !== 'Succeeded') throw new Error(`failover ${name} failed: ${JSON.stringify(fo?.status?.conditions)}`);
  const measuredSeconds = (performance.now() - t0) / 1000;
  await failovers.delete({ namespace: ns, name });
  await until(() => failovers.get({ namespace: ns, name }), (o) => o === undefined, 300_000);
  return { rtoSeconds: fo.status.rtoSeconds ?? 0, measuredSeconds };
}

sb.arm.setLatency(0);
const zero = await drill('zero-latency');
sb.arm.setLatency({ default: 0, operations: Object.fromEntries(Object.entries(realistic).map(([k, v]) => [k, v * scale])) });
const real = await drill('realistic');
await close();

console.log(JSON.stringify({
  disks: 3,
  zeroLatency: { rtoSeconds: Number(zero.measuredSeconds.toFixed(2)) },
  realisticProfile: {
    latencyMs: Object.fromEntries(Object.entries(realistic).map(([k, v]) => [k, v * scale])),
    rtoSeconds: Number(real.measuredSeconds.toFixed(2)),
    armCriticalPathSeconds: criticalPathMs / 1000,
    operatorShareSeconds: Number((real.measuredSeconds - criticalPathMs / 1000).toFixed(2)),
    operatorShareRatio: Number(((real.measuredSeconds - criticalPathMs / 1000) / real.measuredSeconds).toFixed(3)),
  },
}, null, 2));
