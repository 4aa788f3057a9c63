/**
 * Disk encryption sets across regions (spec.diskEncryptionSetMappings of a ReplicatedVM): a disk encrypted
 * with a customer-managed key through a source-region disk encryption set fails over encrypted with the
 * target-region set the mapping names (a set, like the key vault behind it, serves one region). Pure:
 * enabling replication refuses an unmapped set with it, and the failover's CreateDisks step uses it.
 */
import type { DiskEncryptionSetMapping } from '../api/types.ts';
import { sameArmId } from '../azure/arm-id.ts';

export const DISK_ENCRYPTION_SET_NOT_MAPPED = 'DiskEncryptionSetNotMapped';
export const DISK_ENCRYPTION_SET_NOT_USABLE = 'DiskEncryptionSetNotUsable';

/** The target set of a disk encrypted with `sourceSetId` (undefined when no mapping names it). */
export function targetDiskEncryptionSet(mappings: readonly DiskEncryptionSetMapping[] | undefined, sourceSetId: string): string | undefined {
  return mappings?.find((m) => sameArmId(m.sourceDiskEncryptionSetId, sourceSetId))?.targetDiskEncryptionSetId;
}

export function unmappedSetMessage(diskName: string, sourceSetId: string): string {
  return `disk ${diskName} is encrypted with disk encryption set ${sourceSetId}, which spec.diskEncryptionSetMappings does not map to a disk encryption set in the target region`;
}
