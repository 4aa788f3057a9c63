// Local Azure for integration tests: the sandbox CA, Azurite behind the storage front, and the ARM
// emulator, plus the configuration production code needs to reach them (in-process and for children).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { VirtualMachine } from '@azure/arm-compute';
import { StaticTokenCredential } from '../../src/azure/credential.ts';
import type { AzureConfig } from '../../src/azure/clients.ts';
import { startArmEmulator, type ArmEmulator, type ArmEmulatorOptions } from '../../sandbox/src/arm/index.ts';
import { armClients, type ArmClients } from '../../sandbox/src/client.ts';
import { sandboxAccessToken, startLocalStorage, type LocalStorage } from '../../sandbox/src/storage/index.ts';
import { ensureSandboxCa, trustSandboxCa, type SandboxCa } from '../../sandbox/src/tls.ts';
import { createSandboxVm, type CreateVmOptions } from '../../sandbox/src/vm.ts';

export interface LocalAzure {
  dir: string;
  ca: SandboxCa;
  storage: LocalStorage;
  arm: ArmEmulator;
  token: string;
  /** What the operator/datapath get in-process. */
  azureConfig(overrides?: Partial<AzureConfig>): AzureConfig;
  /** Environment for a child `site-recovery` process (besides KUBECONFIG). */
  env(): Record<string, string>;
  clients: ArmClients;
  createVm(options: Partial<CreateVmOptions> & Pick<CreateVmOptions, 'name' | 'resourceGroup'>): Promise<VirtualMachine>;
  stop(): Promise<void>;
}

export async function startLocalAzure(options: Partial<ArmEmulatorOptions> = {}): Promise<LocalAzure> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'local-azure-'));
  const ca = await ensureSandboxCa(dir);
  trustSandboxCa(ca);
  const storage = await startLocalStorage({ dir: path.join(dir, 'storage'), ca });
  const arm = await startArmEmulator({ storage, ca, dir, retryAfterSeconds: 0, ...options });
  const token = sandboxAccessToken();
  const clients = armClients({ dir, endpoint: arm.endpoint, subscriptionId: arm.subscriptionId, token });
  return {
    dir,
    ca,
    storage,
    arm,
    token,
    clients,
    azureConfig: (overrides = {}) => ({
      subscriptionId: arm.subscriptionId,
      resourceManagerEndpoint: arm.endpoint,
      credential: new StaticTokenCredential(token),
      maxRetries: 8,
      ...overrides,
    }),
    env: () => ({
      AZURE_SUBSCRIPTION_ID: arm.subscriptionId,
      AZURE_RESOURCE_MANAGER_ENDPOINT: arm.endpoint,
      SITE_RECOVERY_ACCESS_TOKEN: token,
      NODE_EXTRA_CA_CERTS: ca.caCertPath,
    }),
    createVm: (o) => createSandboxVm(clients, { location: 'westeurope', dataDisks: 2, dataDiskSizeGiB: 1, osDiskSizeGiB: 1, ...o }),
    async stop() {
      await arm.stop();
      await storage.stop();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
