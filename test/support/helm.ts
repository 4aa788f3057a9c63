/**
 * helm and kustomize for the packaging tests, built from the Go module in tools/helm/ (pinned there) and
 * cached like the control-plane binaries:
 *
 *   1. `HELM_BIN` / `KUSTOMIZE_BIN`: use these executables as they are.
 *   2. The cache: `$SITE_RECOVERY_CACHE_DIR/packaging-tools/<helm>-<kustomize>/`, by default
 *      `${XDG_CACHE_HOME:-~/.cache}/site-recovery-operator/packaging-tools/<helm>-<kustomize>/`.
 *   3. Otherwise `go build` once (CGO_ENABLED=0, -mod=readonly) into a temp dir next to the cache entry,
 *      checked with `helm version` / `kustomize version`, and renamed into place; a lock file makes a
 *      concurrent test worker wait for the running build.
 *
 *   node test/support/helm.ts        # builds if needed; prints the directory holding helm and kustomize
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { acquireLock, defaultCacheDir, isExecutable } from '../../sandbox/src/kube/binaries.ts';
import { parseGoMod } from '../../sandbox/src/kube/gomod.ts';
import { createLogger } from '../../src/util/logger.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const HELM_MODULE_DIR = path.join(REPO_ROOT, 'tools/helm');
export const CHART_DIR = path.join(REPO_ROOT, 'charts/site-recovery-operator');
export const HELM_PKG = 'helm.sh/helm/v4/cmd/helm';
export const KUSTOMIZE_PKG = 'sigs.k8s.io/kustomize/kustomize/v5';

const log = createLogger('packaging-tools');

/**
 * Time for a hook that may build helm and kustomize (a few minutes on 2 cores with a cold Go cache, longer
 * while other tests load the machine); later runs find them in the cache at once.
 */
export const PACKAGING_TOOLS_TIMEOUT_MS = 20 * 60_000;

export interface PackagingTools {
  helm: string;
  kustomize: string;
  source: 'env' | 'cache' | 'built';
}

export interface PackagingToolVersions {
  helm: string;
  kustomize: string;
}

/** The versions pinned by tools/helm/go.mod. */
export async function pinnedToolVersions(): Promise<PackagingToolVersions> {
  const mod = parseGoMod(await fs.readFile(path.join(HELM_MODULE_DIR, 'go.mod'), 'utf8'));
  const helm = mod.requires.get('helm.sh/helm/v4');
  const kustomize = mod.requires.get('sigs.k8s.io/kustomize/kustomize/v5');
  if (!helm || !kustomize) throw new Error('tools/helm/go.mod does not pin helm.sh/helm/v4 and sigs.k8s.io/kustomize/kustomize/v5');
  return { helm, kustomize };
}

async function toolsIn(dir: string): Promise<{ helm: string; kustomize: string } | undefined> {
  const helm = path.join(dir, 'helm');
  const kustomize = path.join(dir, 'kustomize');
  return (await isExecutable(helm)) && (await isExecutable(kustomize)) ? { helm, kustomize } : undefined;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, collecting its output; never rejects on a non-zero exit. */
export function runCommand(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? REPO_ROOT, env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) =>
      reject((e as NodeJS.ErrnoException).code === 'ENOENT' ? new Error(`${cmd} not found (${(e as Error).message})`) : e),
    );
    child.on('close', (code, signal) =>
      resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }),
    );
    child.stdin.end(opts.input ?? '');
  });
}

/** Like runCommand, but throws with the command's output when it fails. */
export async function mustRun(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<string> {
  const r = await runCommand(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${path.basename(cmd)} ${args.join(' ')} failed (exit ${r.code}):\n${r.stderr.slice(-6000)}${r.stdout.slice(-2000)}`);
  return r.stdout;
}

async function build(versions: PackagingToolVersions, dir: string): Promise<void> {
  const env = { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly -buildvcs=false' };
  const tmp = await fs.mkdtemp(`${dir}.tmp-`);
  const started = Date.now();
  log.info('building helm and kustomize from Go modules (first run only; a few minutes on 2 cores)', { ...versions, into: dir });
  try {
    const ldflags = `-s -w -X helm.sh/helm/v4/internal/version.version=${versions.helm} -X sigs.k8s.io/kustomize/api/provenance.version=${versions.kustomize}`;
    // One `go build` for both: shared dependencies compile once.
    await mustRun('go', ['build', '-trimpath', '-ldflags', ldflags, '-o', `${tmp}${path.sep}`, HELM_PKG, KUSTOMIZE_PKG], { cwd: HELM_MODULE_DIR, env });
    const helmVersion = await mustRun(path.join(tmp, 'helm'), ['version', '--short'], { env });
    if (!helmVersion.includes(versions.helm)) throw new Error(`built helm reports ${helmVersion.trim()}`);
    const kustomizeVersion = await mustRun(path.join(tmp, 'kustomize'), ['version'], { env });
    if (!kustomizeVersion.includes(versions.kustomize)) throw new Error(`built kustomize reports ${kustomizeVersion.trim()}`);
    const buildSeconds = Math.round((Date.now() - started) / 1000);
    await fs.writeFile(path.join(tmp, 'versions.json'), `${JSON.stringify({ ...versions, builtAt: new Date().toISOString(), buildSeconds }, null, 2)}\n`);
    await fs.rename(tmp, dir);
    log.info('helm and kustomize built', { dir, seconds: buildSeconds });
  } catch (error) {
    if ((error as Error).message.startsWith('go not found')) throw new Error('go not found: install Go >= 1.26 to build helm (or set HELM_BIN and KUSTOMIZE_BIN)', { cause: error });
    throw error;
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

let ensured: Promise<PackagingTools> | undefined;

/** helm and kustomize, built once per machine (see the file comment). */
export function ensurePackagingTools(opts: { cacheDir?: string } = {}): Promise<PackagingTools> {
  ensured ??= (async (): Promise<PackagingTools> => {
    if (process.env.HELM_BIN && process.env.KUSTOMIZE_BIN) return { helm: process.env.HELM_BIN, kustomize: process.env.KUSTOMIZE_BIN, source: 'env' };
    const versions = await pinnedToolVersions();
    const root = path.join(opts.cacheDir ?? defaultCacheDir(), 'packaging-tools');
    const dir = path.join(root, `${versions.helm}-${versions.kustomize}`);
    const cached = await toolsIn(dir);
    if (cached) return { ...cached, source: 'cache' };
    await fs.mkdir(root, { recursive: true });
    const release = await acquireLock(`${dir}.lock`, log);
    try {
      const built = await toolsIn(dir);
      if (built) return { ...built, source: 'cache' };
      await build(versions, dir);
      const found = await toolsIn(dir);
      if (!found) throw new Error(`build finished but ${dir} holds no helm/kustomize`);
      return { ...found, source: 'built' };
    } finally {
      await release();
    }
  })();
  ensured.catch(() => (ensured = undefined));
  return ensured;
}

/** A parsed Kubernetes manifest. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [key: string]: unknown;
}

/** Parses a multi-document YAML stream into objects (empty documents dropped). */
export function parseManifests(text: string): Manifest[] {
  const docs = parseAllDocuments(text);
  const out: Manifest[] = [];
  for (const doc of docs) {
    if (doc.errors.length) throw new Error(`invalid YAML: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as Manifest | null;
    if (value && typeof value === 'object') out.push(value);
  }
  return out;
}

/**
 * The values the chart cannot render without (`required` in its templates), for renders that are not about
 * them. A subscription id that no Azure subscription has.
 */
export const REQUIRED_VALUES = { 'azure.subscriptionId': '00000000-0000-0000-0000-000000000000' } as const;

export interface TemplateOptions {
  release?: string;
  namespace?: string;
  /** Values files (paths). */
  valuesFiles?: string[];
  /** `--set` pairs. */
  set?: Record<string, string | number | boolean>;
  /** Values as an object (written to a temp file). */
  values?: unknown;
  includeCrds?: boolean;
  kubeVersion?: string;
  /** Leaves out the `helm test` hooks (`--skip-tests`). */
  skipTests?: boolean;
}

async function valuesArgs(opts: TemplateOptions, tmpFiles: string[]): Promise<string[]> {
  const args: string[] = [];
  for (const file of opts.valuesFiles ?? []) args.push('-f', file);
  if (opts.values !== undefined) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sro-values-'));
    const file = path.join(dir, 'values.json');
    await fs.writeFile(file, JSON.stringify(opts.values));
    tmpFiles.push(dir);
    args.push('-f', file);
  }
  for (const [k, v] of Object.entries(opts.set ?? {})) args.push(typeof v === 'string' ? '--set-string' : '--set', `${k}=${v}`);
  return args;
}

/** `helm template` of the chart; returns the manifest text (throws with helm's message on failure). */
export async function helmTemplateText(opts: TemplateOptions = {}): Promise<string> {
  const { helm } = await ensurePackagingTools();
  const tmpFiles: string[] = [];
  try {
    const args = ['template', opts.release ?? 'site-recovery-operator', CHART_DIR, '--namespace', opts.namespace ?? 'site-recovery-system'];
    if (opts.includeCrds) args.push('--include-crds');
    if (opts.skipTests) args.push('--skip-tests');
    if (opts.kubeVersion) args.push('--kube-version', opts.kubeVersion);
    args.push(...(await valuesArgs(opts, tmpFiles)));
    return await mustRun(helm, args, { env: helmEnv() });
  } finally {
    await Promise.all(tmpFiles.map((d) => fs.rm(d, { recursive: true, force: true })));
  }
}

export async function helmTemplate(opts: TemplateOptions = {}): Promise<Manifest[]> {
  return parseManifests(await helmTemplateText(opts));
}

/** Keeps helm's own cache, config and data out of $HOME, so tests leave nothing behind there. */
function helmEnv(): NodeJS.ProcessEnv {
  const home = path.join(defaultCacheDir(), 'packaging-tools', 'helm-home');
  return { ...process.env, HELM_CACHE_HOME: path.join(home, 'cache'), HELM_CONFIG_HOME: path.join(home, 'config'), HELM_DATA_HOME: path.join(home, 'data') };
}

/** Runs `helm <args>` against the cluster of `kubeconfigPath`. */
export async function helm(args: string[], kubeconfigPath?: string, extra: { values?: unknown; valuesFiles?: string[]; set?: Record<string, string | number | boolean> } = {}): Promise<RunResult> {
  const tools = await ensurePackagingTools();
  const tmpFiles: string[] = [];
  try {
    const all = [...args, ...(await valuesArgs(extra, tmpFiles))];
    if (kubeconfigPath) all.push('--kubeconfig', kubeconfigPath);
    return await runCommand(tools.helm, all, { env: helmEnv() });
  } finally {
    await Promise.all(tmpFiles.map((d) => fs.rm(d, { recursive: true, force: true })));
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const tools = await ensurePackagingTools();
    process.stdout.write(`${path.dirname(tools.helm)}\n`);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
}
