// Microsoft.Compute in the ARM emulator: availabilitySets, proximityPlacementGroups, capacityReservationGroups,
// disks, snapshots, diskEncryptionSets, virtualMachines,
// restorePointCollections, restorePoints and diskRestorePoints, one file each, and the capacity APIs (skus,
// usages) (disks and snapshots share one
// handler). Managed disk content lives in page blobs of the storage backend (engine.disks); restore points
// copy all included disks at one instant (storage.freezeWrites).
import type { ArmEngine } from '../../engine.ts';
import { registerAvailabilitySets } from './availability-sets.ts';
import { registerCapacity } from './capacity.ts';
import { registerDiskEncryptionSets } from './disk-encryption-sets.ts';
import { registerPlacementGroups } from './placement-groups.ts';
import { registerDiskRestorePoints } from './disk-restore-points.ts';
import { registerDisks, registerSnapshots } from './disks-and-snapshots.ts';
import { registerRestorePointCollections } from './restore-point-collections.ts';
import { registerRestorePoints } from './restore-points.ts';
import { registerVirtualMachines } from './virtual-machines.ts';

export function registerCompute(engine: ArmEngine): void {
  registerAvailabilitySets(engine);
  registerPlacementGroups(engine);
  registerDiskEncryptionSets(engine);
  registerDisks(engine);
  registerSnapshots(engine);
  registerVirtualMachines(engine);
  registerRestorePointCollections(engine);
  registerRestorePoints(engine);
  registerDiskRestorePoints(engine);
  registerCapacity(engine);
}
