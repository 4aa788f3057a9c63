// The operator as real processes: leader election between two replicas, and a replica killed in the
// middle of enabling replication whose successor finishes the job without duplicates.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CoordinationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';
import { startLocalAzure, type LocalAzure } from '../support/local-azure.ts';
import { conditionIs, crClients, protectNewVm, type Clients } from '../support/operator-fixtures.ts';
import { waitForObject } from '../support/wait.ts';

const MAIN = path.join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

let azure: LocalAzure;
let kc: KubeConfig;
let ns: string;
let clients: Clients;
const children = new Set<ChildProcess>();

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

interface OperatorProcess {
  child: ChildProcess;
  port: number;
  identity: string;
  exited: Promise<number | null>;
}

async function startOperator(identity: string): Promise<OperatorProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [MAIN, 'operator', '--namespace', ns, '--leader-election-namespace', ns, '--metrics-port', String(port), '--lease-duration-ms', '3000', '--renew-deadline-ms', '2000', '--retry-period-ms', '500'],
    { env: { ...process.env, ...azure.env(), KUBECONFIG: inject('kubeconfigPath'), POD_NAME: identity, LOG_FORMAT: 'json', LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  children.add(child);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    children.delete(child);
    if (code && code !== 0) console.error(`operator ${identity} exited ${code}: ${stderr}`);
    resolve(code);
  }));
  return { child, port, identity, exited };
}

async function leaderGauge(op: OperatorProcess): Promise<number | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${op.port}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('site_recovery_leader '));
    return line ? Number(line.split(' ')[1]) : undefined;
  } catch {
    return undefined;
  }
}

beforeAll(async () => {
  azure = await startLocalAzure();
  kc = testKubeConfig();
  clients = crClients(kc);
});

afterEach(async () => {
  for (const child of children) child.kill('SIGKILL');
});

afterAll(async () => {
  await azure?.stop();
});

describe('leader election', () => {
  it('lets exactly one of two operators lead, and hands over when the leader dies', async () => {
    ns = await createTestNamespace(kc, 'leader');
    const a = await startOperator('operator-a');
    const b = await startOperator('operator-b');
    const leases = kc.makeApiClient(CoordinationV1Api);
    const holder = async () => (await leases.readNamespacedLease({ namespace: ns, name: 'site-recovery-operator' }).catch(() => undefined))?.spec?.holderIdentity;
    await vi.waitFor(async () => expect(['operator-a', 'operator-b']).toContain(await holder()), { timeout: 60_000, interval: 200 });

    // Sample for a few lease periods: never two leaders.
    for (let i = 0; i < 20; i++) {
      const gauges = await Promise.all([leaderGauge(a), leaderGauge(b)]);
      expect(gauges.filter((g) => g === 1).length).toBeLessThanOrEqual(1);
      await new Promise((r) => setTimeout(r, 250));
    }
    const leaderId = await holder();
    const [leader, standby] = leaderId === 'operator-a' ? [a, b] : [b, a];
    expect(await leaderGauge(leader)).toBe(1);
    expect(await leaderGauge(standby)).toBe(0);

    leader.child.kill('SIGKILL');
    await vi.waitFor(async () => expect(await leaderGauge(standby)).toBe(1), { timeout: 15_000, interval: 200 });
    expect(await holder()).toBe(standby.identity);
  });

  it('releases the lease on SIGTERM so a standby takes over at once', async () => {
    ns = await createTestNamespace(kc, 'release');
    const a = await startOperator('operator-a');
    await vi.waitFor(async () => expect(await leaderGauge(a)).toBe(1), { timeout: 60_000, interval: 200 });
    const b = await startOperator('operator-b');
    await vi.waitFor(async () => expect(await leaderGauge(b)).toBe(0), { timeout: 60_000, interval: 200 });
    a.child.kill('SIGTERM');
    expect(await a.exited).toBe(0);
    await vi.waitFor(async () => expect(await leaderGauge(b)).toBe(1), { timeout: 10_000, interval: 100 });
  });
});

describe('crash safety', () => {
  it('finishes enabling replication after the operator is killed mid-way, without duplicates', async () => {
    ns = await createTestNamespace(kc, 'crash');
    azure.arm.setLatency({ operations: { 'storageAccounts.put': 4000 } });
    try {
      const first = await startOperator('operator-first');
      const vm = await protectNewVm(azure, clients, ns, { dataDisks: 1 });
      // Killed while a storage account create is in flight (the pending mark is recorded, no outcome yet).
      await waitForObject(kc, clients.vms, { namespace: ns, name: vm.name }, (o) => o?.status?.targetResources?.some((r) => r.pending) ?? false, 'a pending create');
      first.child.kill('SIGKILL');
      await first.exited;

      await startOperator('operator-second');
      const rvm = await waitForObject(kc, clients.vms, { namespace: ns, name: vm.name }, conditionIs('ReplicationEnabled', 'True'), 'replication enabled by the successor', 90_000);
      expect(rvm?.status?.targetResources?.every((r) => r.created && !r.pending)).toBe(true);

      const inGroup: string[] = [];
      for await (const r of azure.clients.resources.resources.listByResourceGroup(`${vm.rg}-asr`)) inGroup.push(r.type as string);
      const count = (type: string) => inGroup.filter((t) => t.toLowerCase() === type.toLowerCase()).length;
      expect(count('Microsoft.Storage/storageAccounts')).toBe(2);
      expect(count('Microsoft.Compute/restorePointCollections')).toBe(1);
      expect(count('Microsoft.Network/virtualNetworks')).toBe(2);
    } finally {
      azure.arm.setLatency({ operations: { 'storageAccounts.put': 0 } });
    }
  });
});
