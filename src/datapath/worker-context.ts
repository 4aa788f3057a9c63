/**
 * What the parts of one VM's worker share. vm-worker.ts runs the session (fence, journal, loops);
 * worker-capture.ts, worker-apply.ts and worker-seal.ts move the cycles; worker-status.ts reports. They
 * all read and write one VmContext, owned by the worker: the newest object, the session while the fence
 * is held, what the next capture was asked for, initial-sync progress, the error being retried and the
 * status last written. One state object, so no part keeps a copy that could drift from the others'.
 */
import type winston from 'winston';
import type { ContainerClient } from '@azure/storage-blob';
import type { RecoveryPoint, ReplicatedVM, ReplicationPolicySpec } from '../api/types.ts';
import type { AzureClients } from '../azure/clients.ts';
import type { CustomResourceClient } from '../kube/custom-resources.ts';
import type { EventRecorder } from '../runtime/events.ts';
import type { BlobFence } from './fence.ts';
import type { GroupRegistry } from './consistency-group.ts';
import { policyTimes, type PolicyTimes } from '../api/policy-times.ts';
import type { InitialSyncSlots } from './initial-sync-slots.ts';
import type { Journal, JournalState } from './journal.ts';
import type { Registration } from './registration.ts';
import type { RestorePoints } from './restore-points.ts';
import type { BlobAccess } from './storage.ts';
import type { TargetDisk } from './target.ts';
import { Wakeup } from './wakeup.ts';

export interface WorkerConfig {
  /** Replaces the policy's recovery point interval (tests and benchmarks; production uses the policy). */
  cycleIntervalMs?: number;
  /** Concurrent chunk transfers per VM, capture and apply each. */
  captureConcurrency: number;
  applyConcurrency: number;
  /** Captures pause while this many cycles wait to be applied (the cache is bounded). */
  maxPendingCycles: number;
  /** Status is looked at this often (health, progress) and written when it changed. */
  statusIntervalMs: number;
  /** Unchanged status is written again after this long (re-asserts the datapath's fields). */
  statusHeartbeatMs: number;
  /** Base delay of retries after an error, and of attempts to take a VM whose lease a live replica holds. */
  retryMs: number;
  /** The longest wait between retries of a VM that keeps failing (backoff.ts; default 5 minutes). */
  retryMaxMs?: number;
  /** How long a consistency group's cycle waits for its members to arrive (at most half the interval). */
  groupGatherMs?: number;
  /** How many VMs of the replica run their initial sync at once (initial-sync-slots.ts); default: no limit. */
  initialSyncConcurrency?: number;
}

export interface WorkerDeps {
  identity: string;
  az: AzureClients;
  blobs: BlobAccess;
  vms: CustomResourceClient<ReplicatedVM>;
  recoveryPoints: CustomResourceClient<RecoveryPoint>;
  events: EventRecorder;
  policy(vm: ReplicatedVM): ReplicationPolicySpec | undefined;
  isLiveMember(identity: string): boolean;
  /** How much every VM's interval is stretched to fit this replica's share of the ARM budget (pacing.ts); default 1. */
  cycleStretch?(): number;
  config: WorkerConfig;
  /** The consistency groups of this replica (absent: every VM captures on its own). */
  groups?: GroupRegistry;
  /** The replica's initial-sync slots (absent: no limit). */
  initialSyncs?: InitialSyncSlots;
}

/** What a session holds while this replica owns the VM (the fence is taken). */
export interface Session {
  signal: AbortSignal;
  registration: Registration;
  fence: BlobFence;
  journal: Journal;
  cache: ContainerClient;
  replica: ContainerClient;
  points: RestorePoints;
  targets: TargetDisk[];
}

/** Initial-sync progress in bytes: planned by the capture, captured, applied, and found equal to a seed. */
export interface SyncProgress {
  planned: number;
  captured: number;
  applied: number;
  matched: number;
  startedAt: number;
}

export class VmContext {
  readonly deps: WorkerDeps;
  readonly log: winston.Logger;
  vm: ReplicatedVM;
  session: Session | undefined;
  readonly captureWake = new Wakeup();
  readonly applyWake = new Wakeup();
  /** A sync-now token (or a resync) asks for a capture now. */
  syncWanted: string | undefined;
  resyncWanted = false;
  failing: { since: number; stage: string; message: string } | undefined;
  /** The current streak of source-region calls nobody answered (source-region.ts); `reported` once status shows it. */
  sourceOutage: { since: number; message: string; reported: boolean } | undefined;
  /**
   * The journal of the current session, or of the last one while a new one cannot start (the cache
   * account is in the source region): status and the RPO metric keep counting from its last point.
   */
  journal: Journal | undefined;
  progress: SyncProgress = { planned: 0, captured: 0, applied: 0, matched: 0, startedAt: 0 };
  /** Since when the VM waits for an initial-sync slot (initial-sync-slots.ts); undefined when not waiting. */
  syncQueuedSince: number | undefined;
  /** The status last written (JSON) and when; when it was last looked at (statusIntervalMs). */
  lastStatus = '';
  lastStatusAt = 0;
  lastCheckAt = 0;

  constructor(deps: WorkerDeps, vm: ReplicatedVM, log: winston.Logger) {
    this.deps = deps;
    this.vm = vm;
    this.log = log;
  }

  /** The replication state status reports: the session's journal, else the last one seen. */
  get state(): Readonly<JournalState> | undefined {
    return (this.session?.journal ?? this.journal)?.state;
  }

  get intervalMs(): number {
    return this.deps.config.cycleIntervalMs ?? this.times.intervalMs;
  }

  /** How far apart captures are: the interval, stretched to fit the ARM budget (pacing.ts). */
  get cycleSpacingMs(): number {
    return this.intervalMs * Math.max(1, this.deps.cycleStretch?.() ?? 1);
  }

  get times(): PolicyTimes {
    return policyTimes(this.deps.policy(this.vm));
  }

  get labels(): { namespace: string; name: string } {
    return { namespace: this.vm.metadata.namespace ?? '', name: this.vm.metadata.name ?? '' };
  }
}
