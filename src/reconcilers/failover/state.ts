/**
 * One pass over one FailoverRequest, as one state object: the request, its ReplicatedVM, the step log,
 * and the status being written. Every step reads and writes `pass.status` — there is no second copy of
 * status to reconcile with `fo.status` — and `save()` writes it through the StatusWriter (kstatus
 * readiness computed in `src/runtime/conditions.ts`, only when something changed).
 *
 * `pass.resources` is status.targetResources seen as the ledger `convergeResource` keeps: an entry is a
 * resource this request created, recorded (and saved) before its create is sent, so cleanup finds it
 * whatever happens next.
 */
import type { FailoverRequest, FailoverRequestStatus, NetworkMapping, RecoveryPoint, ReplicatedVM } from '../../api/types.ts';
import type { AzureClients } from '../../azure/clients.ts';
import type { ScopeSource } from '../../azure/scopes.ts';
import { sameArmId } from '../../azure/arm-id.ts';
import type { ResourceRecord, ResourceRecords } from '../../azure/resource-ledger.ts';
import type { CustomResourceClient } from '../../kube/custom-resources.ts';
import { findCondition, type ConditionInput, type Readiness } from '../../runtime/conditions.ts';
import { StatusWriter } from '../../runtime/status-writer.ts';
import { StepLog, type StepName } from './step-log.ts';
import { ownerOf } from './names.ts';

/** The operator's settings for failovers (`site-recovery operator --final-sync-timeout`, `--source-probe-timeout`). */
export interface FailoverOptions {
  /** How long FinalSync waits for the datapath's answer, from the step's start, unless spec.finalSyncTimeout says. */
  finalSyncTimeoutMs: number;
  /** The deadline of one call into the source region (a Planned failover's shutdown, re-protect's deallocate). */
  sourceProbeTimeoutMs: number;
}

export const DEFAULT_FAILOVER_OPTIONS: FailoverOptions = { finalSyncTimeoutMs: 5 * 60_000, sourceProbeTimeoutMs: 20_000 };

export interface FailoverDeps {
  failovers: CustomResourceClient<FailoverRequest>;
  vms: CustomResourceClient<ReplicatedVM>;
  mappings: CustomResourceClient<NetworkMapping>;
  points: CustomResourceClient<RecoveryPoint>;
  az: AzureClients;
  /** FailoverRequests of a namespace (informer cache). */
  listFailovers: (namespace: string) => readonly FailoverRequest[];
  options: FailoverOptions;
  /** Namespaced tenancy: the Azure scopes of each namespace; absent in cluster tenancy. */
  scopes?: ScopeSource;
}

/**
 * status.targetResources as a resource ledger. Every entry was created by this request; a resource found
 * under one of its names that carries another owner is never recorded, only remembered (for this pass)
 * as foreign, so the step can refuse it.
 */
export class FailoverResources implements ResourceRecords {
  private readonly status: FailoverRequestStatus;
  private readonly foreign = new Set<string>();

  constructor(status: FailoverRequestStatus) {
    this.status = status;
  }

  get(_role: string, id: string): ResourceRecord | undefined {
    const entry = this.status.targetResources?.find((r) => sameArmId(r.id, id));
    return entry && { role: entry.kind, id: entry.id, created: true };
  }

  set(record: ResourceRecord): void {
    if (!record.created) this.foreign.add(record.id.toLowerCase());
    else if (!this.get(record.role, record.id)) this.status.targetResources = [...(this.status.targetResources ?? []), { kind: record.role, id: record.id }];
  }

  /** Whether the resource at `id` exists and was not created by this request. */
  isForeign(id: string): boolean {
    return this.foreign.has(id.toLowerCase());
  }
}

export class FailoverPass {
  readonly deps: FailoverDeps;
  readonly fo: FailoverRequest;
  readonly vm: ReplicatedVM | undefined;
  readonly steps: StepLog;
  /** The status this pass writes: what the request had, changed by each step. */
  readonly status: FailoverRequestStatus;
  readonly resources: FailoverResources;
  private readonly writer: StatusWriter<FailoverRequest>;

  constructor(deps: FailoverDeps, fo: FailoverRequest, vm: ReplicatedVM | undefined, stepNames: readonly StepName[]) {
    this.deps = deps;
    this.fo = fo;
    this.vm = vm;
    this.steps = new StepLog(stepNames, fo.status?.steps);
    const { conditions: _conditions, observedGeneration: _generation, ...fields } = structuredClone(fo.status ?? {});
    this.status = fields;
    this.resources = new FailoverResources(this.status);
    this.writer = new StatusWriter(deps.failovers);
  }

  get namespace(): string {
    return this.fo.metadata.namespace ?? 'default';
  }

  /** The owner tag value of everything this request creates. */
  get owner(): string {
    return ownerOf(this.fo);
  }

  /**
   * Writes the status (with the step log) and the kstatus conditions: `readiness` when given, else what
   * the phase says — in progress (Ready=False, Reconciling=True with the step under way), or once
   * committed Ready=True (re-protect reports in its own condition) — plus any further `conditions`.
   */
  async save(readiness?: Readiness, ...conditions: ConditionInput[]): Promise<void> {
    this.status.startTime ??= new Date().toISOString();
    this.status.steps = this.steps.list();
    await this.writer.record(this.fo, readiness ?? this.readiness(), this.status, ...conditions);
  }

  private readiness(): Readiness {
    const phase = this.status.phase ?? 'Pending';
    if (phase === 'Committed') {
      const ready = findCondition(this.fo.status?.conditions, 'Ready');
      return { state: 'ready', reason: phase, message: ready?.reason === phase ? ready.message : '' };
    }
    const current = this.steps.current();
    return { state: 'progressing', reason: phase, message: current ? `${current.name}: ${current.message ?? ''}` : phase };
  }
}

/** A pass over a request whose ReplicatedVM exists: what the failover and re-protect steps run on. */
export type ProcedurePass = FailoverPass & { readonly vm: ReplicatedVM };

export function hasVm(pass: FailoverPass): pass is ProcedurePass {
  return pass.vm !== undefined;
}
