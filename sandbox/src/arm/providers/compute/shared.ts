// Microsoft.Compute in the ARM emulator: what the resource types share. Type names, the errors Compute
// answers with, and relationships computed from one source of truth (a disk is attached to the VM whose
// storage profile names it; nothing stores the reverse link).
import type { ArmEngine } from '../../engine.ts';
import { ArmError, conflict, invalidParameter } from '../../errors.ts';
import { idKey } from '../../paths.ts';
import type { Json, StoredResource } from '../../store.ts';

export const AVSET = 'Microsoft.Compute/availabilitySets';
export const DISK = 'Microsoft.Compute/disks';
export const SNAPSHOT = 'Microsoft.Compute/snapshots';
export const VM = 'Microsoft.Compute/virtualMachines';
export const RPC = 'Microsoft.Compute/restorePointCollections';
export const RP = 'Microsoft.Compute/restorePointCollections/restorePoints';
export const DRP = 'Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints';
export const NIC = 'Microsoft.Network/networkInterfaces';
export const NS = 'Microsoft.Compute';
export const GiB = 1024 ** 3;
/** Size of the OS disk created from a (sandbox) image when osDisk.diskSizeGB is not given. */
export const IMAGE_OS_DISK_GB = 30;

export const notAllowed = (message: string): ArmError => conflict('OperationNotAllowed', message);
export const propertyChange = (prop: string): ArmError =>
  conflict('PropertyChangeNotAllowed', `Changing property '${prop}' is not allowed.`);
export const notFoundRef = (id: string): ArmError => new ArmError(404, 'NotFound', `Resource ${id} not found.`);

export const skuTier = (name: string): string =>
  name.startsWith('Premium') ? 'Premium' : name.startsWith('Ultra') ? 'Ultra' : name.startsWith('StandardSSD') ? 'StandardSSD' : 'Standard';

export const now = (): string => new Date().toISOString();

// ---------------------------------------------------------------------------- relationships (computed)

/** The VM a disk is attached to (from the VMs' storage profiles: one source of truth). */
export function vmOfDisk(engine: ArmEngine, diskId: string): StoredResource | undefined {
  const k = idKey(diskId);
  return engine.store.ofType(VM).find((vm) => vmDiskIds(vm).some((d) => idKey(d) === k));
}

export function vmDiskIds(vm: StoredResource): string[] {
  const sp = vm.body.properties.storageProfile;
  return [sp.osDisk?.managedDisk?.id, ...(sp.dataDisks ?? []).map((d: Json) => d.managedDisk?.id)].filter(
    (x): x is string => typeof x === 'string',
  );
}

export function diskState(engine: ArmEngine, disk: StoredResource): string {
  if (disk.internal.sas) return disk.internal.upload ? 'ActiveUpload' : 'ActiveSAS';
  if (disk.internal.upload) return 'ReadyToUpload';
  const vm = vmOfDisk(engine, disk.id);
  if (vm) return vm.internal.powerState === 'deallocated' ? 'Reserved' : 'Attached';
  return 'Unattached';
}

/** Disk restore points exist only once complete (they have no provisioningState). */
export const isReady = (r: StoredResource): boolean => r.type === DRP || r.body.properties?.provisioningState === 'Succeeded';

export const sizeBytesOf = (r: StoredResource): number => Number(r.internal.sizeBytes ?? r.body.properties.diskSizeBytes ?? 0);

export function invalidZone(zones: string[]): never {
  throw invalidParameter(`The zones '${zones.join(',')}' are not valid. Valid zones are 1, 2 and 3.`, 'zones');
}
