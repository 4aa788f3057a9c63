/**
 * The one place a plan failover chooses each member's recovery point: what goes into spec.recoveryPoint
 * of the member's own FailoverRequest. Called once per batch of members about to start, with every member
 * of the plan (started or not), so a choice that spans members can be made for all of them at once.
 *
 * Today every member gets the plan request's own choice (LatestProcessed by default), and each member's
 * FailoverRequest resolves it to that VM's own point. Multi-VM consistency groups plug in here: members
 * of one consistency group get the named RecoveryPoint of the newest group cycle all of them sealed.
 */
import type { FailoverRequest, PlanMemberStatus, RecoveryPoint } from '../../api/types.ts';
import type { CustomResourceClient } from '../../kube/custom-resources.ts';

export interface PlanPointDeps {
  points: CustomResourceClient<RecoveryPoint>;
}

/** spec.recoveryPoint for each member of `starting` (by ReplicatedVM name). */
export async function memberRecoveryPoints(_deps: PlanPointDeps, planFailover: FailoverRequest, _all: readonly PlanMemberStatus[], starting: readonly string[]): Promise<Map<string, string>> {
  const point = planFailover.spec.recoveryPoint ?? 'LatestProcessed';
  return new Map(starting.map((name) => [name, point]));
}
