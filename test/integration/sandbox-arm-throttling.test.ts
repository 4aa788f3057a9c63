// ARM throttling in the sandbox (issue #17) through the official SDK clients and our own AzureClients:
// the remaining-requests headers, 429 SubscriptionRequestsThrottled with Retry-After once a bucket is
// empty (reads, writes and deletes apart), our clients waiting the Retry-After and then succeeding,
// counted by client in `arm-stats`; the datapath's long-running operations polled at the service's
// Retry-After (the SDK's pollers do: the datapath's own interval is only for answers without one); the
// operator's, which it never waits on, requeued and polled at the Retry-After (src/azure/operation-polls.ts); and the CLI (`sandbox up --arm-throttling --arm-throttling-scale`, `sandbox arm-stats`).
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { PipelineResponse } from '@azure/core-rest-pipeline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staticTokenCredential } from '../../sandbox/src/arm/index.ts';
import { sandboxAccessToken } from '../../sandbox/src/storage/index.ts';
import { connectSandbox } from '../../sandbox/src/client.ts';
import { armStats, armThrottling, setArmThrottling } from '../../sandbox/src/throttle.ts';
import { createSandboxVm } from '../../sandbox/src/vm.ts';
import { AzureClients } from '../../src/azure/clients.ts';
import { convergeResource, managedTags } from '../../src/azure/external-resource.ts';
import { ResourceLedger } from '../../src/azure/resource-ledger.ts';
import { getOrUndefined, ownedResource, startOperation } from '../../src/azure/resources/observe.ts';
import { RestorePoints } from '../../src/datapath/restore-points.ts';
import { noRetryClients, type OutageClients } from '../support/outage.ts';
import { startHarness, type Harness } from './sandbox-arm-support.ts';

// scale 0.04: reads 10 tokens refilled at 1/s (Retry-After 1 s), writes and deletes 8 at 0.4/s.
const SCALE = 0.04;
let h: Harness;
let raw: OutageClients;
const conn = (): { endpoint: string; token: string } => ({ endpoint: h.arm.endpoint, token: sandboxAccessToken() });
const azure = (component?: 'operator' | 'datapath' | 'cli'): AzureClients =>
  new AzureClients({ subscriptionId: h.arm.subscriptionId, resourceManagerEndpoint: h.arm.endpoint, credential: staticTokenCredential(sandboxAccessToken()), ...(component ? { component } : {}) });

beforeAll(async () => {
  h = await startHarness({ retryAfterSeconds: 1 });
  raw = noRetryClients(h.arm, sandboxAccessToken());
  await raw.resources.resourceGroups.createOrUpdate('rg-t', { location: 'westeurope' });
});
afterAll(async () => {
  await h?.close();
});

/** Spends every read token of the principal at once (buckets start full after a configuration change). */
async function emptyReads(): Promise<void> {
  await setArmThrottling(conn(), { enabled: true, scale: SCALE });
  await Promise.all(Array.from({ length: 10 }, () => raw.resources.resourceGroups.get('rg-t')));
}

describe('ARM throttling', () => {
  it('is off by default, then answers with the remaining requests and 429 + Retry-After when a bucket is empty', async () => {
    expect(await armThrottling(conn())).toEqual({ enabled: false, scale: 1, region: 'local' });
    let r: PipelineResponse | undefined;
    await raw.resources.resourceGroups.get('rg-t', { onResponse: (x) => (r = x) });
    expect(r?.headers.get('x-ms-ratelimit-remaining-subscription-reads')).toBeUndefined();

    await setArmThrottling(conn(), { enabled: true, scale: SCALE });
    await armStats(conn(), { reset: true });
    await raw.resources.resourceGroups.get('rg-t', { onResponse: (x) => (r = x) });
    expect(r?.headers.get('x-ms-ratelimit-remaining-subscription-reads')).toBe('9');
    expect(r?.headers.get('x-ms-ratelimit-remaining-subscription-global-reads')).toBe('149');
    await raw.resources.resourceGroups.createOrUpdate('rg-t2', { location: 'westeurope' }, { onResponse: (x) => (r = x) });
    expect(r?.headers.get('x-ms-ratelimit-remaining-subscription-writes')).toBe('7');
    expect(r?.headers.get('x-ms-ratelimit-remaining-subscription-global-writes')).toBe('119');

    const answers = await Promise.allSettled(Array.from({ length: 12 }, () => raw.resources.resourceGroups.get('rg-t')));
    const refused = answers.filter((a) => a.status === 'rejected').map((a) => (a as PromiseRejectedResult).reason as { statusCode?: number; code?: string; message: string; response?: PipelineResponse });
    expect(refused.length, 'reads beyond the 10-token bucket').toBeGreaterThanOrEqual(2);
    expect(refused[0]).toMatchObject({ statusCode: 429, code: 'SubscriptionRequestsThrottled' });
    expect(refused[0]!.message).toMatch(/^Number of 'read' requests for subscription '[-0-9a-f]+' actor '[-\w]+' exceeded\. Please try again after '1' seconds/);
    expect(refused[0]!.response?.headers.get('retry-after')).toBe('1');

    // Writes have their own bucket: a write still goes through, and a delete too.
    await raw.resources.resourceGroups.createOrUpdate('rg-t3', { location: 'westeurope' });
    const stats = await armStats(conn());
    expect(stats).toMatchObject({ reads: 13, writes: 2, deletes: 0, throttled: refused.length });
    expect(stats.byOperation['GET Microsoft.Resources/resourceGroups']).toEqual({ calls: 13, throttled: refused.length });
    expect(stats.byClient['azsdk-js-client']).toEqual({ reads: 13, writes: 2, deletes: 0, throttled: refused.length });
  });

  it('our clients wait the Retry-After and then succeed, named by component in arm-stats', async () => {
    const operator = azure('operator');
    await emptyReads();
    await armStats(conn(), { reset: true });
    const started = performance.now();
    const rg = await operator.resources.resourceGroups.get('rg-t');
    const waited = performance.now() - started;
    expect(rg.name).toBe('rg-t');
    expect(waited, 'the Retry-After of 1 s was waited').toBeGreaterThanOrEqual(950);
    expect(waited).toBeLessThan(5_000);
    const stats = await armStats(conn(), { reset: true });
    expect(stats.byClient).toEqual({ 'site-recovery-operator': { reads: 2, writes: 0, deletes: 0, throttled: 1 } });
    expect(stats).toMatchObject({ reads: 2, throttled: 1 });

    // Each component names itself; a client without a component is the SDK alone.
    await setArmThrottling(conn(), { enabled: false });
    await azure('datapath').resources.resourceGroups.get('rg-t');
    await azure('cli').resources.resourceGroups.get('rg-t');
    await azure().resources.resourceGroups.get('rg-t');
    expect(Object.keys((await armStats(conn(), { reset: true })).byClient).sort()).toEqual(['azsdk-js-client', 'site-recovery-cli', 'site-recovery-datapath']);
  });

  it('refuses a configuration that is not one', async () => {
    const put = (body: unknown): Promise<Response> =>
      fetch(`${h.arm.endpoint}/_sandbox/throttling`, { method: 'PUT', headers: { Authorization: 'Bearer t', 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    expect((await put({ scale: 0 })).status).toBe(400);
    expect((await put({ scale: '2' })).status).toBe(400);
    expect((await put({ enabled: 'yes' })).status).toBe(400);
    await expect(setArmThrottling(conn(), { scale: -1 })).rejects.toThrow(/400.*positive/);
    expect(await armThrottling(conn())).toMatchObject({ enabled: false });
  });
});

describe('long-running operations', () => {
  it("the datapath polls a restore point's creation at the service's Retry-After, not at its own 500 ms", async () => {
    await setArmThrottling(conn(), { enabled: false });
    const vm = await createSandboxVm(raw, { name: 'vm-lro', resourceGroup: 'rg-t', location: 'westeurope', dataDisks: 0, dataDiskSizeGiB: 1, osDiskSizeGiB: 1 });
    const collection = await raw.compute.restorePointCollections.createOrUpdate('rg-t', 'rpc-lro', { location: 'westeurope', source: { id: vm.id! } });
    h.arm.setLatency({ operations: { 'restorePoints.put': 2_600 } });
    try {
      await armStats(conn(), { reset: true });
      const { point } = await new RestorePoints(azure('datapath'), collection.id!).ensure('sr-000001', 'CrashConsistent', AbortSignal.timeout(30_000));
      expect(point.name).toBe('sr-000001');
    } finally {
      h.arm.setLatency({ operations: { 'restorePoints.put': 0 } });
    }
    const polls = h.arm.stats.requests({ operation: 'GET operationStatus' }).map((r) => Date.parse(r.time));
    const gaps = polls.slice(1).map((t, i) => t - polls[i]!);
    // The first poll follows the 201 at once (the SDK's poller), then one every Retry-After (1 s) of the
    // poll's answer: 2.6 s take 4 polls, where the datapath's 500 ms (its wait when an answer has no
    // Retry-After) would take 6. The gaps decide (a loaded machine finishes the operation later, with more
    // polls, each still a Retry-After apart).
    expect(polls.length).toBeGreaterThanOrEqual(3);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(950);
  });
});

describe("the operator's long-running operations", () => {
  it("are polled at the Retry-After Azure gives, not every 2 s: each reconcile asks to be requeued after it, and polls the operation's URL", async () => {
    await setArmThrottling(conn(), { enabled: false });
    const az = new AzureClients({ subscriptionId: h.arm.subscriptionId, resourceManagerEndpoint: h.arm.endpoint, credential: staticTokenCredential(sandboxAccessToken()), component: 'operator' }, { followOperations: true });
    const id = `/subscriptions/${h.arm.subscriptionId}/resourceGroups/rg-t/providers/Microsoft.Compute/disks/d-lro`;
    // An owned resource as the failover's disks, NICs and VM are (resources/observe.ts), here an empty disk.
    const disk = ownedResource({
      role: 'Disk',
      id,
      owner: 'lro-test',
      get: () => getOrUndefined(() => az.compute.disks.get('rg-t', 'd-lro')),
      create: () => startOperation(az.compute.disks.createOrUpdate('rg-t', 'd-lro', { location: 'westeurope', tags: managedTags('lro-test'), diskSizeGB: 1, creationData: { createOption: 'Empty' } })),
      remove: () => az.compute.disks.delete('rg-t', 'd-lro'),
      operation: () => az.operationStatus(id),
    });
    const ledger = new ResourceLedger([]);
    h.arm.setLatency({ operations: { 'disks.put': 2_600 } });
    const requeues: number[] = [];
    try {
      await armStats(conn(), { reset: true });
      // What the controller does with a waiting step: requeue the object after requeueAfterMs.
      for (let step = await convergeResource(disk, ledger, async () => undefined); step.state !== 'done'; step = await convergeResource(disk, ledger, async () => undefined)) {
        expect(step.state).toBe('waiting');
        if (step.state !== 'waiting') break;
        requeues.push(step.requeueAfterMs);
        await new Promise((resolve) => setTimeout(resolve, step.requeueAfterMs));
      }
    } finally {
      h.arm.setLatency({ operations: { 'disks.put': 0 } });
    }
    const polls = h.arm.stats.requests({ operation: 'GET operationStatus' }).map((r) => Date.parse(r.time));
    // The sandbox answers Retry-After: 1 (the harness's retryAfterSeconds): every requeue is at most that,
    // never POLL_MS (2 s); the operation's URL is polled no sooner than 1 s apart, 2.6 s in 2 or 3 polls.
    expect(requeues.length).toBeGreaterThanOrEqual(2);
    for (const ms of requeues) expect(ms).toBeGreaterThan(0);
    for (const ms of requeues) expect(ms).toBeLessThanOrEqual(1_000);
    expect(polls.length).toBeGreaterThanOrEqual(2);
    expect(polls.length).toBeLessThanOrEqual(3);
    for (const gap of polls.slice(1).map((t, i) => t - polls[i]!)) expect(gap).toBeGreaterThanOrEqual(950);
    expect(az.operations?.size, 'the finished operation is no longer followed').toBe(0);
  });
});

describe('Compute limits', () => {
  it('refuses a second restore point for a VM while one is being created, even in another collection (409)', async () => {
    const vmId = `/subscriptions/${h.arm.subscriptionId}/resourceGroups/rg-t/providers/Microsoft.Compute/virtualMachines/vm-lro`;
    await raw.compute.restorePointCollections.createOrUpdate('rg-t', 'rpc-second', { location: 'westeurope', source: { id: vmId } });
    h.arm.setLatency({ operations: { 'restorePoints.put': 300 } });
    try {
      const first = raw.compute.restorePoints.beginCreate('rg-t', 'rpc-lro', 'sr-000002', { consistencyMode: 'CrashConsistent' }, { updateIntervalInMs: 50 });
      await (await first).submitted();
      await expect(raw.compute.restorePoints.beginCreateAndWait('rg-t', 'rpc-second', 'other', { consistencyMode: 'CrashConsistent' })).rejects.toMatchObject({
        statusCode: 409,
        code: 'Conflict',
        message: expect.stringContaining('concurrent creation of restore points for a VM is not supported'),
      });
      expect((await (await first).pollUntilDone()).provisioningState).toBe('Succeeded');
    } finally {
      h.arm.setLatency({ operations: { 'restorePoints.put': 0 } });
    }
    const later = await raw.compute.restorePoints.beginCreateAndWait('rg-t', 'rpc-second', 'other', { consistencyMode: 'CrashConsistent' });
    expect(later.provisioningState).toBe('Succeeded');
  });
});

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const node = path.join(repo, 'node_modules/.bin/node');
const main = path.join(repo, 'src/cli/main.ts');

describe('sandbox CLI', () => {
  it('up --arm-throttling --arm-throttling-scale throttles; arm-stats prints and resets the counts; without a sandbox one line, exit 2; a bad scale one line, exit 1', async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sandbox-throttle-'));
    const dir = path.join(tmp, 's');
    const child = spawn(node, [main, 'sandbox', 'up', '--dir', dir, '--no-kube', '--arm-throttling', '--arm-throttling-scale', '0.02'], { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmp });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const lines: string[] = [];
      await new Promise<void>((resolve, reject) => {
        readline.createInterface({ input: child.stdout! }).on('line', (l) => {
          lines.push(l);
          if (l.startsWith('sandbox ready')) resolve();
        });
        void exited.then((code) => reject(new Error(`sandbox up exited (${code})`)));
      });
      expect(lines.join('\n')).toContain('throttling   ARM token buckets at scale 0.02');
      const cli = async (...args: string[]): Promise<string> => (await run(node, [main, 'sandbox', ...args, '--dir', dir], { cwd: tmp })).stdout;
      // reads at 0.02: 5 tokens refilled at 0.5/s (writes 4 at 0.2/s, enough for `vm create` with no data disk).
      const created = await cli('vm', 'create', 'web', '--resource-group', 'rg-cli', '--location', 'westeurope', '--disks', '0', '--os-disk-size', '1GiB');
      expect(created.trim().split('\n').pop()).toMatch(/virtualMachines\/web$/);
      const sandboxed = connectSandbox(dir);
      const c = noRetryClients(sandboxed, sandboxed.token);
      await setArmThrottling(sandboxed, { enabled: true }); // buckets full again
      const answers = await Promise.allSettled(Array.from({ length: 8 }, () => c.resources.resourceGroups.get('rg-cli')));
      expect(answers.filter((a) => a.status === 'rejected').map((a) => ((a as PromiseRejectedResult).reason as { statusCode?: number }).statusCode)).toEqual([429, 429, 429]);
      const stats = JSON.parse(await cli('arm-stats', '--reset')) as Record<string, unknown> & { byClient: Record<string, unknown>; byOperation: Record<string, { calls: number }> };
      expect(Object.keys(stats).sort()).toEqual(['byClient', 'byOperation', 'deletes', 'reads', 'throttled', 'total', 'writes']);
      expect(stats).toMatchObject({ writes: 4, throttled: 3 });
      expect(stats.byClient['site-recovery-sandbox'], '`vm create` names itself').toMatchObject({ writes: 4 });
      expect(stats.byOperation['PUT Microsoft.Compute/virtualMachines']?.calls).toBe(1);
      expect(JSON.parse(await cli('arm-stats'))).toMatchObject({ reads: 0, writes: 0, deletes: 0, throttled: 0, byClient: {} });
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    const none = await run(node, [main, 'sandbox', 'arm-stats', '--dir', dir], { cwd: tmp }).catch((e: { code: number; stderr: string }) => e);
    expect(none).toMatchObject({ code: 2 });
    expect((none as { stderr: string }).stderr.trim().split('\n')).toHaveLength(1);
    // A scale without throttling, or one that is not a positive number: one line, nothing started.
    for (const args of [['--arm-throttling-scale', '0.1'], ['--arm-throttling', '--arm-throttling-scale', '0']]) {
      const bad = await run(node, [main, 'sandbox', 'up', '--no-kube', '--dir', dir, ...args], { cwd: tmp }).catch((e: { code: number; stderr: string }) => e);
      expect(bad, args.join(' ')).toMatchObject({ code: 1, stderr: expect.stringMatching(/^site-recovery: --arm-throttling-scale (needs --arm-throttling|must be a positive number, got "0")\n$/) });
    }
    await expect(fs.stat(path.join(dir, 'state.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    await fs.rm(tmp, { recursive: true, force: true });
  });
});
