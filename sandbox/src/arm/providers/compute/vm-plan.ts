// Validation of a virtual machine PUT, step by step, before anything is created: its availability set, its
// network interfaces, and the plan of its disks (existing ones attached, new ones from an image or empty),
// with the checks and messages Compute answers with. Nothing here changes the store.
import type { ArmEngine, Target } from '../../engine.ts';
import { conflict, invalidParameter } from '../../errors.ts';
import { idKey } from '../../paths.ts';
import type { Json, StoredResource } from '../../store.ts';
import { isObj, uuid } from '../common.ts';
import { AVSET, DISK, GiB, IMAGE_OS_DISK_GB, NIC, VM, diskState, notAllowed, notFoundRef, propertyChange, vmDiskIds, vmOfDisk } from './shared.ts';

export interface PlannedDisk {
  /** Existing disk to attach, or a disk to create. */
  id: string;
  create?: { name: string; sizeBytes: number; sku: string; osType?: string; fromImage?: Json };
}

function diskSku(d: Json): string {
  return d?.managedDisk?.storageAccountType ?? 'Standard_LRS';
}

/** Validates a disk reference of a VM storage profile; returns the disk plan entry. */
export function planDisk(
  engine: ArmEngine,
  vmTarget: Target,
  vmLocation: string,
  zones: string[] | undefined,
  d: Json,
  role: { os: boolean; lun?: number; imageReference?: Json },
  attachedBefore: Set<string>,
): PlannedDisk {
  const option = String(d?.createOption ?? '').toLowerCase();
  const where = role.os ? 'osDisk' : `dataDisks[lun ${role.lun}]`;
  if (option === 'attach') {
    const id: unknown = d?.managedDisk?.id;
    if (typeof id !== 'string') throw invalidParameter(`Required parameter '${where}.managedDisk.id' is missing (null).`, `${where}.managedDisk.id`);
    const disk = engine.store.get(id);
    if (!disk || disk.type !== DISK) throw notFoundRef(id);
    if (disk.body.properties.provisioningState !== 'Succeeded') {
      throw conflict('Conflict', `Disk ${disk.body.name} is not ready (provisioningState ${disk.body.properties.provisioningState}).`);
    }
    if (disk.body.location !== vmLocation) {
      throw invalidParameter(`Disk ${disk.id} is in location '${disk.body.location}' and cannot be attached to a VM in '${vmLocation}'.`, `${where}.managedDisk.id`);
    }
    const owner = vmOfDisk(engine, disk.id);
    if (owner && idKey(owner.id) !== idKey(vmTarget.id)) throw notAllowed(`Disk ${disk.body.name} is already attached to VM ${owner.id}.`);
    if (!attachedBefore.has(idKey(disk.id)) && disk.internal.sas) {
      throw notAllowed(`Disk ${disk.body.name} cannot be attached: it has an active SAS (diskState ${diskState(engine, disk)}).`);
    }
    if (!attachedBefore.has(idKey(disk.id)) && disk.internal.upload) {
      throw notAllowed(`Disk ${disk.body.name} cannot be attached while it is ready for upload.`);
    }
    const dz: string[] | undefined = disk.body.zones;
    // A zone-redundant disk (sku …_ZRS, created in no zone) attaches to a VM in any zone
    // (learn.microsoft.com/azure/virtual-machines/disks-deploy-zrs).
    const zoneRedundant = String(disk.body.sku?.name ?? '').endsWith('_ZRS');
    if (!zoneRedundant && (zones?.[0] ?? '') !== (dz?.[0] ?? '')) {
      throw invalidParameter(`Disk ${disk.body.name} is in zone '${dz?.[0] ?? 'none'}' but the VM is in zone '${zones?.[0] ?? 'none'}'.`, `${where}.managedDisk.id`);
    }
    return { id: disk.id };
  }
  if (option === 'empty' || option === 'fromimage') {
    if (option === 'fromimage' && !role.imageReference) {
      throw invalidParameter("Required parameter 'imageReference' is missing (null).", 'storageProfile.imageReference');
    }
    if (option === 'empty' && role.os) throw invalidParameter("Create option 'Empty' is not valid for the OS disk.", 'osDisk.createOption');
    const gb = d?.diskSizeGB === undefined ? (option === 'fromimage' ? IMAGE_OS_DISK_GB : undefined) : Number(d.diskSizeGB);
    if (gb === undefined || !Number.isInteger(gb) || gb < 1 || gb > 65536) {
      throw invalidParameter(`Required parameter '${where}.diskSizeGB' is missing or invalid.`, `${where}.diskSizeGB`);
    }
    const vmName = vmTarget.name;
    const suffix = uuid().replace(/-/g, '');
    const name: string =
      typeof d?.name === 'string' && d.name ? d.name : role.os ? `${vmName}_OsDisk_1_${suffix}` : `${vmName}_disk${(role.lun ?? 0) + 2}_${suffix}`;
    const id = `${vmTarget.id.split('/providers/')[0]}/providers/${DISK}/${name}`;
    if (engine.store.get(id)) {
      throw conflict('Conflict', `A disk named '${name}' already exists in resource group '${vmTarget.rg}'.`);
    }
    return {
      id,
      create: {
        name,
        sizeBytes: gb * GiB,
        sku: diskSku(d),
        ...(role.os ? { osType: d?.osType ?? (role.imageReference ? 'Linux' : undefined) } : {}),
        ...(option === 'fromimage' ? { fromImage: role.imageReference } : {}),
      },
    };
  }
  throw invalidParameter(`Create option '${String(d?.createOption)}' is not valid for ${where}.`, `${where}.createOption`);
}

/** The availability set the VM joins (same location, managed-disk 'Aligned' SKU; never with a zone). */
export function checkAvailabilitySet(e: ArmEngine, props: Json, location: string, zones: string[] | undefined, existing: StoredResource | undefined): string | undefined {
  const asId: string | undefined = props.availabilitySet?.id;
  if (asId) {
    if (zones) throw invalidParameter('A virtual machine cannot be in an availability set and an availability zone at the same time.', 'availabilitySet');
    const as = e.store.get(asId);
    if (!as || as.type !== AVSET) throw notFoundRef(asId);
    if (as.body.location !== location) {
      throw invalidParameter(`Availability set ${as.id} is in location '${as.body.location}', the VM in '${location}'.`, 'availabilitySet.id');
    }
    if (as.body.sku?.name !== 'Aligned') {
      throw notAllowed(
        "Addition of a VM with managed disks to non-managed Availability Set or addition of a VM with blob based disks to managed Availability Set is not supported. Please create an Availability Set with 'Aligned' SKU in order to add a VM with managed disks to it.",
      );
    }
  }
  if (existing && idKey(asId ?? '') !== idKey(existing.body.properties.availabilitySet?.id ?? '')) {
    throw propertyChange('availabilitySet.id');
  }
  return asId;
}

/** The VM's network interfaces: at least one, exactly one primary of several, same location, not used by another VM. */
export function checkNetworkInterfaces(e: ArmEngine, props: Json, location: string, target: Target): Json[] {
  const nics: Json[] = props.networkProfile?.networkInterfaces ?? [];
  if (!Array.isArray(nics) || nics.length === 0) {
    throw invalidParameter('The virtual machine must have at least one network interface.', 'networkProfile.networkInterfaces');
  }
  const primaries = nics.filter((n) => n?.properties?.primary === true).length;
  if (nics.length > 1 && primaries !== 1) {
    throw invalidParameter('Virtual machine with multiple network interfaces must have exactly one primary network interface.', 'networkProfile.networkInterfaces');
  }
  const nicIds = new Set<string>();
  for (const n of nics) {
    const nic = typeof n?.id === 'string' ? e.store.get(n.id) : undefined;
    if (!nic || nic.type !== NIC) throw notFoundRef(String(n?.id));
    if (nic.body.location !== location) {
      throw invalidParameter(`Network interface ${nic.id} is in location '${nic.body.location}', the VM in '${location}'.`, 'networkProfile.networkInterfaces');
    }
    if (nicIds.has(idKey(nic.id))) throw invalidParameter(`Network interface ${nic.id} is referenced twice.`, 'networkProfile.networkInterfaces');
    nicIds.add(idKey(nic.id));
    const user = e.store
      .ofType(VM)
      .find((v) => idKey(v.id) !== idKey(target.id) && (v.body.properties.networkProfile.networkInterfaces as Json[]).some((x) => idKey(x.id) === idKey(nic.id)));
    if (user) throw notAllowed(`Network interface ${nic.id} is in use by virtual machine ${user.id}.`);
  }
  return nics;
}

export interface StoragePlan {
  osPlan: PlannedDisk;
  /** The OS disk entry of the VM before this PUT (updates keep its disk). */
  prevOs: Json;
  dataPlans: { lun: number; plan: PlannedDisk; d: Json }[];
}

/** The disks of the storage profile `sp`: OS disk (fixed after creation), data disks by unique LUN, each disk once. */
export function planStorage(
  e: ArmEngine,
  target: Target,
  location: string,
  zones: string[] | undefined,
  props: Json,
  sp: Json,
  existing: StoredResource | undefined,
): StoragePlan {
  const attachedBefore = new Set((existing ? vmDiskIds(existing) : []).map(idKey));
  if (!isObj(sp.osDisk)) throw invalidParameter("Required parameter 'storageProfile.osDisk' is missing (null).", 'storageProfile.osDisk');
  if (!existing) {
    const fromImage = String(sp.osDisk.createOption ?? '').toLowerCase() === 'fromimage';
    if (fromImage && !isObj(props.osProfile)) throw invalidParameter("Required parameter 'osProfile' is missing (null).", 'osProfile');
    if (!fromImage && props.osProfile !== undefined) throw invalidParameter("Parameter 'osProfile' is not allowed.", 'osProfile');
    if (fromImage && typeof props.osProfile.adminUsername !== 'string') {
      throw invalidParameter("Required parameter 'adminUsername' is missing (null).", 'osProfile.adminUsername');
    }
  }
  let osPlan: PlannedDisk;
  const prevOs = existing?.body.properties.storageProfile.osDisk;
  if (existing) {
    const given = sp.osDisk.managedDisk?.id;
    if (given && idKey(given) !== idKey(prevOs.managedDisk.id)) throw propertyChange('osDisk.managedDisk.id');
    osPlan = { id: prevOs.managedDisk.id };
  } else {
    osPlan = planDisk(e, target, location, zones, sp.osDisk, { os: true, imageReference: sp.imageReference }, attachedBefore);
  }
  const dataIn: Json[] = Array.isArray(sp.dataDisks) ? sp.dataDisks.filter((d: Json) => !d?.toBeDetached && !d?.detachOption) : [];
  const luns = new Set<number>();
  const dataPlans: { lun: number; plan: PlannedDisk; d: Json }[] = [];
  const prevData: Json[] = existing?.body.properties.storageProfile.dataDisks ?? [];
  for (const d of dataIn) {
    const lun = Number(d?.lun);
    if (!Number.isInteger(lun) || lun < 0 || lun > 63) throw invalidParameter(`LUN ${String(d?.lun)} is not valid: LUNs range from 0 to 63.`, 'dataDisks.lun');
    if (luns.has(lun)) throw invalidParameter(`Disk LUNs must be unique: LUN ${lun} is used more than once.`, 'dataDisks.lun');
    luns.add(lun);
    const prev = prevData.find((p) => p.lun === lun);
    if (prev) {
      const given = d.managedDisk?.id;
      if (given && idKey(given) !== idKey(prev.managedDisk.id)) {
        throw conflict('Conflict', `LUN ${lun} is already used by disk ${prev.managedDisk.id}. Detach it first.`);
      }
      dataPlans.push({ lun, plan: { id: prev.managedDisk.id }, d: { ...prev, ...d, managedDisk: prev.managedDisk, createOption: prev.createOption } });
      continue;
    }
    dataPlans.push({ lun, plan: planDisk(e, target, location, zones, d, { os: false, lun }, attachedBefore), d });
  }
  const allIds = [osPlan.id, ...dataPlans.map((p) => p.plan.id)].map(idKey);
  if (new Set(allIds).size !== allIds.length) throw invalidParameter('A managed disk can be attached to a VM only once.', 'storageProfile');
  return { osPlan, prevOs, dataPlans };
}

