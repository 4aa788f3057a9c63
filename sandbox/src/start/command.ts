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
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { styleText } from 'node:util';
import { Option, type Command } from 'commander';
import winston from 'winston';
import YAML from 'yaml';
import type { FailoverRequest, NetworkMapping, ReplicatedVM, ReplicationPolicy } from '../../../src/api/types.ts';
import { parseArmId } from '../../../src/azure/arm-id.ts';
import { CustomResourceClient, type CustomObject } from '../../../src/kube/custom-resources.ts';
import { isConflict } from '../../../src/kube/errors.ts';
import { armClients, connectSandbox, diskAccess } from '../client.ts';
import { DEFAULT_SANDBOX_DIR, sandboxEnv } from '../state.ts';
import { parseDuration, parseRate, sizeToGiB } from '../units.ts';
import { startSandbox, type Sandbox } from '../up.ts';
import { createSandboxVm } from '../vm.ts';
import { fillDisk, runWorkload } from '../workload/index.ts';
import { rootLogger } from '../../../src/util/logger.ts';
import { LiveSources } from '../../../src/cli/live-view-sources.ts';
import { formatBytes, formatRate, formatSeconds, PlainLog, renderFrame, TtyScreen, type LiveViewModel } from '../../../src/cli/live-view.ts';
import { loadKubeConfig } from '../../../src/cli/process.ts';

const NAMESPACE = 'default';
const SOURCE_LOCATION = 'westeurope';
const EXAMPLES = fileURLToPath(new URL('../../../deploy/examples/', import.meta.url));
const EXAMPLE_SUBSCRIPTION = '00000000-0000-0000-0000-000000000000';
/** The policy's interval on the sandbox (the sample says 5m; 1m is the minimum). */
const SAMPLE_POLICY_INTERVAL = '1m';
/** What `sandbox vm create` writes on a new OS disk (what an image would leave there). */
const OS_IMAGE_BYTES = 8 * 1024 * 1024;
const STOP_GRACE_MS = 20_000;

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

function fillFraction(text: string): number {
  const m = /^(\d+(?:\.\d+)?)%$/.exec(text.trim());
  const value = m ? Number(m[1]) / 100 : Number.NaN;
  if (!(value > 0 && value <= 1)) throw new Error(`--fill must be a percentage in (0, 100], e.g. 5%; got ${JSON.stringify(text)}`);
  return value;
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

interface Child {
  name: string;
  proc: ChildProcess;
  logFile: string;
  exit?: string;
  exited: Promise<string>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Reads a deploy/examples manifest for the sandbox (the sandbox's subscription id instead of zeros). */
function example<T>(file: string, subscriptionId: string): T {
  const text = fs.readFileSync(path.join(EXAMPLES, file), 'utf8').replaceAll(EXAMPLE_SUBSCRIPTION, subscriptionId);
  return YAML.parse(text) as T;
}

async function runSupervisor(o: StartOptions): Promise<number> {
  const t0 = Date.now();
  const dir = path.resolve(o.dir);
  const rel = (p: string) => {
    const r = path.relative(process.cwd(), p);
    return r === '' ? '.' : r.startsWith('..') ? p : r;
  };
  const shownDir = rel(dir);
  const logsDir = path.join(dir, 'logs');
  fs.mkdirSync(logsDir, { recursive: true });
  // What runs in this process (ARM emulator, storage front, control plane harness) logs to a file, never over the view.
  rootLogger.clear();
  rootLogger.add(new winston.transports.File({ filename: path.join(logsDir, 'sandbox.log') }));

  const out = process.stdout;
  const tty = out.isTTY === true;
  const color = tty && !process.env.NO_COLOR;
  const paint = (style: Parameters<typeof styleText>[0], text: string) => (color ? styleText(style, text, { validateStream: false }) : text);
  const print = (line = '') => out.write(`${line}\n`);
  const since = (t: number) => `${((Date.now() - t) / 1000).toFixed(1)}s`;

  // Stop on a signal, when the foreground process is gone, or after --duration; a second signal hurries.
  const stop = new AbortController();
  const hurry = new AbortController();
  let stopReason = '';
  const requestStop = (reason: string) => {
    if (stop.signal.aborted) {
      if (!hurry.signal.aborted) print(paint('yellow', '  second signal: killing what is left'));
      hurry.abort();
      return;
    }
    stopReason = reason;
    stop.abort();
  };
  const onSignal = (signal: NodeJS.Signals) => requestStop(signal);
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
  process.on('disconnect', () => requestStop('the foreground process is gone'));
  const durationTimer = o.duration !== undefined ? setTimeout(() => requestStop(`--duration ${formatSeconds(o.duration! / 1000)} elapsed`), o.duration) : undefined;

  const children: Child[] = [];
  const killChildren = () => {
    for (const c of children) if (!c.exit) c.proc.kill('SIGKILL');
  };
  process.on('exit', killChildren);

  let sandbox: Sandbox | undefined;
  let sources: LiveSources | undefined;
  const workload = { controller: new AbortController(), running: undefined as Promise<void> | undefined, line: '', bytes: 0 };
  let exitCode = 0;

  const step = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
    if (stop.signal.aborted) throw new StartInterrupted();
    const t = Date.now();
    const result = await fn();
    print(`  ${paint('green', '✓')} ${label} ${paint('dim', since(t))}`);
    return result;
  };

  print(paint('bold', 'site-recovery: starting the product on a local sandbox'));
  print(paint('dim', `  (the first run on a machine builds kube-apiserver and etcd from Go modules: a few minutes; logs in ${shownDir}/logs/)`));
  try {
    sandbox = await step('sandbox: kube-apiserver + etcd with the CRDs, Azurite + storage front, ARM emulator', () => startSandbox({ dir }));
    const state = sandbox.state;
    const kubeConfig = loadKubeConfig(state.kube!.kubeconfig);
    const conn = connectSandbox(dir); // trusts the sandbox CA in this process too
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...sandboxEnv(state), LOG_FORMAT: 'json', NODE_OPTIONS: '' };
    const mainScript = process.argv[1]!;
    const spawnChild = (name: string, args: string[], env: NodeJS.ProcessEnv = {}): Child => {
      const logFile = path.join(logsDir, `${name}.log`);
      const fd = fs.openSync(logFile, 'a');
      const proc = spawn(process.execPath, [...process.execArgv, mainScript, ...args], { env: { ...childEnv, ...env }, stdio: ['ignore', fd, fd] });
      fs.closeSync(fd);
      const child: Child = { name, proc, logFile, exited: Promise.resolve('') };
      child.exited = new Promise<string>((resolve) => {
        proc.once('error', (error) => resolve((child.exit = `failed to start: ${error.message}`)));
        proc.once('exit', (code, signal) => resolve((child.exit = signal ? `signal ${signal}` : `exit code ${code}`)));
      });
      children.push(child);
      return child;
    };

    // The production processes, as a Deployment would run them.
    const operatorPort = await freePort();
    const replicaPorts = [await freePort(), await freePort()];
    const cycle = o.cycleInterval === 'policy' ? [] : ['--cycle-interval', o.cycleInterval];
    await step(`operator and 2 datapath replicas started (logs: ${shownDir}/logs/)`, async () => {
      spawnChild('operator', ['operator', '--metrics-port', String(operatorPort), '--leader-election-namespace', NAMESPACE], { POD_NAME: 'operator-0' });
      replicaPorts.forEach((port, i) =>
        spawnChild(`datapath-${i}`, ['datapath', '--metrics-port', String(port), '--lease-namespace', NAMESPACE, '--status-interval', '2s', ...cycle], { POD_NAME: `datapath-${i}` }),
      );
    });

    // The sample objects, with the VM they protect.
    const policy = example<ReplicationPolicy>('replicationpolicy.yaml', state.arm.subscriptionId);
    const mapping = example<NetworkMapping>('networkmapping.yaml', state.arm.subscriptionId);
    const rvm = example<ReplicatedVM>('replicatedvm.yaml', state.arm.subscriptionId);
    const samplePolicyInterval = policy.spec.recoveryPointInterval;
    policy.spec.recoveryPointInterval = SAMPLE_POLICY_INTERVAL;
    const source = parseArmId(rvm.spec.sourceVirtualMachineId);
    const vnet = parseArmId(mapping.spec.sourceVirtualNetworkId);
    const dataDiskGiB = sizeToGiB(o.diskSize);
    const fill = fillFraction(o.fill);
    const vm = await step(`source VM ${source.name} in ${source.resourceGroup} (${SOURCE_LOCATION}): OS disk, 2 data disks of ${dataDiskGiB} GiB`, () =>
      createSandboxVm(armClients(conn), {
        name: source.name,
        resourceGroup: source.resourceGroup,
        location: SOURCE_LOCATION,
        vnet: vnet.name,
        dataDisks: 2,
        dataDiskSizeGiB: dataDiskGiB,
        osDiskSizeGiB: Math.max(1, dataDiskGiB),
      }),
    );
    const diskIds = [vm.storageProfile!.osDisk!.managedDisk!.id!, ...(vm.storageProfile!.dataDisks ?? []).map((d) => d.managedDisk!.id!)];
    const disks = diskIds.map((id) => diskAccess(conn, id));
    await step(`disk content written (OS ${formatBytes(OS_IMAGE_BYTES)}, ${o.fill} of each data disk)`, async () => {
      let bytes = await fillDisk(disks[0]!.url, { credential: disks[0]!.credential, bytes: OS_IMAGE_BYTES, signal: stop.signal });
      for (const [i, d] of disks.slice(1).entries()) bytes += await fillDisk(d.url, { credential: d.credential, fraction: fill, seed: i + 1, signal: stop.signal });
      return bytes;
    });

    const rate = o.workloadRate === '0' ? 0 : parseRate(o.workloadRate);
    if (rate > 0) {
      workload.line = `random writes at ${formatRate(rate)} to ${source.name} (os, lun0, lun1)`;
      workload.running = runWorkload({
        diskBlobUrls: disks.map((d) => d.url),
        credential: disks[0]!.credential,
        rateBytesPerSec: rate,
        durationMs: 365 * 24 * 3600_000,
        pattern: 'random',
        signal: workload.controller.signal,
        onProgress: (p) => (workload.bytes = p.bytesWritten),
      }).then(
        () => undefined,
        (error: unknown) => void (workload.line = `failed: ${error instanceof Error ? error.message : String(error)}`),
      );
    }

    await step(`applied deploy/examples/{replicationpolicy,networkmapping,replicatedvm}.yaml (recoveryPointInterval ${samplePolicyInterval} → ${SAMPLE_POLICY_INTERVAL}; also in ${shownDir}/sample.yaml)`, async () => {
      const docs: Array<[CustomResourceClient<CustomObject>, CustomObject]> = [
        [new CustomResourceClient(kubeConfig, 'ReplicationPolicy'), policy],
        [new CustomResourceClient(kubeConfig, 'NetworkMapping'), mapping],
        [new CustomResourceClient(kubeConfig, 'ReplicatedVM'), rvm],
      ];
      fs.writeFileSync(path.join(dir, 'sample.yaml'), docs.map(([, d]) => YAML.stringify(d)).join('---\n'));
      for (const [client, doc] of docs) {
        await client.create(NAMESPACE, { ...doc, metadata: { ...doc.metadata, namespace: NAMESPACE } }).catch((error: unknown) => {
          if (!isConflict(error)) throw error;
        });
      }
    });

    sources = new LiveSources({
      kubeConfig,
      replicas: replicaPorts.map((port, i) => ({ name: `datapath-${i}`, metricsUrl: `http://127.0.0.1:${port}/metrics` })),
      operator: { name: 'operator', metricsUrl: `http://127.0.0.1:${operatorPort}/metrics` },
    });
    // A real failover shuts the source VM down: its applications stop writing.
    const onFailover = (f: FailoverRequest) => {
      if (f.spec.type === 'Test' || f.spec.replicatedVMName !== rvm.metadata.name || workload.controller.signal.aborted) return;
      workload.controller.abort();
      if (workload.running) workload.line = `stopped: ${f.spec.type} failover ${f.metadata.name} shuts ${source.name} down`;
    };
    sources.failovers.on('add', onFailover);
    sources.failovers.on('update', onFailover);
    await step('live view connected (watching the API server, scraping /metrics)', () => sources!.start());

    // The live view.
    const header = [
      `kubectl   source ${rel(path.join(dir, 'env'))}; kubectl get siterecovery`,
      `drill     source ${rel(path.join(dir, 'env'))}; npm run -s site-recovery -- drill ${rvm.metadata.name}`,
      `logs      ${shownDir}/logs/{operator,datapath-0,datapath-1,sandbox}.log · Ctrl-C stops everything`,
    ];
    const stopsAt = o.duration !== undefined ? t0 + o.duration : undefined;
    const footer = () => [
      o.cycleInterval === 'policy'
        ? `recovery points follow the policy: every ${SAMPLE_POLICY_INTERVAL}`
        : `demo: the datapath seals a recovery point every ${o.cycleInterval} (--cycle-interval; the policy says ${SAMPLE_POLICY_INTERVAL}, "--cycle-interval policy" follows it)`,
      ...children.filter((c) => c.exit).map((c) => `${c.name} exited (${c.exit}): see ${rel(c.logFile)}`),
      ...(stopsAt ? [`stops by itself at ${new Date(stopsAt).toISOString().slice(11, 19)} (--duration)`] : []),
    ];
    const model = (): LiveViewModel => ({
      now: Date.now(),
      startedAt: t0,
      header,
      vms: sources!.vmViews(),
      replicas: sources!.replicaViews(),
      operator: sources!.operatorView(),
      failovers: sources!.failoverViews(),
      ...(workload.line ? { workload: `${workload.line}; ${formatBytes(workload.bytes)} written` } : {}),
      footer: footer(),
    });
    const screen = tty ? new TtyScreen(out) : undefined;
    const plain = tty ? undefined : new PlainLog(print);
    if (!tty) {
      print(`ready in ${since(t0)}:`);
      for (const h of header) print(`  ${h}`);
      for (const f of footer()) print(`  ${f}`);
    } else print();
    let pending: NodeJS.Timeout | undefined;
    const draw = () => {
      pending = undefined;
      if (stop.signal.aborted) return;
      const m = model();
      if (screen) screen.draw(renderFrame(m, { width: screen.width, color, unicode: true }));
      else plain!.update(m);
    };
    const soon = () => (pending ??= setTimeout(draw, 100));
    for (const informer of [sources.vms, sources.failovers]) for (const e of ['add', 'update', 'delete'] as const) informer.on(e, soon);
    await sources.scrape();
    draw();
    const scrapeTimer = setInterval(() => void sources!.scrape(), 2000);
    const drawTimer = setInterval(draw, 1000);
    if (!stop.signal.aborted) await once(stop.signal, 'abort');
    clearInterval(scrapeTimer);
    clearInterval(drawTimer);
    clearTimeout(pending);
    if (screen) {
      screen.draw(renderFrame(model(), { width: screen.width, color, unicode: true }));
      screen.close();
    }
  } catch (error) {
    if (!(error instanceof StartInterrupted)) {
      exitCode = 1;
      print(paint('red', `start failed: ${error instanceof Error ? error.message : String(error)}`));
      print(`  logs: ${shownDir}/logs/`);
    }
  }

  // Orderly stop: the workload, the datapath replicas (they hand their VMs back and delete their member
  // leases), the operator, then the sandbox they all talk to.
  clearTimeout(durationTimer);
  const t1 = Date.now();
  print();
  print(paint('bold', `stopping${stopReason ? ` (${stopReason})` : ''}:`));
  workload.controller.abort();
  await workload.running;
  await sources?.stop().catch(() => undefined);
  const stopChild = async (c: Child) => {
    if (!c.exit) {
      c.proc.kill('SIGTERM');
      const timer = setTimeout(() => c.proc.kill('SIGKILL'), STOP_GRACE_MS);
      const kill = () => c.proc.kill('SIGKILL');
      hurry.signal.addEventListener('abort', kill);
      await c.exited;
      clearTimeout(timer);
      hurry.signal.removeEventListener('abort', kill);
    }
    print(`  ${paint('green', '✓')} ${c.name} stopped (${c.exit})`);
  };
  await Promise.all(children.filter((c) => c.name.startsWith('datapath')).map(stopChild));
  await Promise.all(children.filter((c) => !c.name.startsWith('datapath')).map(stopChild));
  if (sandbox) {
    await sandbox.stop();
    print(`  ${paint('green', '✓')} sandbox stopped (API server, etcd, Azurite, ARM emulator)`);
  }
  print(`stopped in ${since(t1)}; nothing is left running.`);
  process.off('exit', killChildren);
  return exitCode;
}

class StartInterrupted extends Error {}
