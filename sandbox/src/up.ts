// `site-recovery sandbox up` / `down`: local Azure (storage + ARM emulator) and the Kubernetes control plane,
// run in the foreground of one process; the env and state files tell everyone else how to reach them.
import fs from 'node:fs';
import path from 'node:path';
import { createLogger } from '../../src/util/logger.ts';
import { startArmEmulator } from './arm/index.ts';
import type { ArmEmulator } from './arm/index.ts';
import type { ControlPlane } from './kube/index.ts';
import { startControlPlane } from './kube/index.ts';
import { isAlive, readSandboxState, removeSandboxFiles, writeSandboxFiles } from './state.ts';
import type { SandboxState } from './state.ts';
import { sandboxAccessToken, startLocalStorage } from './storage/index.ts';
import type { LocalStorage } from './storage/index.ts';
import { ensureSandboxCa } from './tls.ts';
import { sandboxRbac } from './azure-roles.ts';

const log = createLogger('sandbox');

export interface SandboxUpOptions {
  dir: string;
  persist?: boolean;
  /** Start the Kubernetes control plane (default true). */
  kube?: boolean;
  armPort?: number;
  storagePort?: number;
  /** LRO duration of the ARM emulator in ms (default 0). */
  armLatencyMs?: number;
  /** ARM's token buckets (arm/throttling.ts) from the start; `scale` multiplies their sizes and refill rates. */
  armThrottling?: { scale?: number };
  /**
   * Azure RBAC in the ARM emulator and the storage front: the operator and datapath principals (their tokens in
   * the env file) hold exactly the shipped roles (deploy/azure-roles/), the sandbox's own principal is Owner and
   * Storage Blob Data Owner; anything else 403 (blob data actions: storage/front-rbac.ts).
   */
  azureRbac?: boolean;
}

export interface Sandbox {
  state: SandboxState;
  storage: LocalStorage;
  arm: ArmEmulator;
  kube?: ControlPlane;
  stop(): Promise<void>;
}

interface Ports {
  arm?: number;
}

function readPorts(dir: string): Ports {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'ports.json'), 'utf8')) as Ports;
  } catch {
    return {};
  }
}

/** Starts everything and writes `<dir>/env` and `<dir>/state.json`. */
export async function startSandbox(opts: SandboxUpOptions): Promise<Sandbox> {
  const dir = path.resolve(opts.dir);
  const persist = opts.persist ?? false;
  const running = readSandboxState(dir);
  if (running && running.pid !== process.pid && isAlive(running.pid)) {
    throw new Error(`a sandbox is already running in ${dir} (pid ${running.pid}); stop it with \`site-recovery sandbox down\``);
  }
  fs.mkdirSync(dir, { recursive: true });
  const ca = await ensureSandboxCa(dir);
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of stops.reverse()) {
      try {
        await s();
      } catch (err) {
        log.error('stopping a sandbox component failed', { error: String(err) });
      }
    }
    stops.length = 0;
  };
  try {
    const storage = await startLocalStorage({ dir: path.join(dir, 'storage'), persist, ca, ...(opts.storagePort ? { port: opts.storagePort } : {}) });
    stops.push(() => storage.stop());

    const previous = persist ? readPorts(dir).arm : undefined;
    let arm: ArmEmulator;
    const throttling = opts.armThrottling ? { enabled: true, ...opts.armThrottling } : undefined;
    const armOpts = { storage, ca, dir, persist, latency: opts.armLatencyMs ?? 0, ...(throttling ? { throttling } : {}) };
    try {
      arm = await startArmEmulator({ ...armOpts, ...(opts.armPort ?? previous ? { port: opts.armPort ?? previous } : {}) });
    } catch (err) {
      if (opts.armPort || !previous || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      log.warn('previous ARM port is taken, using another', { port: previous });
      arm = await startArmEmulator(armOpts);
    }
    if (opts.azureRbac) arm.rbac.configure(sandboxRbac(arm.subscriptionId));
    stops.push(() => arm.stop());
    if (persist) fs.writeFileSync(path.join(dir, 'ports.json'), JSON.stringify({ arm: arm.port }));

    let kube: ControlPlane | undefined;
    if (opts.kube ?? true) {
      kube = await startControlPlane({
        ...(persist ? { dataDir: path.join(dir, 'kube') } : {}),
        kubeconfigPath: path.join(dir, 'kubeconfig'),
      });
      stops.push(() => kube!.stop());
    }

    const state: SandboxState = {
      version: 1,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      dir,
      persist,
      caCertPath: ca.caCertPath,
      accessToken: sandboxAccessToken(),
      principalTokens: { operator: sandboxAccessToken('operator'), datapath: sandboxAccessToken('datapath') },
      arm: { endpoint: arm.endpoint, port: arm.port, subscriptionId: arm.subscriptionId },
      storage: { endpoint: storage.diskEndpoint, diskAccount: storage.diskAccount, diskAccountKey: storage.accountKey(storage.diskAccount) },
      ...(kube ? { kube: { kubeconfig: kube.kubeconfigPath, server: kube.server, ...(kube.pids ? { pids: kube.pids } : {}) } } : {}),
    };
    writeSandboxFiles(state);
    let stopping: Promise<void> | undefined;
    return {
      state,
      storage,
      arm,
      ...(kube ? { kube } : {}),
      stop() {
        stopping ??= (async () => {
          const current = readSandboxState(dir);
          if (current?.pid === process.pid) removeSandboxFiles(dir);
          await stopAll();
        })();
        return stopping;
      },
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Foreground `sandbox up`: runs until SIGINT/SIGTERM/SIGHUP, then stops everything cleanly. */
export async function runSandboxUp(opts: SandboxUpOptions, out: (line: string) => void = (l) => console.log(l)): Promise<void> {
  let signalled: NodeJS.Signals | undefined;
  const done = new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals): void => {
      if (signalled) return;
      signalled = sig;
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onSignal);
  });
  const sandbox = await startSandbox(opts);
  const s = sandbox.state;
  out(`ARM          ${s.arm.endpoint} (subscription ${s.arm.subscriptionId})`);
  out(`storage      ${s.storage.endpoint}<account>/`);
  if (s.kube) out(`kubernetes   ${s.kube.server} (KUBECONFIG=${s.kube.kubeconfig})`);
  out(`CA           ${s.caCertPath}`);
  const t = sandbox.arm.throttling.config;
  if (t.enabled) out(`throttling   ARM token buckets at scale ${t.scale} (\`site-recovery sandbox arm-stats\` counts reads, writes, deletes, 429s)`);
  if (sandbox.arm.rbac.enabled) out('azure rbac   operator and datapath hold exactly deploy/azure-roles/*.json (their tokens: SITE_RECOVERY_OPERATOR_ACCESS_TOKEN, SITE_RECOVERY_DATAPATH_ACCESS_TOKEN)');
  out(`environment  source ${path.relative(process.cwd(), path.join(s.dir, 'env')) || path.join(s.dir, 'env')}`);
  out('sandbox ready (Ctrl-C or `site-recovery sandbox down` stops it)');
  if (signalled === undefined) await done;
  log.info('stopping sandbox', { signal: signalled });
  await sandbox.stop();
  out('sandbox stopped');
}

/** `sandbox down`: stops the sandbox running in `dir` (SIGTERM, then SIGKILL after the timeout). */
export async function sandboxDown(dir: string, timeoutMs = 60_000): Promise<'stopped' | 'not-running'> {
  const state = readSandboxState(dir);
  if (!state || !isAlive(state.pid)) {
    if (state) removeSandboxFiles(dir);
    return 'not-running';
  }
  process.kill(state.pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  // Polling: another process's exit cannot be awaited as an event.
  while (isAlive(state.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (isAlive(state.pid)) {
    process.kill(state.pid, 'SIGKILL');
    for (const pid of Object.values(state.kube?.pids ?? {})) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    removeSandboxFiles(dir);
  }
  return 'stopped';
}
