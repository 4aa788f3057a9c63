// Shared harness of the ARM emulator tests: real local storage (Azurite + front), the emulator, and the
// official SDK clients pointed at it (endpoint + static bearer token only, as production code does).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ComputeManagementClient } from '@azure/arm-compute';
import { NetworkManagementClient } from '@azure/arm-network';
import { ResourceManagementClient } from '@azure/arm-resources';
import { StorageManagementClient } from '@azure/arm-storage';
import { startArmEmulator, staticTokenCredential } from '../../sandbox/src/arm/index.ts';
import type { ArmEmulator, ArmEmulatorOptions } from '../../sandbox/src/arm/index.ts';
import { sandboxAccessToken, startLocalStorage } from '../../sandbox/src/storage/index.ts';
import type { LocalStorage } from '../../sandbox/src/storage/index.ts';
import { ensureSandboxCa, trustSandboxCa } from '../../sandbox/src/tls.ts';
import type { SandboxCa } from '../../sandbox/src/tls.ts';

export interface Clients {
  resources: ResourceManagementClient;
  network: NetworkManagementClient;
  compute: ComputeManagementClient;
  storage: StorageManagementClient;
}

/** Fast retries so fault-injection tests do not wait the SDK's default back-off. */
const clientOptions = (endpoint: string) => ({
  endpoint,
  retryOptions: { maxRetries: 3, retryDelayInMs: 20, maxRetryDelayInMs: 200 },
});

export function makeClients(arm: Pick<ArmEmulator, 'endpoint' | 'subscriptionId'>): Clients {
  const cred = staticTokenCredential(sandboxAccessToken());
  const o = clientOptions(arm.endpoint);
  return {
    resources: new ResourceManagementClient(cred, arm.subscriptionId, o),
    network: new NetworkManagementClient(cred, arm.subscriptionId, o),
    compute: new ComputeManagementClient(cred, arm.subscriptionId, o),
    storage: new StorageManagementClient(cred, arm.subscriptionId, o),
  };
}

/** Poller options: poll quickly (the emulator's Retry-After is 0 in tests). */
export const fast = { updateIntervalInMs: 10 } as const;

export interface Harness {
  dir: string;
  ca: SandboxCa;
  storage: LocalStorage;
  arm: ArmEmulator;
  c: Clients;
  /** Restarts the emulator (same dir/persistence) and returns the new clients. */
  restartArm(extra?: Partial<ArmEmulatorOptions>): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(opts: Partial<ArmEmulatorOptions> = {}): Promise<Harness> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sandbox-arm-'));
  const ca = await ensureSandboxCa(dir);
  trustSandboxCa(ca);
  const storage = await startLocalStorage({ dir: path.join(dir, 'storage'), ca });
  const base: ArmEmulatorOptions = { storage, ca, dir, retryAfterSeconds: 0, ...opts };
  const h: Harness = {
    dir,
    ca,
    storage,
    arm: await startArmEmulator(base),
    c: undefined as unknown as Clients,
    async restartArm(extra = {}) {
      await h.arm.stop();
      h.arm = await startArmEmulator({ ...base, ...extra });
      h.c = makeClients(h.arm);
    },
    async close() {
      await h.arm?.stop();
      await storage.stop();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  h.c = makeClients(h.arm);
  return h;
}

export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;

/** Creates RG + vnet (10.1.0.0/16, subnet default 10.1.0.0/24) + NIC; returns ids. */
export async function network(c: Clients, rg: string, location = 'westeurope'): Promise<{ subnetId: string; nicId: (name: string) => Promise<string> }> {
  await c.resources.resourceGroups.createOrUpdate(rg, { location });
  const vnet = await c.network.virtualNetworks.createOrUpdate(
    rg,
    `${rg}-vnet`,
    {
      location,
      addressSpace: { addressPrefixes: ['10.1.0.0/16'] },
      subnets: [{ name: 'default', addressPrefix: '10.1.0.0/24' }],
    },
    fast,
  );
  const subnetId = vnet.subnets![0]!.id!;
  return {
    subnetId,
    async nicId(name: string) {
      const nic = await c.network.networkInterfaces.createOrUpdate(
        rg,
        name,
        { location, ipConfigurations: [{ name: 'ipconfig1', subnet: { id: subnetId } }] },
        fast,
      );
      return nic.id!;
    },
  };
}
