/**
 * ReplicatedVM: decides what one pass does.
 *   - being deleted: disable replication (disable-replication.ts);
 *   - a real failover holds the VM (the rule in src/api/contract.ts): replication has stopped; follow
 *     the failover (FailingOver, then FailedOver);
 *   - failed over by a request since deleted: stays FailedOver (deleting a request never undoes it);
 *   - otherwise: enable replication and follow the datapath (enable-replication.ts).
 * Errors from Azure are recorded on the object and rethrown (terminal ones are not retried).
 */
import { failoverHolding } from '../../api/contract.ts';
import type { FailoverRequest, ReplicatedVM, ReplicatedVMStatus } from '../../api/types.ts';
import { reconcileErrorFor } from '../../azure/errors.ts';
import type { Readiness } from '../../runtime/conditions.ts';
import type { ReconcileContext, ReconcileResult, Reconciler } from '../../runtime/controller.ts';
import { addFinalizer, isDeleting } from '../../runtime/finalizers.ts';
import { StatusWriter } from '../../runtime/status-writer.ts';
import { disableReplication } from './disable-replication.ts';
import { enableReplication } from './enable-replication.ts';
import { VmPass, type ReplicatedVmDeps } from './pass.ts';

export type { ReplicatedVmDeps } from './pass.ts';

export class ReplicatedVmReconciler implements Reconciler<ReplicatedVM> {
  private readonly deps: ReplicatedVmDeps;
  private readonly status: StatusWriter<ReplicatedVM>;

  constructor(deps: ReplicatedVmDeps) {
    this.deps = deps;
    this.status = new StatusWriter(deps.vms);
  }

  async reconcile(vm: ReplicatedVM, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    if (!isDeleting(vm)) vm = await addFinalizer(this.deps.vms, vm);
    const pass = new VmPass(vm, this.deps, this.status, ctx);
    try {
      if (isDeleting(vm)) return await disableReplication(pass);
      const failover = failoverHolding(this.deps.listFailovers(pass.namespace), vm);
      if (failover) return await followFailover(pass, failover);
      if (vm.status?.phase === 'FailedOver') {
        const message = `failed over by ${vm.status.activeFailover ?? 'a FailoverRequest'} (request since deleted); replication stopped`;
        return await pass.record({ state: 'ready', reason: 'FailedOver', message });
      }
      return await enableReplication(pass);
    } catch (error) {
      return pass.fail(reconcileErrorFor(error, 'enabling replication'));
    }
  }
}

/** A real failover holds the VM: replication has stopped; the VM's phase follows the request's. */
async function followFailover(pass: VmPass, failover: FailoverRequest): Promise<void> {
  const { vm } = pass;
  const finished = failover.status?.phase === 'Succeeded' || failover.status?.phase === 'Committed';
  const phase: ReplicatedVMStatus['phase'] = finished ? 'FailedOver' : 'FailingOver';
  const readiness: Readiness = finished
    ? { state: 'ready', reason: 'FailedOver', message: `failed over to ${vm.spec.targetLocation} by FailoverRequest ${failover.metadata.name} (${failover.status?.targetVirtualMachineId}); replication stopped` }
    : { state: 'progressing', reason: 'FailingOver', message: `FailoverRequest ${failover.metadata.name} is failing the VM over; replication stopped` };
  if (vm.status?.phase !== phase) pass.ctx.events.record(vm, 'Normal', phase, readiness.message ?? phase);
  await pass.record(readiness, { phase, activeFailover: failover.metadata.name });
}
