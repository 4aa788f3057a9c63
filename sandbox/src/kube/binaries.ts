/**
 * kube-apiserver and etcd binaries for the local control plane.
 *
 * Looked up, in order:
 *   1. `KUBEBUILDER_ASSETS`: a directory that already holds `kube-apiserver` and `etcd` (as envtest does).
 *   2. The cache: `$SITE_RECOVERY_CACHE_DIR/controlplane/<k8s>-<etcd>/`, by default
 *      `${XDG_CACHE_HOME:-~/.cache}/site-recovery-operator/controlplane/<k8s>-<etcd>/`.
 *   3. Otherwise built once from the Go modules in tools/controlplane/ (pinned there, see gomod.ts) into a
 *      temp dir next to the cache entry, checked, and renamed into place atomically. A lock file makes a
 *      concurrent process wait for the running build instead of starting its own.
 *
 *   node sandbox/src/kube/binaries.ts      # builds if needed; prints the directory (usable as KUBEBUILDER_ASSETS)
 */
import { spawn } from 'node:child_process';
import { constants as fsc } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type winston from 'winston';
import { createLogger } from '../../../src/util/logger.ts';
import { ETCD_MODULE_DIR, KUBE_MODULE_DIR, parseGoMod } from './gomod.ts';

export const KUBE_APISERVER_PKG = 'k8s.io/kubernetes/cmd/kube-apiserver';
export const ETCD_PKG = 'go.etcd.io/etcd/server/v3';

export interface ControlPlaneVersions {
  kubernetes: string;
  etcd: string;
}

export interface ControlPlaneBinaries {
  dir: string;
  kubeApiserver: string;
  etcd: string;
  source: 'KUBEBUILDER_ASSETS' | 'cache' | 'built';
}

export interface EnsureBinariesOptions {
  /** Root of the project cache; default `$SITE_RECOVERY_CACHE_DIR` or `${XDG_CACHE_HOME:-~/.cache}/site-recovery-operator`. */
  cacheDir?: string;
  /** Directory with prebuilt binaries; default `$KUBEBUILDER_ASSETS`. Pass `''` to ignore the variable. */
  assetsDir?: string;
  logger?: winston.Logger;
}

/** The versions pinned by tools/controlplane/{kube,etcd}/go.mod. */
export async function pinnedVersions(): Promise<ControlPlaneVersions> {
  const [kubeMod, etcdMod] = await Promise.all([
    fs.readFile(path.join(KUBE_MODULE_DIR, 'go.mod'), 'utf8'),
    fs.readFile(path.join(ETCD_MODULE_DIR, 'go.mod'), 'utf8'),
  ]);
  const kubernetes = parseGoMod(kubeMod).requires.get('k8s.io/kubernetes');
  const etcd = parseGoMod(etcdMod).requires.get(ETCD_PKG);
  if (!kubernetes || !etcd) throw new Error('tools/controlplane go.mod files do not pin k8s.io/kubernetes and etcd');
  return { kubernetes, etcd };
}

export function defaultCacheDir(): string {
  if (process.env.SITE_RECOVERY_CACHE_DIR) return path.resolve(process.env.SITE_RECOVERY_CACHE_DIR);
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(xdg, 'site-recovery-operator');
}

export async function isExecutable(file: string): Promise<boolean> {
  try {
    await fs.access(file, fsc.X_OK);
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}

async function binariesIn(dir: string): Promise<{ kubeApiserver: string; etcd: string } | undefined> {
  const kubeApiserver = path.join(dir, 'kube-apiserver');
  const etcd = path.join(dir, 'etcd');
  return (await isExecutable(kubeApiserver)) && (await isExecutable(etcd)) ? { kubeApiserver, etcd } : undefined;
}

export async function ensureBinaries(opts: EnsureBinariesOptions = {}): Promise<ControlPlaneBinaries> {
  const log = opts.logger ?? createLogger('controlplane');
  const assets = opts.assetsDir ?? process.env.KUBEBUILDER_ASSETS ?? '';
  if (assets) {
    const found = await binariesIn(assets);
    if (!found) throw new Error(`KUBEBUILDER_ASSETS=${assets} does not hold executable kube-apiserver and etcd`);
    return { dir: path.resolve(assets), ...found, source: 'KUBEBUILDER_ASSETS' };
  }
  const versions = await pinnedVersions();
  const root = path.join(opts.cacheDir ?? defaultCacheDir(), 'controlplane');
  const dir = path.join(root, `${versions.kubernetes}-${versions.etcd}`);
  const cached = await binariesIn(dir);
  if (cached) return { dir, ...cached, source: 'cache' };

  await fs.mkdir(root, { recursive: true });
  const release = await acquireLock(`${dir}.lock`, log);
  try {
    const built = await binariesIn(dir); // another process may have finished while we waited
    if (built) return { dir, ...built, source: 'cache' };
    await build(versions, dir, log);
    const found = await binariesIn(dir);
    if (!found) throw new Error(`build finished but ${dir} holds no binaries`);
    return { dir, ...found, source: 'built' };
  } finally {
    await release();
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** An exclusive lock file holding the owner's pid; a lock whose owner is gone is taken over. */
export async function acquireLock(lockPath: string, log: winston.Logger): Promise<() => Promise<void>> {
  let announced = false;
  for (;;) {
    try {
      const fh = await fs.open(lockPath, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return () => fs.rm(lockPath, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number.parseInt(await fs.readFile(lockPath, 'utf8').catch(() => ''), 10);
    if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) {
      log.warn('removing stale control-plane build lock', { lockPath, owner });
      await fs.rm(lockPath, { force: true });
      continue;
    }
    if (!announced) {
      log.info('another process is building the control-plane binaries; waiting', { lockPath, owner });
      announced = true;
    }
    // Between EEXIST and reading, the file may hold no pid yet (owner mid-write): just retry.
    await new Promise((r) => setTimeout(r, 500));
  }
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, log: winston.Logger): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const collect = (chunk: Buffer): void => {
      const text = chunk.toString();
      out = (out + text).slice(-64 * 1024);
      for (const line of text.split('\n')) if (line.trim()) log.debug(line, { cmd: path.basename(cmd) });
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', (err) =>
      reject(
        (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? new Error(`${cmd} not found: install Go >= 1.24 (or set KUBEBUILDER_ASSETS to prebuilt binaries)`)
          : err,
      ),
    );
    child.on('close', (code, signal) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${out.slice(-8000)}`));
    });
  });
}

/** `-ldflags` that make `/version` report the pinned release instead of v0.0.0. */
export function kubeVersionLdflags(kubernetes: string): string {
  const m = /^v(\d+)\.(\d+)\.\d+/.exec(kubernetes);
  if (!m) throw new Error(`unexpected Kubernetes version ${kubernetes}`);
  const pkg = 'k8s.io/component-base/version';
  return [
    '-s -w',
    `-X ${pkg}.gitVersion=${kubernetes}`,
    `-X ${pkg}.gitMajor=${m[1]}`,
    `-X ${pkg}.gitMinor=${m[2]}`,
    `-X ${pkg}.gitTreeState=clean`,
  ].join(' ');
}

/** `go1.26.8` → [1, 26, 8]; `1.24.0` → [1, 24, 0]. */
function versionParts(v: string): number[] {
  return (/(\d+)\.(\d+)(?:\.(\d+))?/.exec(v) ?? []).slice(1, 4).map((n) => Number(n ?? 0));
}

function atLeast(have: number[], want: number[]): boolean {
  for (let i = 0; i < 3; i++) if ((have[i] ?? 0) !== (want[i] ?? 0)) return (have[i] ?? 0) > (want[i] ?? 0);
  return true;
}

/** Fails with a clear message when `go` is missing or older than the modules' go directive. */
async function checkGo(env: NodeJS.ProcessEnv, log: winston.Logger): Promise<void> {
  const wanted = parseGoMod(await fs.readFile(path.join(KUBE_MODULE_DIR, 'go.mod'), 'utf8')).goVersion;
  const have = (await run('go', ['env', 'GOVERSION'], KUBE_MODULE_DIR, env, log)).trim();
  if (!atLeast(versionParts(have), versionParts(wanted))) {
    throw new Error(`building kube-apiserver needs Go >= ${wanted}, found ${have} (or set KUBEBUILDER_ASSETS to prebuilt binaries)`);
  }
}

async function build(versions: ControlPlaneVersions, dir: string, log: winston.Logger): Promise<void> {
  const env = { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly -buildvcs=false' };
  await checkGo(env, log);
  const tmp = await fs.mkdtemp(`${dir}.tmp-`);
  const started = Date.now();
  log.info('building control-plane binaries from Go modules (first run only; several minutes on 2 cores)', {
    ...versions,
    into: dir,
  });
  try {
    await Promise.all([
      run(
        'go',
        ['build', '-trimpath', '-ldflags', kubeVersionLdflags(versions.kubernetes), '-o', path.join(tmp, 'kube-apiserver'), KUBE_APISERVER_PKG],
        KUBE_MODULE_DIR,
        env,
        log,
      ),
      run('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', path.join(tmp, 'etcd'), ETCD_PKG], ETCD_MODULE_DIR, env, log),
    ]);
    const kubeOut = await run(path.join(tmp, 'kube-apiserver'), ['--version'], tmp, env, log);
    if (!kubeOut.includes(versions.kubernetes)) throw new Error(`built kube-apiserver reports ${kubeOut.trim()}`);
    const etcdOut = await run(path.join(tmp, 'etcd'), ['--version'], tmp, env, log);
    if (!etcdOut.includes(versions.etcd.replace(/^v/, ''))) throw new Error(`built etcd reports ${etcdOut.trim()}`);
    await fs.writeFile(
      path.join(tmp, 'versions.json'),
      `${JSON.stringify({ ...versions, builtAt: new Date().toISOString(), buildSeconds: (Date.now() - started) / 1000 }, null, 2)}\n`,
    );
    await fs.rename(tmp, dir);
    log.info('control-plane binaries built', { dir, seconds: Math.round((Date.now() - started) / 1000) });
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const bins = await ensureBinaries();
    process.stdout.write(`${bins.dir}\n`);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}
