/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's timings and rules: a lease is
 * considered held while its record keeps changing within leaseDuration *as observed locally* (no trust
 * in other nodes' clocks); updates use the resourceVersion so two candidates never both win; a leader
 * that cannot renew within renewDeadline steps down; a leader that stops gracefully releases the lease
 * so a standby takes over at once.
 */
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { isConflict, isNotFound } from '../kube/errors.ts';
import { createLogger } from '../util/logger.ts';
import { isLeader } from './metrics.ts';

const log = createLogger('leader-election');

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface LeaderCallbacks {
  /** Called once leadership is acquired; `signal` aborts when it is lost or released. */
  onStartedLeading(signal: AbortSignal): void | Promise<void>;
  /** Called when leadership ends (lost or released). */
  onStoppedLeading?(reason: 'lost' | 'released'): void;
  onNewLeader?(identity: string): void;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private observedRecord = '';
  private observedAt = 0;
  private lastLeader = '';
  private leading = false;
  private readonly opts: LeaderElectionOptions;

  constructor(kubeConfig: KubeConfig, opts: LeaderElectionOptions) {
    this.api = kubeConfig.makeApiClient(CoordinationV1Api);
    this.opts = opts;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Campaigns until `stop` aborts; while leading, renews; returns when stopped. */
  async run(callbacks: LeaderCallbacks, stop: AbortSignal): Promise<void> {
    while (!stop.aborted) {
      if (!(await this.acquire(stop, callbacks))) return;
      const leadership = new AbortController();
      this.leading = true;
      isLeader.set(1);
      log.info('became leader', { lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity });
      void Promise.resolve(callbacks.onStartedLeading(leadership.signal)).catch((error: unknown) => log.error('leader work failed', { error }));
      const reason = await this.renewUntilLost(stop);
      leadership.abort();
      this.leading = false;
      isLeader.set(0);
      if (reason === 'released') await this.release();
      log.info(reason === 'lost' ? 'lost leadership' : 'released leadership', { identity: this.opts.identity });
      callbacks.onStoppedLeading?.(reason);
      if (reason === 'released') return;
    }
  }

  private async acquire(stop: AbortSignal, callbacks: LeaderCallbacks): Promise<boolean> {
    while (!stop.aborted) {
      if (await this.tryAcquireOrRenew(callbacks)) return true;
      await sleep(this.retryPeriodMs * (1 + 0.2 * Math.random()), stop);
    }
    return false;
  }

  private async renewUntilLost(stop: AbortSignal): Promise<'lost' | 'released'> {
    let lastRenew = Date.now();
    while (!stop.aborted) {
      await sleep(this.retryPeriodMs, stop);
      if (stop.aborted) break;
      if (await this.tryAcquireOrRenew()) {
        lastRenew = Date.now();
      } else if (Date.now() - lastRenew > this.renewDeadlineMs) {
        return 'lost';
      }
    }
    return 'released';
  }

  /** One attempt, as client-go's tryAcquireOrRenew. */
  private async tryAcquireOrRenew(callbacks?: LeaderCallbacks): Promise<boolean> {
    const { namespace, name, identity } = this.opts;
    // Lease times are MicroTime: the API server refuses millisecond precision, hence V1MicroTime.
    const now = new V1MicroTime();
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (!isNotFound(error)) {
        log.warn('could not read lease', { error: error instanceof Error ? error.message : String(error) });
        return false;
      }
      try {
        await this.api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: { holderIdentity: identity, leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000), acquireTime: now, renewTime: now, leaseTransitions: 0 },
          },
        });
        this.observe(`${identity}@${now.toISOString()}`, callbacks, identity);
        return true;
      } catch (createError) {
        if (!isConflict(createError)) log.warn('could not create lease', { error: createError instanceof Error ? createError.message : String(createError) });
        return false;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const record = `${holder}@${spec.renewTime ? new Date(spec.renewTime).toISOString() : ''}`;
    this.observe(record, callbacks, holder);
    const durationMs = (spec.leaseDurationSeconds ?? Math.ceil(this.leaseDurationMs / 1000)) * 1000;
    if (holder && holder !== identity && this.observedAt + durationMs > Date.now()) return false;
    const takingOver = holder !== identity;
    lease.spec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      renewTime: now,
      acquireTime: takingOver || !spec.acquireTime ? now : new V1MicroTime(spec.acquireTime),
      leaseTransitions: (spec.leaseTransitions ?? 0) + (takingOver && holder ? 1 : 0),
    };
    try {
      await this.api.replaceNamespacedLease({ name, namespace, body: lease });
      this.observe(`${identity}@${now.toISOString()}`, callbacks, identity);
      return true;
    } catch (error) {
      if (!isConflict(error)) log.warn('could not update lease', { error: error instanceof Error ? error.message : String(error) });
      return false;
    }
  }

  private observe(record: string, callbacks: LeaderCallbacks | undefined, holder: string): void {
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = Date.now();
    }
    if (holder && holder !== this.lastLeader) {
      this.lastLeader = holder;
      callbacks?.onNewLeader?.(holder);
    }
  }

  /** Gives the lease up so a standby can take over without waiting for it to expire. */
  private async release(): Promise<void> {
    const { namespace, name, identity } = this.opts;
    try {
      const lease = await this.api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      const { acquireTime: _acquired, ...rest } = lease.spec;
      lease.spec = { ...rest, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime() };
      await this.api.replaceNamespacedLease({ name, namespace, body: lease });
    } catch (error) {
      log.warn('could not release lease', { error: error instanceof Error ? error.message : String(error) });
    }
  }
}
