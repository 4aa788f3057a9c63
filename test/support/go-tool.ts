/**
 * A small Go program of this repository (tools/<name>/, its dependencies pinned in go.mod and go.sum),
 * built once per machine and cached like helm and the control plane:
 *
 *   1. `envVar` (e.g. LUA): use this executable as it is.
 *   2. The cache: `$SITE_RECOVERY_CACHE_DIR/<name>/<pinned version>-<digest of the .go files>/<name>`, by
 *      default under `${XDG_CACHE_HOME:-~/.cache}/site-recovery-operator/`.
 *   3. Otherwise `go build` once (CGO_ENABLED=0, -mod=readonly) into a temp dir next to the cache entry,
 *      renamed into place; a lock file makes a concurrent test worker wait for the running build.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { acquireLock, defaultCacheDir, isExecutable } from '../../sandbox/src/kube/binaries.ts';
import { parseGoMod } from '../../sandbox/src/kube/gomod.ts';
import { createLogger } from '../../src/util/logger.ts';
import { mustRun, REPO_ROOT } from './helm.ts';

export interface GoTool {
  /** The directory under tools/ and the binary's name. */
  name: string;
  /** The module whose pinned version names the cache entry. */
  pinned: string;
  /** An environment variable naming an executable to use instead. */
  envVar?: string;
  /** What it is, for the log line of a build. */
  description: string;
}

async function build(tool: GoTool, moduleDir: string, dir: string): Promise<void> {
  const log = createLogger(tool.name);
  const env = { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly -buildvcs=false' };
  const tmp = await fs.mkdtemp(`${dir}.tmp-`);
  log.info(`building ${tool.description} from Go modules (first run only)`, { into: dir });
  try {
    await mustRun('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', path.join(tmp, tool.name), '.'], { cwd: moduleDir, env });
    await fs.rename(tmp, dir);
  } catch (error) {
    if ((error as Error).message.startsWith('go not found')) throw new Error(`go not found: install Go >= 1.24 to build ${tool.description}${tool.envVar ? ` (or set ${tool.envVar})` : ''}`, { cause: error });
    throw error;
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

const ensured = new Map<string, Promise<string>>();

/** The path of the tool's executable, built once per machine (see the file comment). */
export function ensureGoTool(tool: GoTool): Promise<string> {
  let promise = ensured.get(tool.name);
  if (promise) return promise;
  promise = (async () => {
    const fromEnv = tool.envVar ? process.env[tool.envVar] : undefined;
    if (fromEnv) return fromEnv;
    const moduleDir = path.join(REPO_ROOT, 'tools', tool.name);
    const version = parseGoMod(await fs.readFile(path.join(moduleDir, 'go.mod'), 'utf8')).requires.get(tool.pinned);
    if (!version) throw new Error(`tools/${tool.name}/go.mod does not pin ${tool.pinned}`);
    // The entry names the pinned version and a digest of our own source: a changed .go file builds anew.
    const digest = createHash('sha256');
    for (const file of (await fs.readdir(moduleDir)).filter((f) => f.endsWith('.go')).sort()) digest.update(file).update(await fs.readFile(path.join(moduleDir, file)));
    const dir = path.join(defaultCacheDir(), tool.name, `${version}-${digest.digest('hex').slice(0, 12)}`);
    const binary = path.join(dir, tool.name);
    if (await isExecutable(binary)) return binary;
    await fs.mkdir(path.dirname(dir), { recursive: true });
    const release = await acquireLock(`${dir}.lock`, createLogger(tool.name));
    try {
      if (!(await isExecutable(binary))) await build(tool, moduleDir, dir);
      return binary;
    } finally {
      await release();
    }
  })();
  promise.catch(() => ensured.delete(tool.name));
  ensured.set(tool.name, promise);
  return promise;
}
