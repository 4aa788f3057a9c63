// How the sandbox's client commands (`vm create`, `workload`, `disk-hash`) reach a running sandbox: the
// same environment the operator uses (AZURE_RESOURCE_MANAGER_ENDPOINT, AZURE_SUBSCRIPTION_ID,
// SITE_RECOVERY_ACCESS_TOKEN, NODE_EXTRA_CA_CERTS), taken from the process environment or else from
// `<dir>/env`, plus `<dir>/state.json` for the managed-disk data plane.
import fs from 'node:fs';
import path from 'node:path';
import { ComputeManagementClient } from '@azure/arm-compute';
import { NetworkManagementClient } from '@azure/arm-network';
import { ResourceManagementClient } from '@azure/arm-resources';
import { StorageSharedKeyCredential } from '@azure/storage-blob';
import { staticTokenCredential } from './arm/credential.ts';
import { DEFAULT_SANDBOX_DIR, envFile, parseEnvFile, readSandboxState, sandboxDiskBlobUrl } from './state.ts';
import type { SandboxState } from './state.ts';
import { trustSandboxCa } from './tls.ts';

export interface SandboxConnection {
  dir: string;
  endpoint: string;
  subscriptionId: string;
  token: string;
  state?: SandboxState;
}

export interface ArmClients {
  resources: ResourceManagementClient;
  network: NetworkManagementClient;
  compute: ComputeManagementClient;
}

/** Resolves the sandbox to talk to and makes this process trust its CA. */
export function connectSandbox(dirOption?: string): SandboxConnection {
  const dir = path.resolve(dirOption ?? process.env.SITE_RECOVERY_SANDBOX_DIR ?? DEFAULT_SANDBOX_DIR);
  let fileEnv: Record<string, string> = {};
  try {
    fileEnv = parseEnvFile(fs.readFileSync(envFile(dir), 'utf8'));
  } catch {
    // no env file: the process environment must have everything
  }
  const pick = (k: string): string | undefined => (dirOption ? (fileEnv[k] ?? process.env[k]) : (process.env[k] ?? fileEnv[k]));
  const endpoint = pick('AZURE_RESOURCE_MANAGER_ENDPOINT');
  const subscriptionId = pick('AZURE_SUBSCRIPTION_ID');
  const token = pick('SITE_RECOVERY_ACCESS_TOKEN');
  if (!endpoint || !subscriptionId || !token) {
    throw new Error(`no running sandbox found: start one with \`site-recovery sandbox up\` (looked in the environment and ${envFile(dir)})`);
  }
  const caFile = pick('NODE_EXTRA_CA_CERTS');
  if (caFile) trustSandboxCa({ caCertPem: fs.readFileSync(caFile, 'utf8') });
  const state = readSandboxState(dir);
  return { dir, endpoint, subscriptionId, token, ...(state ? { state } : {}) };
}

export function armClients(conn: SandboxConnection): ArmClients {
  const cred = staticTokenCredential(conn.token);
  // Named in the User-Agent like the product's components (src/azure/clients.ts), so `arm-stats` tells them apart.
  const o = { endpoint: conn.endpoint, userAgentOptions: { userAgentPrefix: 'site-recovery-sandbox' } };
  return {
    resources: new ResourceManagementClient(cred, conn.subscriptionId, o),
    network: new NetworkManagementClient(cred, conn.subscriptionId, o),
    compute: new ComputeManagementClient(cred, conn.subscriptionId, o),
  };
}

/** The page blob behind a managed disk / snapshot / disk restore point (the hypervisor's view). */
export function diskAccess(conn: SandboxConnection, resourceId: string): { url: string; credential: StorageSharedKeyCredential } {
  const s = conn.state;
  if (!s) throw new Error(`the sandbox state file ${path.join(conn.dir, 'state.json')} is missing: is \`sandbox up\` running there?`);
  return { url: sandboxDiskBlobUrl(s, resourceId), credential: new StorageSharedKeyCredential(s.storage.diskAccount, s.storage.diskAccountKey) };
}

/** Poll LROs briskly: the emulator usually answers within milliseconds. */
export const pollFast = { updateIntervalInMs: 50 } as const;
