// The README quick start, run the way a newcomer runs it: `npm start` (here `site-recovery start` in its own
// directory, with a time limit as a safety net), wait until the live view reports the sample VM Protected,
// then in another process `source <dir>/env` and `site-recovery drill app-vm-1 --json`, and finally Ctrl-C:
// SIGINT to the whole process group, as a terminal sends it. Nothing `start` started may survive.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DrillReport } from '../../src/cli/drill-run.ts';
import { parseEnvFile } from '../../sandbox/src/state.ts';

const REPO = path.resolve(import.meta.dirname, '../..');
const MAIN = path.join(REPO, 'src/cli/main.ts');
const VM = 'app-vm-1';

let dir: string;
let start: ChildProcess;
const output: string[] = [];
const waiters: Array<{ re: RegExp; resolve: (line: string) => void }> = [];

/** The environment of a fresh shell: nothing from the test run's own control plane. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['KUBECONFIG', 'SITE_RECOVERY_USE_EXISTING_CLUSTER', 'SITE_RECOVERY_SANDBOX_DIR', 'NODE_OPTIONS', 'VITEST', 'VITEST_POOL_ID', 'VITEST_WORKER_ID']) delete env[k];
  return env;
}

/** Resolves with the first output line (already seen or to come) matching `re`. */
function line(re: RegExp, what: string, timeoutMs: number): Promise<string> {
  const seen = output.find((l) => re.test(l));
  if (seen) return Promise.resolve(seen);
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no output line matching ${re} (${what}) within ${timeoutMs} ms; output:\n${output.join('\n')}`)), timeoutMs);
    waiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
  });
}

/** Every process descending from `pid`, from /proc. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** Running (a zombie waiting to be reaped is not running). */
function running(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function commandOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '?';
  }
}

/** `source <dir>/env; site-recovery drill app-vm-1 --json ...` */
async function drill(...args: string[]): Promise<{ code: number | null; report: DrillReport; output: string }> {
  const env = { ...cleanEnv(), ...parseEnvFile(fs.readFileSync(path.join(dir, 'env'), 'utf8')) };
  const child = spawn(process.execPath, [MAIN, 'drill', VM, '--json', ...args], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, report: JSON.parse(stdout) as DrillReport, output: `${stdout}\n${stderr}` };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'quickstart-'));
  // detached: its own process group, like a shell's foreground job, so that the whole group can be signalled.
  start = spawn(process.execPath, [MAIN, 'start', '--dir', dir, '--duration', '10m', '--fill', '2%'], { cwd: REPO, env: cleanEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  for (const stream of [start.stdout!, start.stderr!]) {
    readline.createInterface({ input: stream }).on('line', (l) => {
      output.push(l);
      for (const w of [...waiters]) {
        if (!w.re.test(l)) continue;
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(l);
      }
    });
  }
});

afterAll(() => {
  if (start?.exitCode === null && start.signalCode === null) process.kill(-start.pid!, 'SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('quick start', () => {
  it('npm start: brings up everything and shows the sample VM Protected, with how to use kubectl', async () => {
    await line(new RegExp(`vm ${VM} phase=Protected sync=100% .*points=[1-9]`), 'sample VM Protected', 300_000);
    const text = output.join('\n');
    expect(text).toContain(`source ${path.join(dir, 'env')}; kubectl get siterecovery`);
    expect(text).toMatch(/vm app-vm-1 phase=InitialSync/);
    // The periodic lines show both replicas and the operator up.
    for (const re of [/datapath datapath-0 up/, /datapath datapath-1 up/, /operator up leader/]) await line(re, String(re), 30_000);
    expect(fs.existsSync(path.join(dir, 'logs', 'operator.log'))).toBe(true);
  }, 310_000);

  it('site-recovery drill app-vm-1 --json: a test failover whose every disk equals its recovery point (checksums storage computed), cleaned up, reported as a pass', async () => {
    const { code, report, output: text } = await drill();
    expect(code, text).toBe(0);
    expect(report).toMatchObject({ vm: VM, namespace: 'default', type: 'Test', verify: 'Checksums', pass: true, phase: 'Succeeded', bytesRead: 0, cleanup: { state: 'Done', resourcesRemoved: 5 } });
    expect(report.disks.map((d) => d.name)).toEqual(['os', 'lun0', 'lun1']);
    for (const d of report.disks) {
      expect(d, d.name).toMatchObject({ pass: true, method: 'Checksums', bytesRead: 0, bytesVerified: d.sizeBytes });
      expect(d.expected.kind).toBe('RecoveryPointSnapshot');
    }
    expect(report.bytesVerified).toBe(report.disks.reduce((n, d) => n + d.sizeBytes, 0));
    expect(report.rpoSeconds).toBeGreaterThanOrEqual(0);
    expect(report.rtoSeconds).toBeGreaterThanOrEqual(0);
    expect(Date.parse(report.recoveryPoint!.time)).toBeLessThanOrEqual(Date.parse(report.requestTime!));
    // The live view followed the drill, to its cleanup.
    await line(new RegExp(`failover ${report.failoverRequest} Test of ${VM} phase=Succeeded rto=\\S+ deleted`), 'the drill in the live view', 30_000);
  }, 300_000);

  it('site-recovery drill app-vm-1 --type Planned: the source stops (and its workload), the failed-over disks equal the source disks', async () => {
    const { code, report, output: text } = await drill('--type', 'Planned');
    expect(code, text).toBe(0);
    expect(report).toMatchObject({ type: 'Planned', pass: true, phase: 'Succeeded', rpoSeconds: 0, cleanup: { state: 'Skipped' } });
    expect(report.disks.map((d) => [d.name, d.pass, d.expected.kind])).toEqual([['os', true, 'SourceDisk'], ['lun0', true, 'SourceDisk'], ['lun1', true, 'SourceDisk']]);
    await line(new RegExp(`workload stopped: Planned failover ${report.failoverRequest} shuts ${VM} down`), 'the workload stopped', 30_000);
    await line(new RegExp(`vm ${VM} phase=FailedOver`), 'the VM failed over', 30_000);
  }, 300_000);

  it('Ctrl-C stops everything in order and leaves no process behind', async () => {
    const started = descendants(start.pid!);
    const commands = started.map(commandOf).join('\n');
    expect(commands).toMatch(/main\.ts start .*--supervised/);
    expect(commands).toMatch(/kube-apiserver/);
    expect(commands).toMatch(/etcd/);
    expect(commands).toMatch(/azurite-child/);
    expect(commands).toMatch(/main\.ts operator/);
    expect(commands.match(/main\.ts datapath/g)).toHaveLength(2);

    const exited = once(start, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    process.kill(-start.pid!, 'SIGINT'); // what the terminal does: the whole foreground process group
    const [code, signal] = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    const text = output.join('\n');
    expect(text).toMatch(/stopping \(SIGINT\)/);
    for (const name of ['datapath-0', 'datapath-1', 'operator']) expect(text).toContain(`${name} stopped (exit code 0)`);
    expect(text).toContain('nothing is left running');
    expect(fs.existsSync(path.join(dir, 'env'))).toBe(false);

    // Everything was waited for before `start` exited, except the control plane's reaper, which exits on
    // end-of-file of its pipe from the supervisor: give it a moment (the exit of a process that is not our
    // child cannot be awaited).
    const deadline = Date.now() + 5000;
    let left = started.filter(running);
    while (left.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      left = left.filter(running);
    }
    expect(left.map((pid) => `${pid} ${commandOf(pid)}`)).toEqual([]);
  }, 120_000);
});
