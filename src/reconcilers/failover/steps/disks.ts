/**
 * CreateDisks: one managed disk per disk of the chosen recovery point, imported from the point's replica
 * blob snapshot, each through the resource contract (recorded in status.targetResources before its
 * create is sent; deterministic per-request names), of the type, generation and security type the
 * registration recorded (vm-shape.ts), encrypted with the target disk encryption set mapped from its source
 * disk's (customer-managed keys; disk-encryption-mapping.ts).
 */
import { convergeResource } from '../../../azure/external-resource.ts';
import { managedDiskResource } from '../../../azure/resources/managed-disk.ts';
import { done, soonest, stalled, waiting, type Step } from '../../../runtime/step.ts';
import { failoverIds, targetPlacement } from '../names.ts';
import type { ProcedurePass } from '../state.ts';
import { DISK_ENCRYPTION_SET_NOT_MAPPED, targetDiskEncryptionSet, unmappedSetMessage } from '../../disk-encryption-mapping.ts';
import { chosenPoint } from './recovery-point.ts';
import { osDiskShape, targetDiskType } from './vm-shape.ts';

export async function createDisks(pass: ProcedurePass): Promise<Step> {
  const { deps, fo, vm } = pass;
  const point = await chosenPoint(pass);
  if (!point) return stalled('RecoveryPointGone', `RecoveryPoint ${pass.status.recoveryPointName} no longer exists`);
  const target = targetPlacement(vm);
  const ids = failoverIds(fo, vm);
  let pending = 0;
  let again: number | undefined;
  for (const disk of point.spec.disks) {
    const id = ids.disk(disk.name);
    const sourceSet = vm.status?.disks?.find((d) => d.name === disk.name)?.diskEncryptionSetId;
    const diskEncryptionSetId = sourceSet ? targetDiskEncryptionSet(vm.spec.diskEncryptionSetMappings, sourceSet) : undefined;
    if (sourceSet && !diskEncryptionSetId) return stalled(DISK_ENCRYPTION_SET_NOT_MAPPED, unmappedSetMessage(disk.name, sourceSet));
    const resource = managedDiskResource(deps.az.forResource(id), id, pass.owner, {
      location: vm.spec.targetLocation,
      sourceUri: `${disk.blobUrl}?snapshot=${encodeURIComponent(disk.snapshot)}`,
      storageAccountId: vm.status?.targetStorageAccountId as string,
      ...(disk.role === 'OS' ? { osType: vm.status?.sourceOsType ?? 'Linux', ...osDiskShape(vm) } : {}),
      ...(target.zone ? { zone: target.zone } : {}),
      diskType: targetDiskType(vm, disk.name),
      ...(diskEncryptionSetId ? { diskEncryptionSetId } : {}),
    });
    const step = await convergeResource(resource, pass.resources, () => pass.save());
    if (step.state === 'stalled') return stalled('DiskImportFailed', `disk ${id.split('/').pop()} could not be imported from ${point.metadata.name}`);
    if (step.state === 'waiting') {
      pending++;
      again = soonest(again, step.requeueAfterMs);
    }
  }
  if (pending) return waiting('ImportingDisks', `importing ${pending} of ${point.spec.disks.length} disk(s) from ${point.metadata.name}`, again);
  return done(`${point.spec.disks.length} disk(s) imported`);
}
