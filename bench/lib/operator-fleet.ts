// What the operator benchmarks share (bench/operator.ts, bench/fleet.ts): a source estate of N VMs in G
// resource groups (each with its network and a NetworkMapping), the operator as its own process (so its
// peak RSS is its own), and enabling replication of every VM, counted from a watch.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { ControlPlane } from '../../sandbox/src/kube/controlplane.ts';
import type { ReplicatedVM } from '../../src/api/types.ts';
import { Informer } from '../../src/runtime/informer.ts';
import type { LocalAzure } from '../../test/support/local-azure.ts';
import type { Clients } from '../../test/support/operator-fixtures.ts';

const MAIN = path.join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

export interface SourceVm {
  name: string;
  id: string;
  group: number;
}

/** `vmCount` source VMs (one data disk each) spread over `groups` resource groups, a mapping per group, policy `standard`. */
export async function createSourceEstate(azure: LocalAzure, clients: Clients, ns: string, vmCount: number, groups: number): Promise<SourceVm[]> {
  await clients.policies.create(ns, { metadata: { name: 'standard' }, spec: {} });
  const vmIds: SourceVm[] = [];
  for (let g = 0; g < groups; g++) {
    const rg = `app${g}`;
    const names = Array.from({ length: Math.ceil(vmCount / groups) }, (_, i) => `vm-${g}-${i}`).slice(0, vmCount - vmIds.length);
    if (!names.length) break;
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
  return vmIds;
}

/** The operator's Node options as the chart launches it (values.yaml, operator.nodeOptions). */
function operatorNodeOptions(): string {
  const chartValues = YAML.parse(fs.readFileSync(path.join(import.meta.dirname, '..', '..', 'charts', 'site-recovery-operator', 'values.yaml'), 'utf8')) as { operator?: { nodeOptions?: string } };
  return chartValues.operator?.nodeOptions ?? '';
}

/**
 * The operator as a child process watching `ns`. OPERATOR_HEAP_PROF=<dir>: it runs under Node's sampling
 * heap profiler (--heap-prof), which writes where its live memory was allocated into <dir> when it exits
 * (open it in Chrome DevTools).
 */
export function spawnOperator(cp: ControlPlane, azure: LocalAzure, ns: string, workers: string, nodeOptionsOverride?: string): ChildProcess {
  const heapProf = process.env.OPERATOR_HEAP_PROF ? ['--heap-prof', `--heap-prof-dir=${process.env.OPERATOR_HEAP_PROF}`] : [];
  // OPERATOR_CPU_PROF=<dir>: the same with Node's CPU profiler (--cpu-prof): where the operator's time goes.
  const cpuProf = process.env.OPERATOR_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.OPERATOR_CPU_PROF}`] : [];
  // The operator's V8 flags: the chart's (operator.nodeOptions), unless the caller says otherwise.
  const nodeOptions = (nodeOptionsOverride ?? operatorNodeOptions()).split(/\s+/).filter(Boolean);
  return spawn(process.execPath, [...nodeOptions, ...heapProf, ...cpuProf, MAIN, 'operator', '--namespace', ns, '--no-leader-election', '--metrics-port', '0', '--workers', workers], {
    env: { ...process.env, ...azure.env(), KUBECONFIG: cp.kubeconfigPath, LOG_LEVEL: 'error', LOG_FORMAT: 'json' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/**
 * Creates a ReplicatedVM for every source VM (50 at a time) and resolves once all are ReplicationEnabled;
 * exits the process after `timeoutMs`. Counted from a watch (an informer), not by listing every VM every
 * 500 ms: a list of 1,000 VMs with their status, twice a second, loaded the API server and this process
 * (which is also the ARM emulator) more with every VM, and so slowed the operator it measures more at
 * 1,000 than at 100.
 */
export async function enableAll(cp: ControlPlane, clients: Clients, ns: string, vmIds: SourceVm[], timeoutMs = 30 * 60_000): Promise<void> {
  for (let i = 0; i < vmIds.length; i += 50) {
    await Promise.all(vmIds.slice(i, i + 50).map((vm) => clients.vms.create(ns, { metadata: { name: vm.name }, spec: { sourceVirtualMachineId: vm.id, targetLocation: 'northeurope', policyRef: { name: 'standard' }, networkMappingRef: { name: `net${vm.group}` } } })));
  }
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
    console.error(`only ${enabled.size}/${vmIds.length} ready after ${timeoutMs / 60_000} minutes`);
    process.exit(1);
  }, timeoutMs);
  await allEnabled;
  clearTimeout(timeout);
  await watched.stop();
}
