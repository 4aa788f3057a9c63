// Benchmark: a burst of concurrent ARM reads from one principal against ARM's published read bucket (250
// tokens refilled at 25/s; the sandbox's `--arm-throttling` at scale 1), through our AzureClients, which
// retry a 429 after its Retry-After (the SDK's throttling policy, 6 retries). It shows what retrying alone
// does to a fleet-sized burst: every throttled call waits the same Retry-After and meets the next empty
// bucket together with the others. Per burst size: calls that succeeded and failed, wall time, requests
// ARM saw and 429s among them.
// Usage: node bench/arm-throttling.ts [--bursts 300,500,1000]   (prints one JSON object)
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startArmEmulator, staticTokenCredential } from '../sandbox/src/arm/index.ts';
import { sandboxAccessToken, startLocalStorage } from '../sandbox/src/storage/index.ts';
import { ensureSandboxCa, trustSandboxCa } from '../sandbox/src/tls.ts';
import { AzureClients } from '../src/azure/clients.ts';

const arg = process.argv.indexOf('--bursts');
const bursts = (arg > 0 ? process.argv[arg + 1]! : '300,500,1000').split(',').map(Number);

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-arm-throttling-'));
const ca = await ensureSandboxCa(dir);
trustSandboxCa(ca);
const storage = await startLocalStorage({ dir: path.join(dir, 'storage'), ca });
const arm = await startArmEmulator({ storage, ca, dir });
try {
  const az = new AzureClients({ subscriptionId: arm.subscriptionId, resourceManagerEndpoint: arm.endpoint, credential: staticTokenCredential(sandboxAccessToken()), component: 'datapath' });
  await az.resources.resourceGroups.createOrUpdate('rg', { location: 'westeurope' });
  const results: Record<string, unknown>[] = [];
  for (const n of bursts) {
    arm.throttling.configure({ enabled: true, scale: 1 }); // full buckets
    arm.stats.reset();
    const t0 = performance.now();
    const calls = await Promise.allSettled(Array.from({ length: n }, () => az.resources.resourceGroups.get('rg')));
    const stats = arm.stats.summary();
    results.push({
      concurrentReads: n,
      succeeded: calls.filter((c) => c.status === 'fulfilled').length,
      failed: calls.filter((c) => c.status === 'rejected').length,
      seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
      requests: stats.reads,
      throttled: stats.throttled,
    });
  }
  console.log(JSON.stringify({ bucket: { reads: 250, refillPerSecond: 25 }, bursts: results }, null, 2));
} finally {
  await arm.stop();
  await storage.stop();
  await fs.rm(dir, { recursive: true, force: true });
}
