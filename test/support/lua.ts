/**
 * The Lua 5.1 interpreter for the Argo CD health tests: gopher-lua, the interpreter Argo CD itself runs
 * health checks with, built from the Go module in tools/lua/ (pinned there) and cached like helm:
 *
 *   1. `LUA`: use this executable as it is (e.g. Debian's lua5.1).
 *   2. The cache: `$SITE_RECOVERY_CACHE_DIR/lua/<gopher-lua version>-<digest of the .go files>/lua`, by default under
 *      `${XDG_CACHE_HOME:-~/.cache}/site-recovery-operator/`.
 *   3. Otherwise `go build` once (CGO_ENABLED=0, -mod=readonly; about 20 s with a cold module cache) into
 *      a temp dir next to the cache entry, checked, and renamed into place; a lock file makes a concurrent
 *      test worker wait for the running build.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { acquireLock, defaultCacheDir, isExecutable } from '../../sandbox/src/kube/binaries.ts';
import { parseGoMod } from '../../sandbox/src/kube/gomod.ts';
import { createLogger } from '../../src/util/logger.ts';
import { mustRun, REPO_ROOT } from './helm.ts';

const LUA_MODULE_DIR = path.join(REPO_ROOT, 'tools/lua');
const GOPHER_LUA = 'github.com/yuin/gopher-lua';

/** Time for a hook that may build the interpreter (module download and compile on 2 busy cores). */
export const LUA_BUILD_TIMEOUT_MS = 10 * 60_000;

const log = createLogger('lua');

async function build(dir: string): Promise<void> {
  const env = { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly -buildvcs=false' };
  const tmp = await fs.mkdtemp(`${dir}.tmp-`);
  log.info('building the Lua 5.1 interpreter (gopher-lua) from Go modules (first run only)', { into: dir });
  try {
    await mustRun('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', path.join(tmp, 'lua'), '.'], { cwd: LUA_MODULE_DIR, env });
    await fs.rename(tmp, dir);
  } catch (error) {
    if ((error as Error).message.startsWith('go not found')) throw new Error('go not found: install Go >= 1.24 to build the Lua interpreter (or set LUA)', { cause: error });
    throw error;
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

let ensured: Promise<string> | undefined;

/** The path of a Lua 5.1 interpreter, built once per machine (see the file comment). */
export function ensureLua(): Promise<string> {
  ensured ??= (async () => {
    if (process.env.LUA) return process.env.LUA;
    const version = parseGoMod(await fs.readFile(path.join(LUA_MODULE_DIR, 'go.mod'), 'utf8')).requires.get(GOPHER_LUA);
    if (!version) throw new Error(`tools/lua/go.mod does not pin ${GOPHER_LUA}`);
    // The entry names the gopher-lua version and a digest of our own source: a changed .go file builds anew.
    const digest = createHash('sha256');
    for (const file of (await fs.readdir(LUA_MODULE_DIR)).filter((f) => f.endsWith('.go')).sort()) digest.update(file).update(await fs.readFile(path.join(LUA_MODULE_DIR, file)));
    const source = digest.digest('hex').slice(0, 12);
    const dir = path.join(defaultCacheDir(), 'lua', `${version}-${source}`);
    const lua = path.join(dir, 'lua');
    if (await isExecutable(lua)) return lua;
    await fs.mkdir(path.dirname(dir), { recursive: true });
    const release = await acquireLock(`${dir}.lock`, log);
    try {
      if (!(await isExecutable(lua))) await build(dir);
      return lua;
    } finally {
      await release();
    }
  })();
  ensured.catch(() => (ensured = undefined));
  return ensured;
}
