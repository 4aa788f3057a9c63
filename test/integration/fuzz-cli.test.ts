// Fuzzed command lines (issue #16, item 5): fast-check builds argument vectors from the CLI's own command
// words (and near misses of them) and options mixed with hostile values (empty, dashes, `=`, very long,
// non-ASCII, shell and path syntax, files that are not kubeconfigs) and runs the real binary (src/cli/main.ts, as test/integration/cli-user-commands.test.ts does)
// against the test API server, in a namespace with no objects and with no Azure settings. Every vector
// ends by itself with exit code 0, 1 or 2, and a failure is one line on stderr, never a stack trace.
//
// `sandbox …` and `start` are left out: they start local Kubernetes and Azure (and `sandbox down` would
// stop a sandbox someone else runs). Runs are seeded: a failure prints `seed` and `path`;
// FUZZ_SEED=<seed> FUZZ_PATH=<path> replays it, FUZZ_CLI_RUNS changes the number of runs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { REPO_ROOT } from '../support/helm.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';

const MAIN = path.join(REPO_ROOT, 'src', 'cli', 'main.ts');
const RUNS = Number(process.env.FUZZ_CLI_RUNS ?? 8);
const SEED = process.env.FUZZ_SEED === undefined ? Date.now() ^ (Math.random() * 0x100000000) : Number(process.env.FUZZ_SEED);
/** A command that does not end within this long hangs (they all end in about a second). */
const EXIT_MS = 20_000;
/** Vectors run side by side per property run. */
const BATCH = 2;

const COMMANDS = ['failover', 'commit', 'cleanup', 'reprotect', 'sync-now', 'status', 'points', 'drill', 'approve', 'clear-anomaly', 'check', 'operator', 'datapath', 'help'];
const OPTIONS = [
  '-n', '--namespace', '--kubeconfig', '--wait', '--timeout', '--type', '--point', '--name', '--json', '--recovery-point', '--help', '-h', '--version', '-V',
  '--metrics-port', '--workers', '--lease-namespace', '--lease-name', '--no-lease', '--no-leader-election', '--cycle-interval', '--status-interval', '--concurrency',
  '--lease-duration', '--final-sync-timeout', '--drift-check-interval', '--plan', '--schedule', '--verify', '--tenancy', '--arm-budget', '--status-heartbeat', '--point=LatestClean', '--', '-', '--type=Test', '--timeout=0s', '--timeout=1ms', '--workers=0', '--metrics-port=70000', '-nfoo',
];
const VALUES = [path.join(REPO_ROOT, 'README.md'), path.join(REPO_ROOT, 'package.json'), 'Test', 'Planned', 'Unplanned', 'app', 'default', '', ' ', '0', '-1', '99999999999999999999', '1e3', 'NaN', '1m', '0s', '-5m', 'x'.repeat(5000), 'ü😀', '..', '/', '/dev/null', '/etc/passwd', '/tmp', '$(id)', "'", '"', '\\', '%s%n', 'a=b', '\n', '\t'];

/** A command word with one character left out: commander suggests the command it resembles. */
const nearMiss = fc.constantFrom(...COMMANDS).chain((c) => fc.nat({ max: c.length - 1 }).map((i) => c.slice(0, i) + c.slice(i + 1)));
const word = fc.oneof(
  { weight: 1, arbitrary: nearMiss },
  { weight: 3, arbitrary: fc.constantFrom(...OPTIONS) },
  { weight: 3, arbitrary: fc.constantFrom(...VALUES) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 12 }).map((s) => `--${s}`) },
);
/** A command word (or none, or garbage) and up to six more words; never NUL (argv cannot carry it). */
const argv = fc
  .tuple(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...COMMANDS) }, { weight: 1, arbitrary: nearMiss }, { weight: 1, arbitrary: word }), fc.array(word, { maxLength: 6 }))
  .map(([first, rest]) => [first, ...rest])
  .filter((args) => !args.some((a) => a.includes('\u0000') || a === 'sandbox' || a === 'start'));

let dir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  const kc = testKubeConfig();
  const ns = await createTestNamespace(kc, 'fuzz-cli');
  const context = kc.getContextObject(kc.getCurrentContext());
  kc.contexts = kc.contexts.map((c) => (c.name === context?.name ? { ...c, namespace: ns } : c));
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-cli-'));
  fs.writeFileSync(path.join(dir, 'config'), kc.exportConfig());
  // No Azure settings (the operator and the datapath must refuse to start in one line), no namespace override.
  env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(AZURE_|SITE_RECOVERY_|POD_|WATCH_NAMESPACE|METRICS_PORT)/.test(k)));
  Object.assign(env, { KUBECONFIG: path.join(dir, 'config'), LOG_LEVEL: 'error' });
  console.log(`fuzz-cli: seed ${SEED}, ${RUNS} runs of ${BATCH} command lines (FUZZ_SEED=${SEED} replays them)`);
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function run(args: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

/** What is wrong with how a command line ended, if anything. */
function judge(o: Outcome): string | undefined {
  if (o.signal) return `did not end by itself within ${EXIT_MS / 1000} s (killed, ${o.signal})`;
  if (o.code !== 0 && o.code !== 1 && o.code !== 2) return `exit code ${o.code}`;
  if (/^\s+at .+[:(]/m.test(o.stderr)) return `a stack trace on stderr: ${o.stderr.slice(0, 2000)}`;
  const lines = o.stderr.split('\n').filter((l) => l.trim() !== '');
  if (o.code !== 0 && lines.length !== 1) return `${lines.length} lines on stderr: ${o.stderr.slice(0, 2000)}`;
  return undefined;
}

describe('fuzzed command lines', () => {
  it('end with exit code 0, 1 or 2 and at most one line on stderr, never a stack trace', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(argv, { minLength: BATCH, maxLength: BATCH }), async (vectors) => {
        const outcomes = await Promise.all(vectors.map(run));
        for (const [i, o] of outcomes.entries()) {
          const wrong = judge(o);
          if (wrong) throw new Error(`site-recovery ${JSON.stringify(vectors[i])}: ${wrong}`);
        }
      }),
      // Always tried first: what the fuzzer found (a suggestion on a second line, a YAML excerpt, the whole
      // help on stderr for `help <no command>`).
      { examples: [[[['statu'], ['status', '--kubeconfig', path.join(REPO_ROOT, 'README.md')]]], [[['failover'], ['help', path.join(REPO_ROOT, 'README.md')]]]], numRuns: RUNS, seed: SEED, ...(process.env.FUZZ_PATH ? { path: process.env.FUZZ_PATH } : {}), interruptAfterTimeLimit: 40_000 },
    );
  }, 180_000);
});
