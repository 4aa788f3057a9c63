/**
 * One reconcile pass of one ReplicatedVM: the object, the ledger of the Azure resources it uses
 * (status.targetResources) and the ways a pass ends, each writing status once through the StatusWriter.
 * Every step of enable and disable replication reads and writes this one state object.
 */
import type { FailoverRequest, NetworkMapping, RecoveryPoint, ReplicatedVM, ReplicatedVMStatus, ReplicationPolicy } from '../../api/types.ts';
import type { AzureClients } from '../../azure/clients.ts';
import { ResourceLedger } from '../../azure/resource-ledger.ts';
import type { ScopeSource } from '../../azure/scopes.ts';
import type { ConditionInput, Readiness } from '../../runtime/conditions.ts';
import type { ReconcileContext, ReconcileResult } from '../../runtime/controller.ts';
import type { StatusWriter } from '../../runtime/status-writer.ts';
import type { CustomResourceClient, ObjectReader } from '../../kube/custom-resources.ts';
import type { CapacityChecks } from './capacity-cache.ts';
import type { SharedObservations } from './shared-observations.ts';
import { targetSubscriptionOf } from './spec-ids.ts';

export interface ReplicatedVmDeps {
  vms: CustomResourceClient<ReplicatedVM>;
  /** Read from the informer caches in the operator. */
  policies: ObjectReader<ReplicationPolicy>;
  mappings: ObjectReader<NetworkMapping>;
  recoveryPoints: CustomResourceClient<RecoveryPoint>;
  az: AzureClients;
  /** Every ReplicatedVM in the cluster (to know whether a shared resource is still used). */
  listAllVms: () => readonly ReplicatedVM[];
  /** FailoverRequests of a namespace (a real failover moves the VM to FailingOver / FailedOver). */
  listFailovers: (namespace: string) => readonly FailoverRequest[];
  /** Namespaced tenancy: the Azure scopes of each namespace; absent in cluster tenancy. */
  scopes?: ScopeSource;
  /** The CapacityAtRisk verdicts, asked at the drift-check cadence (capacity-cache.ts); absent: not checked. */
  capacityChecks?: CapacityChecks;
  /** Recent looks at shared target resources, used by every VM's pass (shared-observations.ts); absent: each pass looks. */
  sharedObservations?: SharedObservations;
}

export class VmPass {
  readonly vm: ReplicatedVM;
  readonly ledger: ResourceLedger;
  readonly deps: ReplicatedVmDeps;
  readonly ctx: ReconcileContext;
  private readonly status: StatusWriter<ReplicatedVM>;

  constructor(vm: ReplicatedVM, deps: ReplicatedVmDeps, status: StatusWriter<ReplicatedVM>, ctx: ReconcileContext) {
    this.vm = vm;
    this.ledger = new ResourceLedger(vm.status?.targetResources);
    this.deps = deps;
    this.status = status;
    this.ctx = ctx;
  }

  get namespace(): string {
    return this.vm.metadata.namespace ?? 'default';
  }

  /** The clients of the subscription the VM fails over into (spec.targetSubscriptionId, default the operator's). */
  get targetAz(): AzureClients {
    return this.deps.az.forSubscription(targetSubscriptionOf(this.vm, this.deps.az.subscriptionId));
  }

  /** `<namespace>/<name>`: the owner tag of what the operator creates for this VM. */
  get owner(): string {
    return `${this.namespace}/${this.vm.metadata.name}`;
  }

  /** The status fields every write carries: the phase (kept unless changed) and the resource ledger. */
  private fields(fields: Partial<ReplicatedVMStatus>): Partial<ReplicatedVMStatus> {
    return { phase: this.vm.status?.phase ?? 'Pending', ...fields, targetResources: this.ledger.list() };
  }

  async record(readiness: Readiness, fields: Partial<ReplicatedVMStatus> = {}, ...conditions: (ConditionInput | undefined)[]): Promise<void> {
    await this.status.record(this.vm, readiness, this.fields(fields), ...conditions.filter((c): c is ConditionInput => c !== undefined));
  }

  pause(waiting: { reason: string; message: string; requeueAfterMs?: number }, fields: Partial<ReplicatedVMStatus> = {}): Promise<ReconcileResult> {
    return this.status.pause(this.vm, waiting, this.fields(fields));
  }

  /** Stalled: phase Error, except that a protected VM stays Protected (its recovery points still count). */
  stall(stalled: { reason: string; message: string }): Promise<ReconcileResult> {
    return this.status.stall(this.vm, stalled, this.ctx.events, this.fields({ phase: this.vm.status?.phase === 'Protected' ? 'Protected' : 'Error' }));
  }

  fail(error: Parameters<StatusWriter<ReplicatedVM>['fail']>[1]): Promise<never> {
    return this.status.fail(this.vm, error, this.fields({}));
  }
}
