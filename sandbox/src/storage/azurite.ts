// Runs Azurite's blob service as a child process (see azurite-child.ts): HTTPS with a certificate from the
// sandbox CA, `--oauth basic` (bearer tokens), path-style URLs only, in memory or persisted on disk.
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../../src/util/logger.ts';

const log = createLogger('sandbox-azurite');

export interface AzuriteOptions {
  /** Working dir: Azurite's data lives in `<dir>/azurite` when persist is set. */
  dir: string;
  persist: boolean;
  certPath: string;
  keyPath: string;
  /** Trusted by Azurite's own outgoing calls (copy source validation goes through the front). */
  caCertPath: string;
  /** name -> base64 key */
  accounts: Record<string, string>;
  /** Azurite debug log file (very verbose), off by default. */
  debugLogPath?: string;
}

export interface AzuriteProcess {
  /** e.g. https://127.0.0.1:41234 (no trailing slash) */
  readonly origin: string;
  readonly port: number;
  readonly pid: number;
  /** Replaces Azurite's account table (takes effect before the promise resolves). */
  setAccounts(accounts: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

const CHILD = fileURLToPath(new URL('./azurite-child.ts', import.meta.url));

function accountsEnv(accounts: Record<string, string>): string {
  return Object.entries(accounts)
    .map(([name, key]) => `${name}:${key}`)
    .join(';');
}

export async function startAzurite(opts: AzuriteOptions): Promise<AzuriteProcess> {
  const args = await azuriteArgs(opts);
  await fs.mkdir(opts.dir, { recursive: true });
  const { child, output } = forkAzurite(opts, args);

  // Kill the child if this process exits without stop() (the child also exits on IPC disconnect).
  const onExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', onExit);

  let exited = false;
  let stopping = false;
  let nextId = 1;
  const exitPromise = once(child, 'exit').then(() => {
    exited = true;
  });

  const origin = await readyAddress(child, output).catch((err: unknown) => {
    process.off('exit', onExit);
    child.kill('SIGKILL');
    throw err;
  });
  const port = Number(new URL(origin).port);
  log.info('azurite started', { origin, pid: child.pid, persist: opts.persist });

  child.on('exit', (code, signal) => {
    if (!stopping) log.error('azurite exited unexpectedly', { code, signal, output: output.join('').slice(-2000) });
  });

  return {
    origin,
    port,
    pid: child.pid ?? -1,
    async setAccounts(accounts) {
      if (exited) throw new Error('Azurite is not running');
      await sendAccounts(child, nextId++, accounts);
    },
    async stop() {
      if (stopping) return exitPromise;
      stopping = true;
      process.off('exit', onExit);
      if (exited) return;
      child.send({ type: 'shutdown' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exitPromise;
      clearTimeout(timer);
      log.info('azurite stopped');
    },
  };
}

/** Azurite's command line: blob service only, on any port of 127.0.0.1, over HTTPS, data in <dir>/azurite or in memory. */
async function azuriteArgs(opts: AzuriteOptions): Promise<string[]> {
  const args = [
    '--blobHost', '127.0.0.1',
    '--blobPort', '0',
    '--oauth', 'basic',
    '--cert', opts.certPath,
    '--key', opts.keyPath,
    '--skipApiVersionCheck',
    '--disableProductStyleUrl',
    '--disableTelemetry',
    '--silent',
  ];
  if (opts.persist) {
    const location = path.join(opts.dir, 'azurite');
    await fs.mkdir(location, { recursive: true });
    args.push('--location', location);
  } else {
    args.push('--inMemoryPersistence');
  }
  if (opts.debugLogPath) args.push('--debug', opts.debugLogPath);
  return args;
}

/** The child wrapper with Azurite's arguments; `output` keeps its last 50 chunks of stdout and stderr. */
function forkAzurite(opts: AzuriteOptions, args: string[]): { child: ChildProcess; output: string[] } {
  const child: ChildProcess = fork(CHILD, args, {
    cwd: opts.dir,
    execPath: process.execPath,
    // Node options of the parent (e.g. vitest's loaders) are not for Azurite. For performance work,
    // SANDBOX_AZURITE_CPU_PROFILE_DIR=<dir> writes a V8 CPU profile of Azurite there when it stops.
    execArgv: process.env.SANDBOX_AZURITE_CPU_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.SANDBOX_AZURITE_CPU_PROFILE_DIR}`] : [],
    env: {
      ...process.env,
      AZURITE_ACCOUNTS: accountsEnv(opts.accounts),
      NODE_EXTRA_CA_CERTS: opts.caCertPath,
      NODE_OPTIONS: '',
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const output: string[] = [];
  const keep = (chunk: Buffer): void => {
    output.push(chunk.toString());
    if (output.length > 50) output.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return { child, output };
}

/** The origin the child reports once Azurite listens; rejects if it reports an error or exits first. */
function readyAddress(child: ChildProcess, output: string[]): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const onMessage = (msg: { type: string; address?: string; message?: string }): void => {
      if (msg.type === 'ready' && msg.address) {
        cleanup();
        resolve(msg.address);
      } else if (msg.type === 'error') {
        cleanup();
        reject(new Error(`Azurite failed to start: ${msg.message}`));
      }
    };
    const onEarlyExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`Azurite exited during start (code ${code}): ${output.join('').slice(-2000)}`));
    };
    const cleanup = (): void => {
      child.off('message', onMessage);
      child.off('exit', onEarlyExit);
    };
    child.on('message', onMessage);
    child.on('exit', onEarlyExit);
  });
}

/** Replaces the child's account table; resolves when it acknowledges change `id`. */
async function sendAccounts(child: ChildProcess, id: number, accounts: Record<string, string>): Promise<void> {
  const ack = new Promise<void>((resolve, reject) => {
    const onMessage = (msg: { type: string; id?: number }): void => {
      if (msg.type === 'ack' && msg.id === id) {
        child.off('message', onMessage);
        child.off('exit', onExitEarly);
        resolve();
      }
    };
    const onExitEarly = (): void => {
      child.off('message', onMessage);
      reject(new Error('Azurite exited before accepting the account change'));
    };
    child.on('message', onMessage);
    child.once('exit', onExitEarly);
  });
  child.send({ type: 'accounts', id, value: accountsEnv(accounts) });
  await ack;
}
