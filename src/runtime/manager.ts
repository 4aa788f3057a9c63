/**
 * Runs a set of controllers as one process: starts their informers, serves /healthz, /readyz and
 * /metrics, campaigns for leadership (controllers work only while leading), and shuts down gracefully:
 * stop taking keys, finish in-flight reconciles, release the lease.
 */
import type { Server } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../util/logger.ts';
import type { Controller } from './controller.ts';
import type { Informer } from './informer.ts';
import { LeaderElector } from './leader-election.ts';
import { closeServer, serveHealth } from './health-server.ts';
import type { CustomObject } from '../kube/custom-resources.ts';

const log = createLogger('manager');

export interface ManagerOptions {
  kubeConfig: KubeConfig;
  identity: string;
  /** Lease to campaign on; absent = always lead (single replica, tests). */
  leaderElection?: { namespace: string; name: string; leaseDurationMs?: number; renewDeadlineMs?: number; retryPeriodMs?: number };
  /** Port for /healthz, /readyz and /metrics; 0 picks a free one; undefined serves nothing. */
  port?: number;
  host?: string;
  /** Called when leadership is lost (not released): the process should exit so it restarts clean. */
  onLostLeadership?: () => void;
}

export class Manager {
  private readonly informers: Array<Informer<CustomObject>> = [];
  private readonly controllers: Array<Controller<CustomObject>> = [];
  private server: Server | undefined;
  private informersSynced = false;
  private leading = false;
  private readonly options: ManagerOptions;

  constructor(options: ManagerOptions) {
    this.options = options;
  }

  addInformer<T extends CustomObject>(informer: Informer<T>): void {
    this.informers.push(informer as unknown as Informer<CustomObject>);
  }

  addController<T extends CustomObject>(controller: Controller<T>): void {
    this.controllers.push(controller as unknown as Controller<CustomObject>);
  }


  /** The port the health/metrics server listens on (after run has started it). */
  get port(): number | undefined {
    const address = this.server?.address();
    return address && typeof address === 'object' ? address.port : undefined;
  }

  /** Runs until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.options.port !== undefined) await this.serve(this.options.port, this.options.host ?? '0.0.0.0');
    await Promise.all(this.informers.map((i) => i.start()));
    this.informersSynced = true;
    log.info('caches synced', { informers: this.informers.length });

    const lead = async (leadership: AbortSignal) => {
      this.leading = true;
      await Promise.all(this.controllers.map((c) => c.start(leadership)));
      this.leading = false;
    };

    if (!this.options.leaderElection) {
      await lead(signal);
    } else {
      const elector = new LeaderElector(this.options.kubeConfig, { ...this.options.leaderElection, identity: this.options.identity });
      let work: Promise<void> = Promise.resolve();
      await elector.run(
        {
          onStartedLeading: (leadership) => {
            work = lead(leadership);
          },
          onStoppedLeading: (reason) => {
            if (reason === 'lost') this.options.onLostLeadership?.();
          },
          onNewLeader: (identity) => log.info('leader is', { identity }),
        },
        signal,
      );
      await work;
    }
    await Promise.all(this.informers.map((i) => i.stop()));
    await closeServer(this.server);
    log.info('stopped');
  }

  private async serve(port: number, host: string): Promise<void> {
    this.server = await serveHealth(port, host, () =>
      this.informersSynced ? { ready: true, detail: `ok${this.leading ? ' (leader)' : ' (standby)'}` } : { ready: false, detail: 'caches not synced' },
    );
  }
}
