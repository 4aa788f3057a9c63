/**
 * A real Kubernetes control plane as local processes (the envtest approach): etcd and a secure
 * kube-apiserver on free loopback ports, RBAC on, an admin client certificate in system:masters, and the
 * project's CRDs installed. No controllers run (no garbage collection; namespaces stay Terminating).
 *
 * With `useExistingCluster` (env SITE_RECOVERY_USE_EXISTING_CLUSTER=1) nothing is started: the cluster
 * of $KUBECONFIG (or ~/.kube/config) is used and only the CRDs are installed, like envtest's
 * USE_EXISTING_CLUSTER. It is never used implicitly.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import type winston from 'winston';
import YAML from 'yaml';
import { createLogger } from '../../../src/util/logger.ts';
import { ensureBinaries } from './binaries.ts';
import type { ControlPlaneBinaries } from './binaries.ts';
import { installCrds } from './crds.ts';
import { createControlPlanePki } from './pki.ts';
import type { ControlPlanePki } from './pki.ts';
import { startReaper } from './reaper.ts';
import type { Reaper } from './reaper.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const DEFAULT_CRD_DIR = path.join(REPO_ROOT, 'crds');
const SERVICE_CIDR = '10.0.0.0/24';
const SERVICE_IP = '10.0.0.1';

export interface StartControlPlaneOptions {
  /** Directory of CRD manifests to install; default `<repo>/crds`. `null` installs none. Missing/empty dir: none. */
  crdDir?: string | null;
  /**
   * Keep etcd data, certificates and logs here (e.g. `.sandbox/kube` for `site-recovery sandbox up`); they
   * survive stop() and are reused by the next start. Default: a temp dir removed by stop().
   */
  dataDir?: string;
  /** Milliseconds to wait for etcd + apiserver readiness; default 180 s (2-core machines). */
  startTimeoutMs?: number;
  /** Use the cluster of $KUBECONFIG instead of starting one; default: env SITE_RECOVERY_USE_EXISTING_CLUSTER. */
  useExistingCluster?: boolean;
  /** Where to write the admin kubeconfig; default `<dataDir or temp dir>/kubeconfig`. */
  kubeconfigPath?: string;
  /** Extra kube-apiserver flags (`--name=value`). */
  apiserverFlags?: string[];
  binaries?: ControlPlaneBinaries;
  logger?: winston.Logger;
}

export interface ControlPlane {
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  /** https://127.0.0.1:<port> */
  server: string;
  /** True when an existing cluster is used (stop() then does nothing). */
  existing: boolean;
  /** Directory with etcd data, certificates and the process logs (etcd.log, kube-apiserver.log). */
  dir?: string;
  /** Names of the CRDs that were installed and are Established. */
  crds: string[];
  /** Process ids (absent for an existing cluster). */
  pids?: { etcd: number; kubeApiserver: number };
  /** Stops both processes (apiserver first) and removes the temp dir; idempotent. */
  stop(): Promise<void>;
}

export function useExistingClusterFromEnv(): boolean {
  const v = (process.env.SITE_RECOVERY_USE_EXISTING_CLUSTER ?? '').toLowerCase();
  return v === '1' || v === 'true' || v === 'yes';
}

export async function startControlPlane(opts: StartControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = opts.logger ?? createLogger('controlplane');
  const crdDir = opts.crdDir === undefined ? DEFAULT_CRD_DIR : opts.crdDir;
  const timeoutMs = opts.startTimeoutMs ?? 180_000;
  if (opts.useExistingCluster ?? useExistingClusterFromEnv()) return useExisting(crdDir, timeoutMs, log);

  const binaries = opts.binaries ?? (await ensureBinaries({ logger: log }));
  const temp = opts.dataDir === undefined;
  const dir = temp ? await fsp.mkdtemp(path.join(os.tmpdir(), 'site-recovery-cp-')) : path.resolve(opts.dataDir!);
  const procs: Proc[] = [];
  const reaper: Reaper = startReaper();
  if (temp) reaper.watchDir(dir);
  let stopped = false;

  const killAllSync = (): void => {
    for (const p of procs) p.child.kill('SIGKILL');
    if (temp) fs.rmSync(dir, { recursive: true, force: true });
    reaper.release();
  };
  live.add(killAllSync);
  installProcessHandlers();

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    live.delete(killAllSync);
    // apiserver first, so it does not log etcd connection errors while shutting down.
    for (const p of [...procs].reverse()) await p.terminate(10_000);
    reaper.release();
    if (temp) await fsp.rm(dir, { recursive: true, force: true });
  };

  try {
    const started = Date.now();
    const deadline = started + timeoutMs;
    const pki = await loadOrCreatePki(path.join(dir, 'pki'));
    const files = await writePkiFiles(path.join(dir, 'pki'), pki);
    await fsp.mkdir(path.join(dir, 'etcd'), { recursive: true });

    let server = '';
    for (let attempt = 1; ; attempt++) {
      const [etcdPort, etcdPeerPort, apiPort] = await freePorts(3);
      const etcd = startProcess('etcd', binaries.etcd, etcdArgs(path.join(dir, 'etcd'), etcdPort!, etcdPeerPort!), dir, log);
      procs.push(etcd);
      reaper.watchPid(etcd.child.pid);
      try {
        await waitFor(etcd, deadline, () => httpOk(`http://127.0.0.1:${etcdPort}/health`));
        const apiserver = startProcess(
          'kube-apiserver',
          binaries.kubeApiserver,
          [...apiserverArgs(dir, files, etcdPort!, apiPort!), ...(opts.apiserverFlags ?? [])],
          dir,
          log,
        );
        procs.push(apiserver);
        reaper.watchPid(apiserver.child.pid);
        server = `https://127.0.0.1:${apiPort}`;
        await waitFor(apiserver, deadline, () => readyz(server, pki));
        break;
      } catch (err) {
        // A port taken between probing and binding is the one failure worth retrying.
        const portClash = err instanceof ProcessExitedError && /address already in use/i.test(err.logTail);
        for (const p of procs.splice(0).reverse()) await p.terminate(5_000);
        if (!portClash || attempt >= 3) throw err;
        log.warn('control-plane port clash; retrying on other ports', { attempt });
      }
    }

    const kubeconfigPath = path.resolve(opts.kubeconfigPath ?? path.join(dir, 'kubeconfig'));
    const kubeConfigText = adminKubeconfig(server, pki);
    await fsp.mkdir(path.dirname(kubeconfigPath), { recursive: true });
    await fsp.writeFile(kubeconfigPath, kubeConfigText, { mode: 0o600 });
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromString(kubeConfigText);
    const crds = crdDir ? await installCrds(kubeConfig, crdDir, { deadline, logger: log }) : [];
    log.info('control plane ready', { server, kubeconfigPath, seconds: (Date.now() - started) / 1000, crds: crds.length });
    const pids = { etcd: procs[0]!.child.pid!, kubeApiserver: procs[1]!.child.pid! };
    return { kubeconfigPath, kubeConfig, server, existing: false, dir, crds, pids, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

// One set of process handlers for all control planes of this process.
// - exit: kill what is still running (synchronously: nothing else can run there).
// - SIGINT/SIGTERM/SIGHUP: when nobody else listens, kill everything and re-raise the signal so the
//   process still terminates as it would have. When the application has its own handler (e.g.
//   `site-recovery sandbox up` stopping everything in order), leave the shutdown to it; the exit
//   handler and the reaper still guarantee that nothing survives.
const live = new Set<() => void>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let handlersInstalled = false;

function killLive(): void {
  for (const kill of live) kill();
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  killLive();
  process.off('exit', killLive);
  for (const s of SIGNALS) process.off(s, onSignal);
  handlersInstalled = false;
  process.kill(process.pid, signal);
}

function installProcessHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killLive);
  for (const s of SIGNALS) process.on(s, onSignal);
}

async function useExisting(crdDir: string | null, timeoutMs: number, log: winston.Logger): Promise<ControlPlane> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('SITE_RECOVERY_USE_EXISTING_CLUSTER is set but no cluster is configured in $KUBECONFIG');
  const kubeconfigPath = (process.env.KUBECONFIG ?? '').split(path.delimiter).find(Boolean) ?? path.join(os.homedir(), '.kube', 'config');
  log.info('using existing cluster', { server: cluster.server, context: kubeConfig.getCurrentContext() });
  const crds = crdDir ? await installCrds(kubeConfig, crdDir, { deadline: Date.now() + timeoutMs, logger: log }) : [];
  return { kubeconfigPath, kubeConfig, server: cluster.server, existing: true, crds, stop: async () => {} };
}

function etcdArgs(dataDir: string, port: number, peerPort: number): string[] {
  const client = `http://127.0.0.1:${port}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    '--name=default',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
    '--unsafe-no-fsync',
    '--log-level=warn',
  ];
}

interface PkiFiles {
  caCert: string;
  servingCert: string;
  servingKey: string;
  saKey: string;
  saPub: string;
}

function apiserverArgs(dir: string, f: PkiFiles, etcdPort: number, port: number): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${port}`,
    `--cert-dir=${path.join(dir, 'pki', 'generated')}`,
    `--tls-cert-file=${f.servingCert}`,
    `--tls-private-key-file=${f.servingKey}`,
    `--client-ca-file=${f.caCert}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    '--allow-privileged=true',
    '--authorization-mode=RBAC',
    '--disable-admission-plugins=ServiceAccount',
    `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
    `--service-account-key-file=${f.saPub}`,
    `--service-account-signing-key-file=${f.saKey}`,
  ];
}

const PKI_FILE = 'pki.json';

async function loadOrCreatePki(pkiDir: string): Promise<ControlPlanePki> {
  const file = path.join(pkiDir, PKI_FILE);
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as ControlPlanePki;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const pki = await createControlPlanePki({ serviceIp: SERVICE_IP });
  await fsp.mkdir(pkiDir, { recursive: true, mode: 0o700 });
  await fsp.writeFile(file, JSON.stringify(pki), { mode: 0o600 });
  return pki;
}

async function writePkiFiles(pkiDir: string, pki: ControlPlanePki): Promise<PkiFiles> {
  const f: PkiFiles = {
    caCert: path.join(pkiDir, 'ca.crt'),
    servingCert: path.join(pkiDir, 'apiserver.crt'),
    servingKey: path.join(pkiDir, 'apiserver.key'),
    saKey: path.join(pkiDir, 'sa.key'),
    saPub: path.join(pkiDir, 'sa.pub'),
  };
  await Promise.all([
    fsp.writeFile(f.caCert, pki.ca.certPem),
    fsp.writeFile(f.servingCert, pki.serving.certPem),
    fsp.writeFile(f.servingKey, pki.serving.keyPem, { mode: 0o600 }),
    fsp.writeFile(f.saKey, pki.serviceAccount.privateKeyPem, { mode: 0o600 }),
    fsp.writeFile(f.saPub, pki.serviceAccount.publicKeyPem),
  ]);
  return f;
}

function adminKubeconfig(server: string, pki: ControlPlanePki): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'site-recovery', cluster: { server, 'certificate-authority-data': b64(pki.ca.certPem) } }],
    users: [
      {
        name: 'admin',
        user: { 'client-certificate-data': b64(pki.admin.certPem), 'client-key-data': b64(pki.admin.keyPem) },
      },
    ],
    contexts: [{ name: 'site-recovery', context: { cluster: 'site-recovery', user: 'admin' } }],
    'current-context': 'site-recovery',
  });
}

export class ProcessExitedError extends Error {
  readonly logTail: string;
  constructor(name: string, how: string, logTail: string) {
    super(`${name} exited during start-up (${how}); last log lines:\n${logTail}`);
    this.name = 'ProcessExitedError';
    this.logTail = logTail;
  }
}

interface Proc {
  name: string;
  child: ChildProcess;
  logFile: string;
  exited: Promise<string>;
  terminate(graceMs: number): Promise<void>;
}

function startProcess(name: string, bin: string, args: string[], dir: string, log: winston.Logger): Proc {
  const logFile = path.join(dir, `${name}.log`);
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(bin, args, { cwd: dir, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  log.debug('started', { name, pid: child.pid, logFile });
  let done = false;
  const exited = new Promise<string>((resolve) => {
    child.once('error', (err) => {
      done = true;
      resolve(`spawn error: ${err.message}`);
    });
    child.once('exit', (code, signal) => {
      done = true;
      resolve(signal ? `signal ${signal}` : `exit code ${code}`);
    });
  });
  return {
    name,
    child,
    logFile,
    exited,
    async terminate(graceMs: number): Promise<void> {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function tail(file: string, lines = 30): Promise<string> {
  const text = await fsp.readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** Polls `probe` until it succeeds; fails early when the process exits, or at the deadline. */
async function waitFor(proc: Proc, deadline: number, probe: () => Promise<boolean>): Promise<void> {
  let exitedHow: string | undefined;
  void proc.exited.then((how) => (exitedHow = how));
  for (;;) {
    if (exitedHow !== undefined) throw new ProcessExitedError(proc.name, exitedHow, await tail(proc.logFile));
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(`${proc.name} not ready before the start timeout; last log lines:\n${await tail(proc.logFile)}`);
    }
    await Promise.race([new Promise((r) => setTimeout(r, 200)), proc.exited]);
  }
}

async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  return res.ok;
}

function readyz(server: string, pki: ControlPlanePki): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(
      `${server}/readyz`,
      { ca: pki.ca.certPem, cert: pki.admin.certPem, key: pki.admin.keyPem, timeout: 5_000, agent: false },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Distinct free loopback TCP ports (all held open together, so they differ). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const s = net.createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
