/**
 * Where the live view's numbers come from: the API server (ReplicatedVMs, RecoveryPoints and
 * FailoverRequests through list+watch informers: phase, sync progress, last point, health, owner) and each
 * process's Prometheus /metrics (datapath: owned VMs, bytes captured and applied, backlog; operator:
 * leadership). Throughput is the rate of the byte counters over the last 30 s (a datapath
 * moves data in bursts, once per cycle).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { FailoverRequest, RecoveryPoint, ReplicatedVM } from '../api/types.ts';
import { Informer } from '../runtime/informer.ts';
import { CustomResourceClient, type CustomObject } from '../kube/custom-resources.ts';
import type { FailoverView, ReplicaView, VmView } from './live-view.ts';

/** Sums of each metric over its label sets, from the Prometheus text format. */
export function parseMetrics(text: string): Map<string, number> {
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{.*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[2]);
    if (!Number.isFinite(value)) continue;
    sums.set(m[1]!, (sums.get(m[1]!) ?? 0) + value);
  }
  return sums;
}

/** Rate of a monotonically growing counter over a sliding window of samples. */
export class CounterRate {
  private readonly windowMs: number;
  private samples: Array<{ t: number; v: number }> = [];

  constructor(windowMs = 30_000) {
    this.windowMs = windowMs;
  }

  add(t: number, v: number): void {
    const last = this.samples[this.samples.length - 1];
    if (last && v < last.v) this.samples = []; // counter reset (process restarted)
    this.samples.push({ t, v });
    while (this.samples.length > 2 && t - this.samples[0]!.t > this.windowMs) this.samples.shift();
  }

  /** Per second; undefined until two samples. */
  get rate(): number | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.t <= first.t) return undefined;
    return ((last.v - first.v) * 1000) / (last.t - first.t);
  }
}

export interface ScrapeTarget {
  name: string;
  metricsUrl: string;
}

interface ReplicaState {
  target: ScrapeTarget;
  up: boolean;
  everUp: boolean;
  metrics?: Map<string, number>;
  capture: CounterRate;
  apply: CounterRate;
}

const informerOf = <T extends CustomObject>(kc: KubeConfig, client: CustomResourceClient<T>, namespace?: string): Informer<T> =>
  new Informer<T>(kc, client.path(namespace), async () => (await client.list(namespace)) as never);

export interface LiveSourcesOptions {
  kubeConfig: KubeConfig;
  /** Namespace to show; undefined: all. */
  namespace?: string;
  replicas: ScrapeTarget[];
  operator: ScrapeTarget;
  scrapeTimeoutMs?: number;
}

export class LiveSources {
  readonly vms: Informer<ReplicatedVM>;
  readonly points: Informer<RecoveryPoint>;
  readonly failovers: Informer<FailoverRequest>;
  private readonly replicas: ReplicaState[];
  private readonly operatorTarget: ScrapeTarget;
  private operator: { up: boolean; leader?: boolean } = { up: false };
  private readonly timeoutMs: number;
  /** Recently deleted FailoverRequests (a drill's test failover is deleted at its end): still worth a line. */
  private readonly deletedFailovers: Array<{ at: number; object: FailoverRequest }> = [];

  constructor(o: LiveSourcesOptions) {
    this.vms = informerOf(o.kubeConfig, new CustomResourceClient<ReplicatedVM>(o.kubeConfig, 'ReplicatedVM'), o.namespace);
    this.points = informerOf(o.kubeConfig, new CustomResourceClient<RecoveryPoint>(o.kubeConfig, 'RecoveryPoint'), o.namespace);
    this.failovers = informerOf(o.kubeConfig, new CustomResourceClient<FailoverRequest>(o.kubeConfig, 'FailoverRequest'), o.namespace);
    this.replicas = o.replicas.map((target) => ({ target, up: false, everUp: false, capture: new CounterRate(), apply: new CounterRate() }));
    this.operatorTarget = o.operator;
    this.timeoutMs = o.scrapeTimeoutMs ?? 1500;
    this.failovers.on('delete', (object) => {
      this.deletedFailovers.push({ at: Date.now(), object });
      if (this.deletedFailovers.length > 3) this.deletedFailovers.shift();
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.vms.start(), this.points.start(), this.failovers.start()]);
  }

  async stop(): Promise<void> {
    await Promise.all([this.vms.stop(), this.points.stop(), this.failovers.stop()]);
  }

  private async fetchMetrics(url: string): Promise<Map<string, number> | undefined> {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
      if (!response.ok) return undefined;
      return parseMetrics(await response.text());
    } catch {
      return undefined;
    }
  }

  /** Reads every process's /metrics once. */
  async scrape(now = Date.now()): Promise<void> {
    await Promise.all([
      ...this.replicas.map(async (r) => {
        const metrics = await this.fetchMetrics(r.target.metricsUrl);
        r.up = metrics !== undefined;
        r.everUp ||= r.up;
        r.metrics = metrics;
        if (!metrics) return;
        r.capture.add(now, metrics.get('site_recovery_datapath_captured_bytes_total') ?? 0);
        r.apply.add(now, metrics.get('site_recovery_datapath_applied_bytes_total') ?? 0);
      }),
      (async () => {
        const metrics = await this.fetchMetrics(this.operatorTarget.metricsUrl);
        this.operator = metrics ? { up: true, ...(metrics.has('site_recovery_leader') ? { leader: metrics.get('site_recovery_leader') === 1 } : {}) } : { up: false };
      })(),
    ]);
  }

  replicaViews(): ReplicaView[] {
    return this.replicas.map((r) => ({
      name: r.target.name,
      up: r.up,
      ...(!r.up && !r.everUp ? { starting: true } : {}),
      ...(r.up && r.metrics
        ? {
            ownedVms: r.metrics.get('site_recovery_datapath_owned_vms') ?? 0,
            captureBytesPerSecond: r.capture.rate,
            applyBytesPerSecond: r.apply.rate,
            backlogBytes: r.metrics.get('site_recovery_datapath_backlog_bytes') ?? 0,
          }
        : {}),
    }));
  }

  operatorView(): { up: boolean; leader?: boolean } {
    return this.operator;
  }

  vmViews(now = Date.now()): VmView[] {
    const pointsPerVm = new Map<string, number>();
    for (const p of this.points.list()) {
      const key = `${p.metadata.namespace}/${p.spec.replicatedVMName}`;
      pointsPerVm.set(key, (pointsPerVm.get(key) ?? 0) + 1);
    }
    return [...this.vms.list()]
      .sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`))
      .map((vm) => {
        const s = vm.status ?? {};
        const ready = s.conditions?.find((c) => c.type === 'Ready');
        const last = s.lastRecoveryPoint;
        // After a real failover the replica is the VM: no RPO to show.
        const rpo = s.phase === 'FailedOver' || !last ? undefined : (now - Date.parse(last.time)) / 1000;
        const percent = s.initialSync?.completionTime ? 100 : s.initialSync?.percent;
        return {
          namespace: vm.metadata.namespace ?? 'default',
          name: vm.metadata.name ?? '',
          phase: s.phase ?? 'Pending',
          ...(percent !== undefined ? { syncPercent: percent } : {}),
          ...(s.initialSync?.bytesPerSecond !== undefined ? { syncBytesPerSecond: s.initialSync.bytesPerSecond } : {}),
          ...(rpo !== undefined ? { rpoSeconds: rpo } : {}),
          ...(last ? { lastPoint: { name: last.name, time: last.time } } : {}),
          points: pointsPerVm.get(`${vm.metadata.namespace}/${vm.metadata.name}`) ?? 0,
          ...(s.health ? { health: s.health } : {}),
          ...(s.replication?.owner ? { owner: s.replication.owner } : {}),
          // The operator's message says why a VM is not ready yet; during the initial sync the bar says it better.
          ...(ready && ready.status !== 'True' && ready.message && s.phase !== 'InitialSync' ? { message: ready.message } : {}),
        };
      });
  }

  /** Current FailoverRequests, and those deleted in the last 10 minutes. */
  failoverViews(now = Date.now()): FailoverView[] {
    const live = new Set(this.failovers.list().map((f) => `${f.metadata.namespace}/${f.metadata.name}`));
    const deleted = this.deletedFailovers.filter((d) => now - d.at < 600_000 && !live.has(`${d.object.metadata.namespace}/${d.object.metadata.name}`)).map((d) => d.object);
    return [...this.failovers.list(), ...deleted]
      .sort((a, b) => String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)))
      .map((f) => {
        const step = f.status?.steps?.find((s) => s.state === 'Running')?.name;
        return {
          ...(live.has(`${f.metadata.namespace}/${f.metadata.name}`) ? {} : { deleted: true }),
          name: f.metadata.name ?? '',
          vm: f.spec.replicatedVMName ?? `plan ${f.spec.recoveryPlanName ?? ''}`,
          type: f.spec.type,
          phase: f.status?.phase ?? 'Pending',
          ...(step ? { step } : {}),
          ...(f.status?.rtoSeconds !== undefined ? { rtoSeconds: f.status.rtoSeconds } : {}),
        };
      });
  }
}
