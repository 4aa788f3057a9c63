/**
 * The datapath process (`site-recovery datapath`): any number of replicas share the protected VMs.
 *
 *   membership   every replica renews its own Lease and lists the others (membership.ts);
 *   ownership    each VM (by uid) belongs to the live member that wins rendezvous hashing (rendezvous.ts),
 *                so a joining replica takes ~1/N of the VMs and a leaving one hands over only its own; the
 *                VMs of a consistency group hash by the group instead, so one replica owns them all and
 *                captures their cycles together (consistency-group.ts);
 *   workers      this replica runs one VmWorker per VM it owns (vm-worker.ts) and stops the others;
 *                the blob-lease fence makes the handover safe even while views of membership differ.
 *
 * Serves /healthz, /readyz and /metrics; on SIGTERM stops every worker (leases released) and deletes its
 * member lease so the others take over at once.
 *
 * What limits scale (the datapath keeps no state of its own; everything is in Azure Storage):
 *  - Storage accounts: every changed byte is copied by storage from the source restore point into the
 *    cache account (Put Block From URL) and from there into the replica account (Put Page From URL), one
 *    request per chunk of at most 4 MiB. A cache account's ingress/egress and request-rate limits bound
 *    how many VMs share it; more cache accounts (per VM or per group, spec.cacheStorageAccountId) is the
 *    lever; a replica blob's write throughput bounds one disk's churn.
 *  - ARM: each VM-cycle costs a restore point, a grant and a revoke per disk and a delete, plus a few reads
 *    (src/azure/cycle-cost.ts); ARM's token buckets per subscription, region and principal (writes 200
 *    refilled at 10/s) cap VMs × (1 + 2 × disks) / interval. The replicas share one budget: each gates its
 *    ARM calls by a bucket of budget / live members (src/azure/arm-budget-gate.ts, renewed at every
 *    membership tick), and spaces its VMs' cycles so they fit it (pacing.ts) — slower for every VM alike
 *    rather than 429s for some.
 *  - Kubernetes: one member Lease per replica (renewed every leaseDuration/3, listed by every replica),
 *    and one status write per VM per status interval plus one RecoveryPoint per cycle: the API server
 *    sees about VMs / statusInterval writes per second. Rendezvous costs O(members) per VM per rebalance.
 *  - One replica: no disk data passes through it (both copies are server-side; only a re-protect's
 *    comparison reads the pieces whose checksums differ, two 512 KiB buffers per transfer in flight). Its
 *    ceiling is requests in flight: concurrent transfers per VM × VMs; an autoscaler on
 *    site_recovery_datapath_backlog_bytes adds replicas.
 */
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { RecoveryPoint, ReplicatedVM, ReplicationPolicy } from '../api/types.ts';
import { budgetLimitsOf, type ArmBudgetLimits } from '../azure/arm-budget.ts';
import { ArmBudgetGate } from '../azure/arm-budget-gate.ts';
import { AzureClients, type AzureConfig } from '../azure/clients.ts';
import { KubeEventRecorder } from '../runtime/events.ts';
import { Informer } from '../runtime/informer.ts';
import { closeServer, serveHealth } from '../runtime/health-server.ts';
import { CustomResourceClient } from '../kube/custom-resources.ts';
import { kubeErrorMessage } from '../kube/errors.ts';
import { createLogger } from '../util/logger.ts';
import { Membership } from './membership.ts';
import { policyTimes } from '../api/policy-times.ts';
import { initialSyncs, liveMembers, ownedVms } from './metrics.ts';
import { Pacing } from './pacing.ts';
import { wantsReplication } from './registration.ts';
import { ownerOf } from './rendezvous.ts';
import { GroupRegistry, ownershipKey } from './consistency-group.ts';
import { DEFAULT_INITIAL_SYNC_CONCURRENCY, InitialSyncSlots } from './initial-sync-slots.ts';
import { runCommandRunner } from './group-quiesce.ts';
import { sleep } from './restore-points.ts';
import { BlobAccess } from './storage.ts';
import { errorMessage } from './errors.ts';
import { VmWorker } from './vm-worker.ts';
import type { WorkerConfig } from './worker-context.ts';

const log = createLogger('datapath');

export interface DatapathOptions {
  kubeConfig: KubeConfig;
  azure: AzureConfig;
  /** Replica identity; default POD_NAME, else <hostname>-<pid>. */
  identity?: string;
  /** Namespace of the member Leases. */
  namespace: string;
  /** Replicate only the VMs of this namespace (default: all namespaces). */
  watchNamespace?: string;
  /** Health/metrics port; 0 picks a free one; undefined serves nothing. */
  port?: number;
  leaseDurationMs?: number;
  /** How often the member lease is renewed and membership re-read. Default leaseDuration / 3. */
  renewIntervalMs?: number;
  worker?: Partial<WorkerConfig>;
}

function datapathIdentity(): string {
  return process.env.POD_NAME || `${hostname()}-${process.pid}`;
}

const DEFAULT_WORKER_CONFIG: WorkerConfig = {
  captureConcurrency: 8,
  applyConcurrency: 8,
  maxPendingCycles: 12,
  statusIntervalMs: 10_000,
  statusHeartbeatMs: 10 * 60_000,
  retryMs: 1000,
  initialSyncConcurrency: DEFAULT_INITIAL_SYNC_CONCURRENCY,
};

export class Datapath {
  readonly identity: string;
  private readonly options: DatapathOptions;
  private readonly membership: Membership;
  private readonly vmInformer: Informer<ReplicatedVM>;
  private readonly policyInformer: Informer<ReplicationPolicy>;
  private readonly workers = new Map<string, VmWorker>();
  private readonly stopping = new Set<Promise<void>>();
  private readonly workerDeps: ConstructorParameters<typeof VmWorker>[0];
  /** This replica's share of the ARM budget (undefined: no budget), and the spacing of cycles within it. */
  private readonly gate: ArmBudgetGate | undefined;
  private readonly pacing = new Pacing();
  private members: string[] = [];
  private server: Server | undefined;
  private ready = false;
  private shuttingDown = false;
  private rebalanceQueued = false;

  constructor(options: DatapathOptions) {
    this.options = options;
    this.identity = options.identity ?? datapathIdentity();
    const { kubeConfig } = options;
    const vms = new CustomResourceClient<ReplicatedVM>(kubeConfig, 'ReplicatedVM');
    const policies = new CustomResourceClient<ReplicationPolicy>(kubeConfig, 'ReplicationPolicy');
    const recoveryPoints = new CustomResourceClient<RecoveryPoint>(kubeConfig, 'RecoveryPoint');
    const watch = options.watchNamespace;
    this.vmInformer = new Informer<ReplicatedVM>(kubeConfig, vms.path(watch), async () => (await vms.list(watch)) as never);
    this.policyInformer = new Informer<ReplicationPolicy>(kubeConfig, policies.path(watch), async () => (await policies.list(watch)) as never);
    this.membership = new Membership(kubeConfig, { namespace: options.namespace, identity: this.identity, leaseDurationMs: options.leaseDurationMs });
    const limits = budgetLimitsOf(options.azure);
    this.gate = limits ? new ArmBudgetGate(limits) : undefined;
    const az = new AzureClients(options.azure, { gate: this.gate });
    const config = { ...DEFAULT_WORKER_CONFIG, ...options.worker };
    this.workerDeps = {
      identity: this.identity,
      az,
      blobs: new BlobAccess(az, options.azure.credential, { tryTimeoutMs: options.azure.storageTimeoutMs, maxTries: options.azure.storageMaxTries }),
      vms,
      recoveryPoints,
      events: new KubeEventRecorder(kubeConfig, 'site-recovery-datapath', this.identity),
      policy: (vm) => this.policyInformer.get(vm.spec.policyRef.name, vm.metadata.namespace)?.spec,
      isLiveMember: (identity) => this.membership.isLive(identity),
      cycleStretch: () => this.pacing.factor,
      config,
      groups: new GroupRegistry(runCommandRunner(az)),
      initialSyncs: new InitialSyncSlots(config.initialSyncConcurrency ?? DEFAULT_INITIAL_SYNC_CONCURRENCY, ({ running, waiting }) => {
        initialSyncs.set({ state: 'running' }, running);
        initialSyncs.set({ state: 'waiting' }, waiting);
      }),
    };
    const onVm = (vm: ReplicatedVM) => {
      this.workers.get(vm.metadata.uid ?? '')?.update(vm);
      this.queueRebalance();
    };
    this.vmInformer.on('add', onVm);
    this.vmInformer.on('update', onVm);
    this.vmInformer.on('delete', () => this.queueRebalance());
  }

  get port(): number | undefined {
    const address = this.server?.address();
    return address && typeof address === 'object' ? address.port : undefined;
  }

  /** Keys (namespace/name) of the VMs this replica works on now. */
  get owned(): string[] {
    return [...this.workers.values()].map((w) => w.key).sort();
  }

  get liveMembers(): string[] {
    return [...this.members];
  }

  /** This replica's share of the ARM budget (undefined: no budget) and the factor its VMs' intervals are stretched by. */
  get armBudget(): { share: ArmBudgetLimits | undefined; stretch: number } {
    return { share: this.gate?.share, stretch: this.pacing.factor };
  }

  /** Runs until `signal` aborts, then stops gracefully. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.options.port !== undefined) await this.serve(this.options.port);
    await Promise.all([this.vmInformer.start(), this.policyInformer.start()]);
    const period = this.options.renewIntervalMs ?? Math.max(500, Math.floor(this.membership.leaseDurationMs / 3));
    log.info('datapath replica started', { identity: this.identity, leaseNamespace: this.options.namespace, watchNamespace: this.options.watchNamespace ?? '(all)', leaseDurationMs: this.membership.leaseDurationMs });
    while (!signal.aborted) {
      await this.tick();
      this.ready = true;
      await sleep(period, signal).catch(() => undefined);
    }
    await this.shutdown();
  }

  private async tick(): Promise<void> {
    try {
      await this.membership.renew();
    } catch (error) {
      log.warn('renewing the member lease failed', { error: kubeErrorMessage(error) });
    }
    try {
      const members = await this.membership.observe();
      if (members.join() !== this.members.join()) log.info('members changed', { members });
      this.members = members;
    } catch (error) {
      log.warn('reading the member leases failed', { error: errorMessage(error) });
      this.members = this.membership.live();
    }
    liveMembers.set(this.members.length);
    this.gate?.setMembers(Math.max(1, this.members.length));
    this.rebalance();
  }

  private queueRebalance(): void {
    if (this.rebalanceQueued || !this.ready) return;
    this.rebalanceQueued = true;
    queueMicrotask(() => {
      this.rebalanceQueued = false;
      this.rebalance();
    });
  }

  /** Starts workers for the VMs this replica should own and stops the others. */
  private rebalance(): void {
    if (this.shuttingDown) return;
    const healthy = this.membership.healthy;
    const want = new Map<string, ReplicatedVM>();
    if (healthy) {
      for (const vm of this.vmInformer.list()) {
        const uid = vm.metadata.uid ?? '';
        if (wantsReplication(vm) && ownerOf(ownershipKey(vm), this.members) === this.identity) want.set(uid, vm);
      }
    }
    for (const [uid, worker] of this.workers) {
      if (want.has(uid)) continue;
      this.workers.delete(uid);
      log.info('stopping replication of a VM here', { vm: worker.key, reason: healthy ? 'not ours' : 'our member lease is stale' });
      const stopped = worker.stop().finally(() => this.stopping.delete(stopped));
      this.stopping.add(stopped);
    }
    for (const [uid, vm] of want) {
      if (this.workers.has(uid)) continue;
      const worker = new VmWorker(this.workerDeps, vm);
      this.workers.set(uid, worker);
      log.info('replicating a VM here', { vm: worker.key });
      worker.update(vm);
      worker.start();
    }
    ownedVms.set(this.workers.size);
    const { cycleIntervalMs } = this.workerDeps.config;
    // A VM that keeps failing retries once per few spacings (VmWorker.broken): it is not part of the demand.
    const paced = [...want].filter(([uid]) => !this.workers.get(uid)?.broken).map(([, vm]) => vm);
    this.pacing.update(paced, (vm) => cycleIntervalMs ?? policyTimes(this.workerDeps.policy(vm)).intervalMs, this.gate?.share);
  }

  private async shutdown(): Promise<void> {
    this.shuttingDown = true;
    log.info('stopping: releasing every VM', { owned: this.workers.size });
    const all = [...this.workers.values()].map((w) => w.stop());
    this.workers.clear();
    await Promise.allSettled([...all, ...this.stopping]);
    await this.membership.leave();
    await Promise.all([this.vmInformer.stop(), this.policyInformer.stop()]);
    await closeServer(this.server);
    log.info('stopped');
  }

  private async serve(port: number): Promise<void> {
    this.server = await serveHealth(port, '0.0.0.0', () => {
      const ready = this.ready && this.membership.healthy;
      return { ready, detail: ready ? `ok (${this.workers.size} VMs, ${this.members.length} members)` : 'not ready' };
    });
  }
}

export function buildDatapath(options: DatapathOptions): Datapath {
  return new Datapath(options);
}

