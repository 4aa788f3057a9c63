/**
 * Disk encryption sets at enable time: every protected disk encrypted with a customer-managed key needs a
 * target disk encryption set (spec.diskEncryptionSetMappings, disk-encryption-mapping.ts) that exists in the
 * target region, checked before anything is created (Stalled DiskEncryptionSetNotMapped /
 * DiskEncryptionSetNotUsable), so a failover never finds out with the source region gone. Each target set
 * is read once per pass.
 */
import type { DiskEncryptionSet } from '@azure/arm-compute';
import { parseArmId } from '../../azure/arm-id.ts';
import type { SourceVm } from '../../azure/source-vm.ts';
import { getOrUndefined } from '../../azure/resources/observe.ts';
import { DISK_ENCRYPTION_SET_NOT_MAPPED, DISK_ENCRYPTION_SET_NOT_USABLE, targetDiskEncryptionSet, unmappedSetMessage } from '../disk-encryption-mapping.ts';
import type { VmPass } from './pass.ts';

const sameLocation = (a: string | undefined, b: string) => (a ?? '').replace(/\s/g, '').toLowerCase() === b.replace(/\s/g, '').toLowerCase();

/** Why the disks' encryption cannot be carried over, if it cannot. */
export async function diskEncryptionRefusal(pass: VmPass, source: SourceVm): Promise<{ reason: string; message: string } | undefined> {
  const { vm, deps } = pass;
  const read = new Map<string, Promise<DiskEncryptionSet | undefined>>();
  for (const disk of source.disks) {
    if (!disk.diskEncryptionSetId) continue;
    const targetId = targetDiskEncryptionSet(vm.spec.diskEncryptionSetMappings, disk.diskEncryptionSetId);
    if (!targetId) return { reason: DISK_ENCRYPTION_SET_NOT_MAPPED, message: unmappedSetMessage(disk.name, disk.diskEncryptionSetId) };
    const key = targetId.toLowerCase();
    if (!read.has(key)) {
      const id = parseArmId(targetId);
      read.set(key, getOrUndefined(() => deps.az.forResource(targetId).compute.diskEncryptionSets.get(id.resourceGroup, id.name)));
    }
    const set = await read.get(key);
    if (!set) return { reason: DISK_ENCRYPTION_SET_NOT_USABLE, message: `target disk encryption set ${targetId} (for disk ${disk.name}) does not exist` };
    if (!sameLocation(set.location, vm.spec.targetLocation)) {
      return { reason: DISK_ENCRYPTION_SET_NOT_USABLE, message: `target disk encryption set ${targetId} (for disk ${disk.name}) is in ${set.location}, not in the target region ${vm.spec.targetLocation}` };
    }
  }
  return undefined;
}
