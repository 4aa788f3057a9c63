/**
 * The consistency group cycle a RecoveryPoint belongs to, in its status: status.groupCycle (the same number
 * on every member's point of the cycle), status.groupSkewMilliseconds (latest minus earliest restore point
 * time of the members captured) and status.groupMembers. The label siterecovery.io/consistency-group is set
 * when the point is created (recovery-points.ts); the status is applied right after, by the datapath's
 * field manager, and again by a retried seal, so a seal cut short in between does not leave it out. The
 * same write carries status.suspect of a point sealed during a churn anomaly (label siterecovery.io/suspect).
 */
import { DATAPATH_FIELD_MANAGER } from '../api/contract.ts';
import type { RecoveryPoint } from '../api/types.ts';
import type { CustomResourceClient } from '../kube/custom-resources.ts';
import type { GroupStamp } from './consistency-group.ts';

export async function writeGroupStamp(client: CustomResourceClient<RecoveryPoint>, point: RecoveryPoint, stamp: GroupStamp): Promise<void> {
  await writePointStatus(client, point, { group: stamp });
}

/**
 * Everything the datapath writes in a RecoveryPoint's status, in one server-side apply (a second apply by the
 * same field manager would drop what the first set): the group stamp, and status.suspect with its reason
 * when the point was sealed during a churn anomaly (worker-churn.ts).
 */
export async function writePointStatus(client: CustomResourceClient<RecoveryPoint>, point: RecoveryPoint, stamps: { group?: GroupStamp; suspect?: string }): Promise<void> {
  const { group, suspect } = stamps;
  const wanted: NonNullable<RecoveryPoint['status']> = {
    ...(group ? { groupCycle: group.cycle, groupSkewMilliseconds: Math.round(group.skewMs), groupMembers: group.members } : {}),
    ...(suspect !== undefined ? { suspect: true, suspectReason: suspect.slice(0, 1024) } : {}),
  };
  if (Object.keys(wanted).length === 0) return;
  const status = (point.status ?? {}) as Record<string, unknown>;
  if (Object.entries(wanted).every(([key, value]) => status[key] === value)) return;
  const ref = { namespace: point.metadata.namespace ?? 'default', name: point.metadata.name ?? '' };
  await client.applyStatus(ref, wanted, DATAPATH_FIELD_MANAGER);
}
