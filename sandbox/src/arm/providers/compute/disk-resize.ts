// When a managed disk may grow (PUT or PATCH of diskSizeGB), as Azure documents it. Disks only grow, in
// whole GiB. A disk attached to a VM that is not deallocated may grow "without downtime" only when:
//   - it is a data disk (never the OS disk),
//   - it is not a shared disk (maxShares > 1),
//   - a disk of 4 TiB or less does not grow beyond 4 TiB (that needs the VM deallocated).
// Source: Azure docs, "Expand without downtime" restrictions,
//   MicrosoftDocs/azure-docs includes/virtual-machines-disks-expand-without-downtime-restrictions.md and
//   MicrosoftDocs/azure-compute-docs articles/virtual-machines/includes/virtual-machines-disks-expand-without-downtime-restrictions.md
//   (https://learn.microsoft.com/azure/virtual-machines/linux/expand-disks#expand-without-downtime).
// Otherwise ARM answers 409 OperationNotAllowed ("Disk resizing is allowed only when creating a VM or
// when the VM is deallocated").
import type { ArmEngine } from '../../engine.ts';
import { invalidParameter } from '../../errors.ts';
import { idKey } from '../../paths.ts';
import type { StoredResource } from '../../store.ts';
import { GiB, notAllowed, sizeBytesOf, vmOfDisk } from './shared.ts';

const FOUR_TIB = 4 * 1024 * GiB;

/** The new size in bytes, after checking Azure's rules; throws the error ARM would answer. */
export function checkedResize(engine: ArmEngine, disk: StoredResource, requestedGiB: unknown): number {
  const gb = Number(requestedGiB);
  const current = sizeBytesOf(disk);
  if (!Number.isInteger(gb) || gb * GiB < current) {
    throw invalidParameter(`Disk ${disk.body.name} cannot be resized from ${disk.body.properties.diskSizeGB} GB to ${String(requestedGiB)} GB: disks can only grow.`, 'diskSizeGB');
  }
  const next = gb * GiB;
  const vm = vmOfDisk(engine, disk.id);
  if (!vm || vm.internal.powerState === 'deallocated') return next;
  const osDisk = vm.body.properties.storageProfile?.osDisk?.managedDisk?.id;
  const liveRefusal =
    osDisk && idKey(osDisk) === idKey(disk.id) ? 'the OS disk cannot be expanded without downtime'
    : Number(disk.body.properties.maxShares ?? 1) > 1 ? 'a shared disk cannot be expanded without downtime'
    : current <= FOUR_TIB && next > FOUR_TIB ? 'a disk of 4 TiB or less cannot be expanded beyond 4 TiB without downtime'
    : undefined;
  if (liveRefusal) throw notAllowed(`Disk resizing is allowed only when creating a VM or when the VM is deallocated: ${liveRefusal}.`);
  return next;
}
