// Compute's limits on VM restore points that the datapath lives with, enforced by the emulator for every
// restore point created (Azure enforces them whatever the throttling): "A maximum of 500 VM restore points
// can be retained at any time for a VM, irrespective of the number of restore point collections" and
// "Concurrent creation of restore points for a VM isn't supported"
// (https://learn.microsoft.com/en-us/azure/virtual-machines/concepts-restore-points, "Other limitations").
// The page gives no status or code for either refusal: the sandbox answers 409, `Conflict` for a creation
// already under way (the retryable kind, as for any operation in progress) and `OperationNotAllowed` for
// the retention limit (retrying does not help until points are deleted).
import type { ArmEngine } from '../../engine.ts';
import { conflict } from '../../errors.ts';
import { idKey, parentId } from '../../paths.ts';
import type { StoredResource } from '../../store.ts';
import { RP } from './shared.ts';

/** Restore points a VM may keep across all its collections (see the header). */
export const MAX_RESTORE_POINTS_PER_VM = 500;

/** Every restore point of the VM, in any collection whose source it is. */
function restorePointsOfVm(e: ArmEngine, vmId: string): StoredResource[] {
  const key = idKey(vmId);
  return e.store.ofType(RP).filter((rp) => {
    const source: unknown = e.store.get(parentId(rp.id)!)?.body.properties?.source?.id;
    return typeof source === 'string' && idKey(source) === key;
  });
}

/** Throws the 409 Azure answers when restore point `name` may not be created for the VM now. */
export function checkRestorePointLimits(e: ArmEngine, vm: StoredResource, name: string): void {
  const points = restorePointsOfVm(e, vm.id);
  const creating = points.find((p) => p.body.properties?.provisioningState === 'Creating');
  if (creating) {
    throw conflict('Conflict', `Restore point '${creating.body.name}' of VM '${vm.body.name}' is being created; concurrent creation of restore points for a VM is not supported. Retry once it completes.`);
  }
  if (points.length >= MAX_RESTORE_POINTS_PER_VM) {
    throw conflict(
      'OperationNotAllowed',
      `VM '${vm.body.name}' already has ${points.length} restore points, the most a VM can keep (${MAX_RESTORE_POINTS_PER_VM}); delete some before creating restore point '${name}'.`,
    );
  }
}
