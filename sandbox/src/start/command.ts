/**
 * `site-recovery start` (`npm start`): the whole product on the local sandbox, with a live view.
 *
 *   1. the sandbox: kube-apiserver + etcd (CRDs installed), Azurite behind the storage front, the ARM
 *      emulator; `<dir>/env` for kubectl and the SDKs;
 *   2. the operator and two datapath replicas as child processes, exactly as in production (`site-recovery
 *      operator|datapath` with the sandbox's environment), logging to `<dir>/logs/`;
 *   3. a sample source VM (OS disk and two data disks with content) and a workload writing to it;
 *   4. the sample ReplicationPolicy, NetworkMapping and ReplicatedVM of deploy/examples/;
 *   5. the live view until Ctrl-C (or --duration), then everything stops in order: workload, datapath
 *      replicas (they release their VMs and leases), operator, sandbox.
 *
 * Process layout: the command re-runs itself as a *supervisor* in its own process group and only forwards
 * signals to it. A terminal's Ctrl-C reaches the whole foreground group; without this, etcd, the API
 * server and Azurite would die in the same instant as the processes that still need them to shut down
 * cleanly. The supervisor also stops when the foreground process disappears (IPC disconnect), and kills
 * what it started if it exits in any other way.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Option, type Command } from 'commander';
import winston from 'winston';
import type { LiveSources } from '../../../src/cli/live-view-sources.ts';
import { loadKubeConfig } from '../../../src/cli/process.ts';
import { rootLogger } from '../../../src/util/logger.ts';
import { connectSandbox } from '../client.ts';
import { DEFAULT_SANDBOX_DIR } from '../state.ts';
import { parseDuration, parseRate, sizeToGiB } from '../units.ts';
import { startSandbox, type Sandbox } from '../up.ts';
import { StartConsole, StartInterrupted } from './console.ts';
import { connectLiveView, runLiveView } from './live.ts';
import { ProductProcesses } from './processes.ts';
import { applySample, createSampleVm, fillFraction, fillSampleDisks, loadSample } from './sample.ts';
import { StopRequests } from './stop.ts';
import { SampleWorkload } from './workload.ts';

interface StartOptions {
  dir: string;
  duration?: number;
  cycleInterval: string;
  diskSize: string;
  fill: string;
  workloadRate: string;
  supervised: boolean;
}

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('Start the whole product on a local sandbox: control plane, local Azure, operator, two datapath replicas, a protected sample VM with a workload, and a live view')
    .addOption(new Option('--dir <dir>', 'sandbox state directory (env file, logs)').default(process.env.SITE_RECOVERY_SANDBOX_DIR ?? DEFAULT_SANDBOX_DIR))
    .option('--duration <duration>', 'stop by itself after this long, e.g. 10m (default: run until Ctrl-C)', (v) => parseDuration(v))
    .option('--cycle-interval <duration>', 'how often the datapath seals a recovery point in this demo; "policy" follows the ReplicationPolicy (1m)', '15s')
    .option('--disk-size <size>', 'size of each of the sample VM\'s two data disks (whole GiB)', '1GiB')
    .option('--fill <percent>', 'share of each data disk written before replication starts (the initial sync copies it)', '5%')
    .option('--workload-rate <rate>', 'write rate of the sample workload, e.g. 256KiB/s; 0 turns it off', '256KiB/s')
    .addOption(new Option('--supervised', 'internal: run as the supervisor').default(false).hideHelp())
    .addHelpText('after', '\nIn another terminal: `source .sandbox/env` and use kubectl; `npm run -s site-recovery -- drill app-vm-1` runs a DR drill.')
    .action(async (o: StartOptions) => {
      // Validate here, before anything starts.
      if (o.cycleInterval !== 'policy') parseDuration(o.cycleInterval);
      sizeToGiB(o.diskSize);
      fillFraction(o.fill);
      if (o.workloadRate !== '0') parseRate(o.workloadRate);
      if (!o.supervised) {
        process.exitCode = await runForeground();
        return;
      }
      const code = await runSupervisor(o);
      // Everything it started is stopped; the IPC channel and library timers must not keep it alive.
      process.exit(code);
    });
}

/** The foreground process: runs the supervisor in its own process group and forwards signals to it. */
async function runForeground(): Promise<number> {
  const args = [...process.execArgv, process.argv[1]!, ...process.argv.slice(2), '--supervised'];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let last = 0;
  const forward = (signal: NodeJS.Signals) => {
    // npm forwards the terminal's Ctrl-C too: one keypress can arrive twice.
    if (Date.now() - last < 1000) return;
    last = Date.now();
    child.kill(signal === 'SIGHUP' ? 'SIGTERM' : signal);
  };
  const resize = () => child.kill('SIGWINCH');
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, forward);
  if (process.stdout.isTTY) process.on('SIGWINCH', resize);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  for (const s of signals) process.off(s, forward);
  process.off('SIGWINCH', resize);
  return code ?? (signal ? 128 + (os.constants.signals[signal] ?? 0) : 1);
}

/** What the supervisor started, to be stopped in reverse order. */
interface Started {
  processes: ProductProcesses;
  workload: SampleWorkload;
  sandbox?: Sandbox;
  sources?: LiveSources;
}

/** The procedure of the header, steps 1 to 5; returns the exit code. */
async function runSupervisor(o: StartOptions): Promise<number> {
  const startedAt = Date.now();
  const dir = path.resolve(o.dir);
  const logsDir = logToFiles(dir);
  const stop = new StopRequests(o.duration);
  const ui = new StartConsole(process.stdout, stop);
  const started: Started = { processes: new ProductProcesses(logsDir), workload: new SampleWorkload() };
  let exitCode = 0;

  ui.print(ui.paint('bold', 'site-recovery: starting the product on a local sandbox'));
  ui.print(ui.paint('dim', `  (the first run on a machine builds kube-apiserver and etcd from Go modules: a few minutes; logs in ${ui.rel(dir)}/logs/)`));
  try {
    const sandbox = (started.sandbox = await ui.step('sandbox: kube-apiserver + etcd with the CRDs, Azurite + storage front, ARM emulator', () => startSandbox({ dir })));
    const kubeConfig = loadKubeConfig(sandbox.state.kube!.kubeconfig);
    const conn = connectSandbox(dir); // trusts the sandbox CA in this process too
    await ui.step(`operator and 2 datapath replicas started (logs: ${ui.rel(dir)}/logs/)`, () => started.processes.start(sandbox.state, o.cycleInterval));

    const sample = loadSample(sandbox.state.arm.subscriptionId);
    const disks = await createSampleVm(ui, conn, sample, sizeToGiB(o.diskSize));
    await fillSampleDisks(ui, disks, o.fill, stop.signal);
    started.workload.start(disks, o.workloadRate, sample.source.name);
    await applySample(ui, kubeConfig, dir, sample);

    const sources = (started.sources = await connectLiveView(ui, kubeConfig, started.processes, started.workload, sample));
    await runLiveView(sources, { ui, dir, startedAt, durationMs: o.duration, cycleInterval: o.cycleInterval, processes: started.processes, workload: started.workload, sample, stop: stop.signal });
  } catch (error) {
    if (!(error instanceof StartInterrupted)) {
      exitCode = 1;
      ui.print(ui.paint('red', `start failed: ${error instanceof Error ? error.message : String(error)}`));
      ui.print(`  logs: ${ui.rel(dir)}/logs/`);
    }
  }
  await stopInOrder(started, stop, ui);
  return exitCode;
}

/** What runs in this process (ARM emulator, storage front, control plane harness) logs to a file, never over the view; returns the logs directory. */
function logToFiles(dir: string): string {
  const logsDir = path.join(dir, 'logs');
  fs.mkdirSync(logsDir, { recursive: true });
  rootLogger.clear();
  rootLogger.add(new winston.transports.File({ filename: path.join(logsDir, 'sandbox.log') }));
  return logsDir;
}

/**
 * Orderly stop: the workload, the datapath replicas (they hand their VMs back and delete their member
 * leases), the operator, then the sandbox they all talk to.
 */
async function stopInOrder(started: Started, stop: StopRequests, ui: StartConsole): Promise<void> {
  stop.stopping();
  const t = Date.now();
  ui.print();
  ui.print(ui.paint('bold', `stopping${stop.reason ? ` (${stop.reason})` : ''}:`));
  await started.workload.stop();
  await started.sources?.stop().catch(() => undefined);
  await started.processes.stop(stop.hurry, ui);
  if (started.sandbox) {
    await started.sandbox.stop();
    ui.done('sandbox stopped (API server, etcd, Azurite, ARM emulator)');
  }
  ui.print(`stopped in ${ui.since(t)}; nothing is left running.`);
}
