/**
 * The consistency group cycle a RecoveryPoint belongs to, in its status: status.groupCycle (the same number
 * on every member's point of the cycle), status.groupSkewMilliseconds (latest minus earliest restore point
 * time of the members captured) and status.groupMembers. The label siterecovery.io/consistency-group is set
 * when the point is created (recovery-points.ts); the status is applied right after, by the datapath's
 * field manager, and again by a retried seal, so a seal cut short in between does not leave it out.
 */
import { DATAPATH_FIELD_MANAGER } from '../api/contract.ts';
import type { RecoveryPoint } from '../api/types.ts';
import type { CustomResourceClient } from '../kube/custom-resources.ts';
import type { GroupStamp } from './consistency-group.ts';

export async function writeGroupStamp(client: CustomResourceClient<RecoveryPoint>, point: RecoveryPoint, stamp: GroupStamp): Promise<void> {
  const status = point.status;
  if (status?.groupCycle === stamp.cycle && status.groupSkewMilliseconds === stamp.skewMs && status.groupMembers === stamp.members) return;
  const ref = { namespace: point.metadata.namespace ?? 'default', name: point.metadata.name ?? '' };
  await client.applyStatus(ref, { groupCycle: stamp.cycle, groupSkewMilliseconds: Math.round(stamp.skewMs), groupMembers: stamp.members }, DATAPATH_FIELD_MANAGER);
}
