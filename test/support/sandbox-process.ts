/**
 * `site-recovery sandbox up --no-kube` as a user starts it, in a child process, for the tests of the
 * sandbox's own commands: `cli(...)` runs `site-recovery sandbox …` against it (its stdout lines), and
 * `down()` stops it and removes its directory.
 */
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { REPO_ROOT } from './helm.ts';

const run = promisify(execFile);
const NODE = path.join(REPO_ROOT, 'node_modules/.bin/node');
const MAIN = path.join(REPO_ROOT, 'src/cli/main.ts');

export interface SandboxProcess {
  /** The sandbox's directory (its `.sandbox`), for connectSandbox. */
  dir: string;
  /** `site-recovery sandbox ARGS --dir DIR`: its stdout lines; a non-zero exit rejects with stdout and stderr. */
  cli(...args: string[]): Promise<string[]>;
  down(): Promise<void>;
}

/** `upArgs`: more options of `sandbox up` (e.g. `--azure-rbac`). */
export async function startSandboxProcess(prefix: string, ...upArgs: string[]): Promise<SandboxProcess> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
  const dir = path.join(tmp, 'sb');
  const cli = async (...args: string[]): Promise<string[]> => {
    const { stdout } = await run(NODE, [MAIN, 'sandbox', ...args, '--dir', dir], { cwd: tmp, maxBuffer: 1 << 22 });
    return stdout.trim().split('\n');
  };
  const child = spawn(NODE, [MAIN, 'sandbox', 'up', '--dir', dir, '--no-kube', ...upArgs], { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmp });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = readline.createInterface({ input: child.stdout });
  await new Promise<void>((resolve, reject) => {
    lines.on('line', (l) => l.startsWith('sandbox ready') && resolve());
    void exited.then((code) => reject(new Error(`sandbox up exited (${code}): ${stderr.slice(-2000)}`)));
  });
  return {
    dir,
    cli,
    async down() {
      await cli('down').catch(() => undefined);
      await exited;
      await fs.rm(tmp, { recursive: true, force: true });
    },
  };
}
