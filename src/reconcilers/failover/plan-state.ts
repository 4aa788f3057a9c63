/**
 * What a plan failover depends on, and what it observes of the FailoverRequests it created (one per member): which request is a
 * member's, what its status says about the member (phase, point, target VM, IP), and where its work is
 * for the orchestration (`plan-decide.ts`).
 */
import type { FailoverRequest, PlanMemberStatus, RecoveryPlan, RecoveryPoint, ReplicatedVM } from '../../api/types.ts';
import type { CustomResourceClient } from '../../kube/custom-resources.ts';
import type { JobClient } from '../../kube/jobs.ts';
import type { WorkState } from './plan-decide.ts';

export interface PlanFailoverDeps {
  failovers: CustomResourceClient<FailoverRequest>;
  plans: CustomResourceClient<RecoveryPlan>;
  points: CustomResourceClient<RecoveryPoint>;
  jobs: JobClient;
  /** FailoverRequests and ReplicatedVMs of a namespace (informer caches). */
  listFailovers: (namespace: string) => readonly FailoverRequest[];
  listVms: (namespace: string) => readonly ReplicatedVM[];
}

/** The member requests of plan failover `planFailover` among `failovers`, by ReplicatedVM name. */
export function memberRequests(planFailover: FailoverRequest, failovers: readonly FailoverRequest[]): Map<string, FailoverRequest> {
  const uid = planFailover.metadata.uid;
  const children = failovers.filter((f) => f.spec.replicatedVMName && f.metadata.ownerReferences?.some((r) => r.kind === 'FailoverRequest' && r.uid === uid));
  return new Map(children.map((f) => [f.spec.replicatedVMName as string, f]));
}

/** Where a member's own request is. */
export function memberWork(child: FailoverRequest | undefined): WorkState {
  const phase = child?.status?.phase;
  if (!child) return 'NotStarted';
  if (phase === 'Succeeded' || phase === 'Committed') return 'Succeeded';
  return phase === 'Failed' ? 'Failed' : 'Running';
}

/** A member's status, as its request reports it. */
export function memberStatus(member: PlanMemberStatus, child: FailoverRequest | undefined): PlanMemberStatus {
  if (!child) return { replicatedVMName: member.replicatedVMName, group: member.group, phase: 'Pending' };
  const s = child.status;
  const failed = s?.conditions?.find((c) => c.type === 'Succeeded' && c.status === 'False');
  const ip = s?.networkInterfaces?.[0]?.privateIpAddress;
  return {
    replicatedVMName: member.replicatedVMName,
    group: member.group,
    phase: s?.phase ?? 'Pending',
    failoverRequestName: child.metadata.name,
    ...(s?.recoveryPointName ? { recoveryPoint: s.recoveryPointName } : {}),
    ...(s?.targetVirtualMachineId ? { targetVirtualMachineId: s.targetVirtualMachineId } : {}),
    ...(ip ? { privateIpAddress: ip } : {}),
    ...(failed ? { message: `${failed.reason}: ${failed.message ?? ''}` } : {}),
  };
}
