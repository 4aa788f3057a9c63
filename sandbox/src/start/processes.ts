/**
 * The production processes of `start`: the operator and two datapath replicas, started exactly as a
 * Deployment runs them (`site-recovery operator|datapath` with the sandbox's environment and no other
 * configuration), each logging to `<dir>/logs/<name>.log`. They stop datapath replicas first (they hand
 * their VMs back and delete their member leases), then the operator; SIGTERM, then SIGKILL after a grace
 * period or at once when the stop is hurried. Whatever is still running when this process exits is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { sandboxEnv, type SandboxState } from '../state.ts';
import type { StartConsole } from './console.ts';

/** The namespace of the sample objects, the operator's leader election and the replicas' leases. */
export const NAMESPACE = 'default';
const STOP_GRACE_MS = 20_000;
const REPLICAS = 2;

export interface Child {
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

export class ProductProcesses {
  readonly children: Child[] = [];
  operatorPort = 0;
  replicaPorts: number[] = [];
  private readonly killAll = () => {
    for (const c of this.children) if (!c.exit) c.proc.kill('SIGKILL');
  };

  private readonly logsDir: string;

  constructor(logsDir: string) {
    this.logsDir = logsDir;
    process.on('exit', this.killAll);
  }

  /** The operator and the datapath replicas; `cycleInterval` is the datapath's --cycle-interval or 'policy'. */
  async start(state: SandboxState, cycleInterval: string): Promise<void> {
    this.operatorPort = await freePort();
    for (let i = 0; i < REPLICAS; i++) this.replicaPorts.push(await freePort());
    const env: NodeJS.ProcessEnv = { ...process.env, ...sandboxEnv(state), LOG_FORMAT: 'json', NODE_OPTIONS: '' };
    const cycle = cycleInterval === 'policy' ? [] : ['--cycle-interval', cycleInterval];
    this.spawn('operator', ['operator', '--metrics-port', String(this.operatorPort), '--leader-election-namespace', NAMESPACE], { ...env, POD_NAME: 'operator-0' });
    this.replicaPorts.forEach((port, i) =>
      this.spawn(`datapath-${i}`, ['datapath', '--metrics-port', String(port), '--lease-namespace', NAMESPACE, '--status-interval', '2s', ...cycle], { ...env, POD_NAME: `datapath-${i}` }),
    );
  }

  /** The processes that exited by themselves (or were stopped), with how. */
  exited(): Child[] {
    return this.children.filter((c) => c.exit);
  }

  /** Datapath replicas first, then the operator; `hurry` kills at once. */
  async stop(hurry: AbortSignal, ui: StartConsole): Promise<void> {
    const stopChild = async (c: Child) => {
      if (!c.exit) {
        c.proc.kill('SIGTERM');
        const timer = setTimeout(() => c.proc.kill('SIGKILL'), STOP_GRACE_MS);
        const kill = () => c.proc.kill('SIGKILL');
        hurry.addEventListener('abort', kill);
        await c.exited;
        clearTimeout(timer);
        hurry.removeEventListener('abort', kill);
      }
      ui.done(`${c.name} stopped (${c.exit})`);
    };
    await Promise.all(this.children.filter((c) => c.name.startsWith('datapath')).map(stopChild));
    await Promise.all(this.children.filter((c) => !c.name.startsWith('datapath')).map(stopChild));
    process.off('exit', this.killAll);
  }

  /** `site-recovery <args>` as a child process, the way this process itself was started. */
  private spawn(name: string, args: string[], env: NodeJS.ProcessEnv): Child {
    const logFile = path.join(this.logsDir, `${name}.log`);
    const fd = fs.openSync(logFile, 'a');
    const proc = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...args], { env, stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    const child: Child = { name, proc, logFile, exited: Promise.resolve('') };
    child.exited = new Promise<string>((resolve) => {
      proc.once('error', (error) => resolve((child.exit = `failed to start: ${error.message}`)));
      proc.once('exit', (code, signal) => resolve((child.exit = signal ? `signal ${signal}` : `exit code ${code}`)));
    });
    this.children.push(child);
    return child;
  }
}
