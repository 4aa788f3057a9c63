// Files of a running sandbox (`site-recovery sandbox up`):
//   <dir>/env         shell-sourceable `export` lines: what the operator, the datapath, kubectl and the
//                     SDKs need (endpoints, subscription, token, CA file);
//   <dir>/state.json  (0600) pids and ports, and the managed-disk data-plane access that only the sandbox's
//                     own tools use (the "hypervisor" view: workload, disk hashes).
// Client commands (`sandbox vm create`, `workload`, `disk-hash`) read the environment first and fall back
// to these files.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DISK_ACCOUNT, DISK_CONTAINER } from './storage/index.ts';

export const DEFAULT_SANDBOX_DIR = '.sandbox';

export interface SandboxState {
  version: 1;
  pid: number;
  startedAt: string;
  dir: string;
  persist: boolean;
  caCertPath: string;
  /** The sandbox's own principal (Owner when roles are enforced). */
  accessToken: string;
  /** Tokens of the distinct operator and datapath principals (`sandbox up --azure-rbac` assigns their roles). */
  principalTokens?: { operator: string; datapath: string };
  arm: { endpoint: string; port: number; subscriptionId: string };
  storage: { endpoint: string; diskAccount: string; diskAccountKey: string };
  kube?: { kubeconfig: string; server: string; pids?: { etcd: number; kubeApiserver: number } };
}

export const envFile = (dir: string): string => path.join(path.resolve(dir), 'env');
export const stateFile = (dir: string): string => path.join(path.resolve(dir), 'state.json');

function shellQuote(v: string): string {
  return /^[\w@%+=:,./-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`;
}

/** The environment a sandbox hands to its users (see env file). */
export function sandboxEnv(state: SandboxState): Record<string, string> {
  const env: Record<string, string> = {};
  if (state.kube) env.KUBECONFIG = state.kube.kubeconfig;
  env.AZURE_SUBSCRIPTION_ID = state.arm.subscriptionId;
  env.AZURE_RESOURCE_MANAGER_ENDPOINT = state.arm.endpoint;
  env.SITE_RECOVERY_ACCESS_TOKEN = state.accessToken;
  if (state.principalTokens) {
    env.SITE_RECOVERY_OPERATOR_ACCESS_TOKEN = state.principalTokens.operator;
    env.SITE_RECOVERY_DATAPATH_ACCESS_TOKEN = state.principalTokens.datapath;
  }
  env.NODE_EXTRA_CA_CERTS = state.caCertPath;
  env.SITE_RECOVERY_STORAGE_ENDPOINT = state.storage.endpoint;
  env.SITE_RECOVERY_SANDBOX_DIR = state.dir;
  return env;
}

function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode });
  fs.renameSync(tmp, file);
}

export function writeSandboxFiles(state: SandboxState): void {
  fs.mkdirSync(state.dir, { recursive: true });
  const lines = [
    '# site-recovery sandbox: source this file (written by `site-recovery sandbox up`)',
    ...Object.entries(sandboxEnv(state)).map(([k, v]) => `export ${k}=${shellQuote(v)}`),
    '',
  ];
  writeAtomic(envFile(state.dir), lines.join('\n'), 0o600);
  writeAtomic(stateFile(state.dir), JSON.stringify(state, null, 2), 0o600);
}

export function removeSandboxFiles(dir: string): void {
  fs.rmSync(envFile(dir), { force: true });
  fs.rmSync(stateFile(dir), { force: true });
}

export function readSandboxState(dir: string): SandboxState | undefined {
  try {
    return JSON.parse(fs.readFileSync(stateFile(dir), 'utf8')) as SandboxState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Parses the `export K=V` lines of an env file. */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2]!.trim();
    if (v.startsWith("'") && v.endsWith("'")) v = v.slice(1, -1).replace(/'\\''/g, "'");
    else if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    out[m[1]!] = v;
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Page-blob URL of a managed disk / snapshot / disk restore point in a running sandbox, for the sandbox's
 * own tools. Same scheme as LocalStorage.diskBlobUrl (checked by the CLI integration test).
 */
export function sandboxDiskBlobUrl(state: Pick<SandboxState, 'storage'>, resourceId: string): string {
  const name = crypto.createHash('sha256').update(resourceId.toLowerCase()).digest('hex');
  const base = state.storage.endpoint.endsWith('/') ? state.storage.endpoint : `${state.storage.endpoint}/`;
  return `${base}${DISK_ACCOUNT}/${DISK_CONTAINER}/${name}`;
}
