/**
 * The proximity placement group and capacity reservation group a failed-over VM joins (spec
 * targetProximityPlacementGroupId, targetCapacityReservationGroupId: none by default, as in ASR), checked at
 * enable time, before anything is created: each must exist in the target region (else Stalled
 * ProximityPlacementGroupNotUsable / CapacityReservationGroupNotUsable). The failover only references them.
 */
import { parseArmId } from '../../azure/arm-id.ts';
import { getOrUndefined } from '../../azure/resources/observe.ts';
import type { VmPass } from './pass.ts';

const sameLocation = (a: string | undefined, b: string) => (a ?? '').replace(/\s/g, '').toLowerCase() === b.replace(/\s/g, '').toLowerCase();

/** Why a placement group the spec names cannot be used, if one cannot. */
export async function placementGroupRefusal(pass: VmPass): Promise<{ reason: string; message: string } | undefined> {
  const { vm, deps } = pass;
  const groups = [
    { id: vm.spec.targetProximityPlacementGroupId, what: 'proximity placement group', reason: 'ProximityPlacementGroupNotUsable', get: (rg: string, name: string) => deps.az.forResource(vm.spec.targetProximityPlacementGroupId ?? '').compute.proximityPlacementGroups.get(rg, name) },
    { id: vm.spec.targetCapacityReservationGroupId, what: 'capacity reservation group', reason: 'CapacityReservationGroupNotUsable', get: (rg: string, name: string) => deps.az.forResource(vm.spec.targetCapacityReservationGroupId ?? '').compute.capacityReservationGroups.get(rg, name) },
  ];
  for (const g of groups) {
    if (!g.id) continue;
    const { resourceGroup, name } = parseArmId(g.id);
    const found = await getOrUndefined(() => g.get(resourceGroup, name));
    if (!found) return { reason: g.reason, message: `${g.what} ${g.id} does not exist` };
    if (!sameLocation(found.location, vm.spec.targetLocation)) return { reason: g.reason, message: `${g.what} ${g.id} is in ${found.location}, not in the target region ${vm.spec.targetLocation}` };
  }
  return undefined;
}
