// Benchmark of the ARM emulator, measured through the official SDK clients, as ratios against the raw
// ceiling of the same machine in the same run (DESIGN.md §5):
//   ceiling   = HTTPS GETs/s against a bare node:https server answering a fixed small JSON body
//               (same TLS setup, same keep-alive client: what any HTTPS JSON API could do here);
//   get       = virtualMachines.get/s through @azure/arm-compute;
//   put       = disks.createOrUpdate/s (Empty 1 GiB, LRO completing synchronously, page blob created);
//   list      = virtualMachines.listAll pages/s (page size 100);
//   restore   = restorePoints.create/s of a 2-disk VM (freeze + copy of both disks).
// Usage: node bench/arm.ts [--seconds 3]   (prints one JSON object)
import fs from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ComputeManagementClient } from '@azure/arm-compute';
import { NetworkManagementClient } from '@azure/arm-network';
import { ResourceManagementClient } from '@azure/arm-resources';
import { startArmEmulator, staticTokenCredential } from '../sandbox/src/arm/index.ts';
import { sandboxAccessToken, startLocalStorage } from '../sandbox/src/storage/index.ts';
import { ensureSandboxCa, issueServerCert, trustSandboxCa } from '../sandbox/src/tls.ts';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] ?? 3) || 3;
const fast = { updateIntervalInMs: 5 };

/** Runs `op` sequentially for `seconds` (bounded) and returns operations per second. */
async function rate(op: (i: number) => Promise<unknown>, maxOps = 100_000): Promise<number> {
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  let n = 0;
  while (performance.now() < until && n < maxOps) await op(n++);
  return n / ((performance.now() - t0) / 1000);
}

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-arm-'));
const ca = await ensureSandboxCa(dir);
trustSandboxCa(ca);
const storage = await startLocalStorage({ dir: path.join(dir, 'storage'), ca });
const arm = await startArmEmulator({ storage, ca, retryAfterSeconds: 0 });
const raw = https.createServer({ ...(() => { const c = issueServerCert(ca, ['127.0.0.1']); return { cert: c.certPem, key: c.keyPem }; })(), keepAlive: true }, (_req, res) => {
  const body = JSON.stringify({ id: '/subscriptions/x', name: 'vm', properties: { provisioningState: 'Succeeded' } });
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
});
await new Promise<void>((r) => raw.listen(0, '127.0.0.1', () => r()));
try {
  const agent = new https.Agent({ keepAlive: true });
  const rawUrl = `https://127.0.0.1:${(raw.address() as AddressInfo).port}/subscriptions/x`;
  const ceiling = await rate(
    () =>
      new Promise<void>((resolve, reject) => {
        https
          .get(rawUrl, { agent, headers: { Authorization: 'Bearer x' } }, (res) => {
            res.resume();
            res.on('end', () => resolve());
          })
          .on('error', reject);
      }),
  );

  const cred = staticTokenCredential(sandboxAccessToken());
  const o = { endpoint: arm.endpoint };
  const resources = new ResourceManagementClient(cred, arm.subscriptionId, o);
  const network = new NetworkManagementClient(cred, arm.subscriptionId, o);
  const compute = new ComputeManagementClient(cred, arm.subscriptionId, o);
  const loc = 'westeurope';
  await resources.resourceGroups.createOrUpdate('bench', { location: loc });
  const vnet = await network.virtualNetworks.createOrUpdate(
    'bench',
    'vnet',
    { location: loc, addressSpace: { addressPrefixes: ['10.0.0.0/16'] }, subnets: [{ name: 'default', addressPrefix: '10.0.0.0/22' }] },
    fast,
  );
  const mkVm = async (name: string, disks: number) => {
    const nic = await network.networkInterfaces.createOrUpdate('bench', `${name}-nic`, { location: loc, ipConfigurations: [{ name: 'c', subnet: { id: vnet.subnets![0]!.id! } }] }, fast);
    return compute.virtualMachines.createOrUpdate(
      'bench',
      name,
      {
        location: loc,
        hardwareProfile: { vmSize: 'Standard_D2s_v3' },
        storageProfile: {
          imageReference: { publisher: 'p', offer: 'o', sku: 's', version: 'latest' },
          osDisk: { createOption: 'FromImage', diskSizeGB: 1 },
          dataDisks: Array.from({ length: disks }, (_, lun) => ({ lun, createOption: 'Empty' as const, diskSizeGB: 1 })),
        },
        osProfile: { computerName: name, adminUsername: 'azureuser' },
        networkProfile: { networkInterfaces: [{ id: nic.id! }] },
      },
      fast,
    );
  };
  const vm = await mkVm('vm0', 2);
  for (let i = 1; i < 50; i++) await mkVm(`vm${i}`, 0);

  const get = await rate(() => compute.virtualMachines.get('bench', 'vm0'));
  const put = await rate((i) => compute.disks.createOrUpdate('bench', `d${i}`, { location: loc, creationData: { createOption: 'Empty' }, diskSizeGB: 1 }, fast), 2000);
  const list = await rate(async () => {
    for await (const page of compute.virtualMachines.listAll().byPage()) void page;
  });
  await compute.restorePointCollections.createOrUpdate('bench', 'rpc', { location: loc, source: { id: vm.id! } });
  const restore = await rate((i) => compute.restorePoints.create('bench', 'rpc', `rp${i}`, { consistencyMode: 'CrashConsistent' }, fast), 500);

  const r2 = (x: number): number => Math.round(x * 100) / 100;
  const r4 = (x: number): number => Math.round(x * 10000) / 10000;
  console.log(
    JSON.stringify(
      {
        benchmark: 'arm-emulator',
        seconds,
        ceilingRequestsPerSecond: r2(ceiling),
        getPerSecond: r2(get),
        getRatio: r4(get / ceiling),
        putDiskPerSecond: r2(put),
        putDiskRatio: r4(put / ceiling),
        listAllPagesPerSecond: r2(list),
        restorePointsPerSecond: r2(restore),
        restorePointRatio: r4(restore / ceiling),
      },
      null,
      2,
    ),
  );
} finally {
  raw.close();
  raw.closeAllConnections();
  await arm.stop();
  await storage.stop();
  await fs.rm(dir, { recursive: true, force: true });
}
