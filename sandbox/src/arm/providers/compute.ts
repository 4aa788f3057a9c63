// Microsoft.Compute: availabilitySets, disks, snapshots, virtualMachines, restorePointCollections,
// restorePoints and diskRestorePoints. Managed disk content lives in page blobs of the storage backend
// (engine.disks); restore points copy all included disks at one instant (storage.freezeWrites).
import type { ArmEngine, Reply, RequestContext, Target, TypeHandler } from '../engine.ts';
import { normLocation } from '../engine.ts';
import { ArmError, conflict, invalidParameter } from '../errors.ts';
import { idKey, parentId, resourceTypeOf } from '../paths.ts';
import type { Json, StoredOperation, StoredResource } from '../store.ts';
import {
  assertNotBusy,
  clone,
  deleteCompleter,
  isObj,
  lroAction,
  lroDelete,
  lroPut,
  newResource,
  putCompleter,
  ref,
  trackedBody,
  uuid,
} from './common.ts';

export const AVSET = 'Microsoft.Compute/availabilitySets';
export const DISK = 'Microsoft.Compute/disks';
export const SNAPSHOT = 'Microsoft.Compute/snapshots';
export const VM = 'Microsoft.Compute/virtualMachines';
export const RPC = 'Microsoft.Compute/restorePointCollections';
export const RP = 'Microsoft.Compute/restorePointCollections/restorePoints';
export const DRP = 'Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints';
const NIC = 'Microsoft.Network/networkInterfaces';
const NS = 'Microsoft.Compute';
const GiB = 1024 ** 3;

const DISK_SKUS = ['Standard_LRS', 'Premium_LRS', 'StandardSSD_LRS', 'UltraSSD_LRS', 'Premium_ZRS', 'StandardSSD_ZRS', 'PremiumV2_LRS'];
const SNAPSHOT_SKUS = ['Standard_LRS', 'Premium_LRS', 'Standard_ZRS'];
/** Size of the OS disk created from a (sandbox) image when osDisk.diskSizeGB is not given. */
const IMAGE_OS_DISK_GB = 30;

const notAllowed = (message: string): ArmError => conflict('OperationNotAllowed', message);
const propertyChange = (prop: string): ArmError =>
  conflict('PropertyChangeNotAllowed', `Changing property '${prop}' is not allowed.`);
const notFoundRef = (id: string): ArmError => new ArmError(404, 'NotFound', `Resource ${id} not found.`);

const skuTier = (name: string): string =>
  name.startsWith('Premium') ? 'Premium' : name.startsWith('Ultra') ? 'Ultra' : name.startsWith('StandardSSD') ? 'StandardSSD' : 'Standard';

const now = (): string => new Date().toISOString();

// ---------------------------------------------------------------------------- relationships (computed)

/** The VM a disk is attached to (from the VMs' storage profiles: one source of truth). */
function vmOfDisk(engine: ArmEngine, diskId: string): StoredResource | undefined {
  const k = idKey(diskId);
  return engine.store.ofType(VM).find((vm) => vmDiskIds(vm).some((d) => idKey(d) === k));
}

function vmDiskIds(vm: StoredResource): string[] {
  const sp = vm.body.properties.storageProfile;
  return [sp.osDisk?.managedDisk?.id, ...(sp.dataDisks ?? []).map((d: Json) => d.managedDisk?.id)].filter(
    (x): x is string => typeof x === 'string',
  );
}

function diskState(engine: ArmEngine, disk: StoredResource): string {
  if (disk.internal.sas) return disk.internal.upload ? 'ActiveUpload' : 'ActiveSAS';
  if (disk.internal.upload) return 'ReadyToUpload';
  const vm = vmOfDisk(engine, disk.id);
  if (vm) return vm.internal.powerState === 'deallocated' ? 'Reserved' : 'Attached';
  return 'Unattached';
}

/** Disk restore points exist only once complete (they have no provisioningState). */
const isReady = (r: StoredResource): boolean => r.type === DRP || r.body.properties?.provisioningState === 'Succeeded';

const sizeBytesOf = (r: StoredResource): number => Number(r.internal.sizeBytes ?? r.body.properties.diskSizeBytes ?? 0);

// ---------------------------------------------------------------------------- disks & snapshots

interface DiskSource {
  kind: 'empty' | 'url' | 'resource' | 'upload';
  sizeBytes: number;
  url?: string;
  resourceId?: string;
}

/** Validates creationData of a disk/snapshot and works out its size and content source. */
async function resolveCreation(
  engine: ArmEngine,
  target: Target,
  props: Json,
  isSnapshot: boolean,
  location: string,
): Promise<DiskSource> {
  const cd = isObj(props.creationData) ? props.creationData : undefined;
  const option: unknown = cd?.createOption;
  if (typeof option !== 'string') {
    throw invalidParameter("Required parameter 'creationData.createOption' is missing (null).", 'creationData.createOption');
  }
  const givenGb = props.diskSizeGB === undefined ? undefined : Number(props.diskSizeGB);
  if (givenGb !== undefined && (!Number.isInteger(givenGb) || givenGb < 1 || givenGb > 65536)) {
    throw invalidParameter(`The value ${String(props.diskSizeGB)} of parameter 'diskSizeGB' is out of range. The value must be between 1 and 65536, inclusive.`, 'diskSizeGB');
  }
  const withGiven = (minBytes: number): number => {
    if (givenGb === undefined) return minBytes;
    if (givenGb * GiB < minBytes) {
      throw invalidParameter(`Disk size ${givenGb} GB is smaller than the size of the source (${Math.ceil(minBytes / GiB)} GB).`, 'diskSizeGB');
    }
    return givenGb * GiB;
  };
  switch (option.toLowerCase()) {
    case 'empty':
      if (isSnapshot) throw invalidParameter("Create option 'Empty' is not supported for snapshots.", 'creationData.createOption');
      if (givenGb === undefined) throw invalidParameter("Required parameter 'diskSizeGB' is missing (null).", 'diskSizeGB');
      return { kind: 'empty', sizeBytes: givenGb * GiB };
    case 'fromimage':
      if (isSnapshot || !cd?.imageReference) {
        throw invalidParameter("Required parameter 'creationData.imageReference' is missing (null).", 'creationData.imageReference');
      }
      return { kind: 'empty', sizeBytes: (givenGb ?? IMAGE_OS_DISK_GB) * GiB };
    case 'import': {
      if (typeof cd?.sourceUri !== 'string') {
        throw invalidParameter("Required parameter 'creationData.sourceUri' is missing (null).", 'creationData.sourceUri');
      }
      if (typeof cd?.storageAccountId !== 'string') {
        throw invalidParameter("Required parameter 'creationData.storageAccountId' is missing (null).", 'creationData.storageAccountId');
      }
      let size: number;
      try {
        size = await engine.disks.sourceSize(cd.sourceUri);
      } catch (e) {
        throw invalidParameter(`Source blob ${cd.sourceUri.split('?')[0]} is not accessible: ${String((e as Error).message ?? e)}`, 'creationData.sourceUri');
      }
      if (size % 512 !== 0) {
        throw invalidParameter(`The size of the source blob (${size} bytes) is not a multiple of 512 bytes.`, 'creationData.sourceUri');
      }
      return { kind: 'url', url: cd.sourceUri, sizeBytes: withGiven(Math.ceil(size / GiB) * GiB) };
    }
    case 'copy':
    case 'restore': {
      const src: unknown = cd?.sourceResourceId;
      if (typeof src !== 'string') {
        throw invalidParameter("Required parameter 'creationData.sourceResourceId' is missing (null).", 'creationData.sourceResourceId');
      }
      const t = resourceTypeOf(src);
      const allowed = option.toLowerCase() === 'copy' ? [DISK, SNAPSHOT] : [DRP];
      if (!t || !allowed.some((a) => a.toLowerCase() === t)) {
        throw invalidParameter(`Source resource ${src} is not a valid source for create option '${option}'.`, 'creationData.sourceResourceId');
      }
      const res = engine.store.get(src);
      if (!res) throw notFoundRef(src);
      if (!isReady(res)) {
        throw conflict('Conflict', `Source resource ${res.id} is not ready (provisioningState ${res.body.properties?.provisioningState}).`);
      }
      const srcLocation = res.body.location ?? engine.store.get(parentId(parentId(res.id)!)!)?.body.location;
      if (srcLocation && srcLocation !== location) {
        throw invalidParameter(`Source resource ${res.id} is in location '${srcLocation}'; it cannot be used in location '${location}'.`, 'creationData.sourceResourceId');
      }
      return { kind: 'resource', resourceId: res.id, sizeBytes: withGiven(sizeBytesOf(res)) };
    }
    case 'upload': {
      if (isSnapshot) throw invalidParameter("Create option 'Upload' is not supported for snapshots.", 'creationData.createOption');
      const size = Number(cd?.uploadSizeBytes);
      if (!Number.isInteger(size) || size <= 0 || size % 512 !== 0) {
        throw invalidParameter("Parameter 'creationData.uploadSizeBytes' must be a positive multiple of 512.", 'creationData.uploadSizeBytes');
      }
      return { kind: 'upload', sizeBytes: size };
    }
    default:
      throw invalidParameter(`Create option '${option}' is not supported.`, 'creationData.createOption');
  }
}

function renderDiskLike(engine: ArmEngine, r: StoredResource): Json {
  const out = clone(r.body);
  if (r.type === DISK) {
    out.properties.diskState = diskState(engine, r);
    const vm = vmOfDisk(engine, r.id);
    if (vm) out.managedBy = vm.id;
  } else if (r.internal.sas) {
    out.properties.diskState = 'ActiveSAS';
  } else {
    out.properties.diskState = 'Unattached';
  }
  return out;
}

function diskLikeHandler(type: string): TypeHandler {
  const isSnapshot = type === SNAPSHOT;
  const kindPrefix = isSnapshot ? 'snapshots' : 'disks';
  return {
    type,
    tracked: true,
    subscriptionList: true,
    render: renderDiskLike,
    async put(e, ctx, target) {
      const req = ctx.body;
      const props = isObj(req.properties) ? req.properties : {};
      const existing = target.existing;
      const skuName: string = req.sku?.name ?? existing?.body.sku?.name ?? 'Standard_LRS';
      if (!(isSnapshot ? SNAPSHOT_SKUS : DISK_SKUS).includes(skuName)) {
        throw invalidParameter(`The value '${skuName}' is not a valid SKU name.`, 'sku.name');
      }
      if (existing) {
        assertNotBusy(e, existing.id);
        const oldCd = existing.body.properties.creationData;
        const newCd = isObj(props.creationData) ? props.creationData : {};
        if (newCd.createOption && String(newCd.createOption).toLowerCase() !== String(oldCd.createOption).toLowerCase()) {
          throw propertyChange('creationData.createOption');
        }
        if (newCd.sourceResourceId && idKey(newCd.sourceResourceId) !== idKey(oldCd.sourceResourceId ?? '')) {
          throw propertyChange('creationData.sourceResourceId');
        }
        if (isSnapshot && props.incremental !== undefined && Boolean(props.incremental) !== Boolean(existing.body.properties.incremental)) {
          throw propertyChange('incremental');
        }
        const body = clone(existing.body);
        body.tags = isObj(req.tags) ? clone(req.tags) : undefined;
        body.sku = { name: skuName, tier: skuTier(skuName) };
        let resizeTo: number | undefined;
        if (!isSnapshot && props.diskSizeGB !== undefined && Number(props.diskSizeGB) !== body.properties.diskSizeGB) {
          const gb = Number(props.diskSizeGB);
          if (!Number.isInteger(gb) || gb * GiB < sizeBytesOf(existing)) {
            throw invalidParameter(`Disk ${existing.body.name} cannot be resized from ${body.properties.diskSizeGB} GB to ${String(props.diskSizeGB)} GB: disks can only grow.`, 'diskSizeGB');
          }
          const vm = vmOfDisk(e, existing.id);
          if (vm && vm.internal.powerState !== 'deallocated') {
            throw notAllowed('Disk resizing is allowed only when creating a VM or when the VM is deallocated.');
          }
          resizeTo = gb * GiB;
          body.properties.diskSizeGB = gb;
          body.properties.diskSizeBytes = resizeTo;
        }
        body.properties.provisioningState = 'Updating';
        const res: StoredResource = { ...existing, body };
        return lroPut(e, ctx, { res, created: false, kind: `${kindPrefix}.put`, ns: NS, params: { resizeTo } });
      }
      const location = normLocation(req.location);
      const source = await resolveCreation(e, target, props, isSnapshot, location);
      const zones = Array.isArray(req.zones) ? req.zones.map(String) : undefined;
      if (zones && zones.some((z: string) => !['1', '2', '3'].includes(z))) invalidZone(zones);
      const body = trackedBody(target, type, req);
      if (zones?.length && !isSnapshot) body.zones = zones;
      body.sku = { name: skuName, tier: skuTier(skuName) };
      const cd = clone(props.creationData);
      if (cd.sourceResourceId && source.resourceId) cd.sourceResourceId = source.resourceId;
      if (source.resourceId) cd.sourceUniqueId = e.store.get(source.resourceId)?.body.properties.uniqueId;
      body.properties = {
        creationData: cd,
        diskSizeGB: Math.ceil(source.sizeBytes / GiB),
        diskSizeBytes: source.sizeBytes,
        uniqueId: uuid(),
        provisioningState: 'Creating',
        timeCreated: now(),
        encryption: { type: 'EncryptionAtRestWithPlatformKey' },
        networkAccessPolicy: props.networkAccessPolicy ?? 'AllowAll',
        publicNetworkAccess: props.publicNetworkAccess ?? 'Enabled',
      };
      if (props.osType) body.properties.osType = props.osType;
      if (props.hyperVGeneration) body.properties.hyperVGeneration = props.hyperVGeneration;
      if (isSnapshot) {
        body.properties.incremental = Boolean(props.incremental);
        if (body.properties.incremental) {
          const srcDisk = source.resourceId ? e.store.get(source.resourceId) : undefined;
          body.properties.incrementalSnapshotFamilyId =
            srcDisk?.type === SNAPSHOT ? srcDisk.body.properties.incrementalSnapshotFamilyId : (srcDisk?.body.properties.uniqueId ?? uuid());
          body.properties.completionPercent = 0;
        }
        if (!body.properties.osType && source.resourceId) {
          const src = e.store.get(source.resourceId);
          if (src?.body.properties.osType) body.properties.osType = src.body.properties.osType;
        }
      } else if (!body.properties.osType && source.resourceId) {
        const src = e.store.get(source.resourceId);
        if (src?.body.properties.osType) body.properties.osType = src.body.properties.osType;
      }
      const internal: Json = { source };
      if (source.kind === 'upload') internal.upload = true;
      return lroPut(e, ctx, { res: newResource(target, type, body, internal), created: true, kind: `${kindPrefix}.put`, ns: NS });
    },
    async delete(e, ctx, res) {
      assertNotBusy(e, res.id);
      if (!isSnapshot) {
        const vm = vmOfDisk(e, res.id);
        if (vm) throw notAllowed(`Disk ${res.body.name} is attached to VM ${vm.id}.`);
      }
      if (res.internal.sas) {
        throw notAllowed(`Disk ${res.body.name} is currently being accessed with a SAS URI (state ${renderDiskLike(e, res).properties.diskState}). Revoke access before deleting it.`);
      }
      return lroDelete(e, ctx, { res, kind: `${kindPrefix}.delete`, ns: NS });
    },
    async purge(e, res) {
      await e.disks.delete(res.id).catch(() => undefined);
    },
    actions: {
      begingetaccess: { method: 'POST', run: (e, ctx, res) => grantAccess(e, ctx, res, `${kindPrefix}.beginGetAccess`) },
      endgetaccess: { method: 'POST', run: (e, ctx, res) => lroAction(e, ctx, { res, kind: `${kindPrefix}.endGetAccess`, ns: NS }) },
    },
  };
}

function invalidZone(zones: string[]): never {
  throw invalidParameter(`The zones '${zones.join(',')}' are not valid. Valid zones are 1, 2 and 3.`, 'zones');
}

async function grantAccess(engine: ArmEngine, ctx: RequestContext, res: StoredResource, kind: string): Promise<Reply> {
  const body = isObj(ctx.body) ? ctx.body : {};
  const access = String(body.access ?? '');
  const duration = Number(body.durationInSeconds);
  if (!['Read', 'Write', 'None'].includes(access)) {
    throw invalidParameter(`The value '${access}' of parameter 'access' is not valid. Valid values are None, Read and Write.`, 'grantAccessData.access');
  }
  if (!Number.isInteger(duration) || duration <= 0) {
    throw invalidParameter("Required parameter 'durationInSeconds' must be a positive integer.", 'grantAccessData.durationInSeconds');
  }
  if (!isReady(res)) {
    throw conflict('Conflict', `Resource ${res.id} is not ready (provisioningState ${res.body.properties?.provisioningState}).`);
  }
  if (res.type === DISK) {
    const vm = vmOfDisk(engine, res.id);
    if (vm && vm.internal.powerState !== 'deallocated' && vm.internal.powerState !== 'stopped') {
      throw notAllowed(`Access not permitted because disk ${res.body.name} is currently attached to running VM ${vm.id}.`);
    }
    if (access === 'Write' && !res.internal.upload) {
      throw notAllowed(`Write access can only be granted to disk ${res.body.name} while it is ready for upload (createOption Upload).`);
    }
  } else if (access === 'Write') {
    throw notAllowed(`Write access cannot be granted to ${res.type.split('/').pop()} ${res.body.name}.`);
  }
  return lroAction(engine, ctx, { res, kind, ns: NS, params: { access, duration } });
}

/** Completer of beginGetAccess for disks, snapshots and disk restore points. */
async function grantCompleter(engine: ArmEngine, op: StoredOperation): Promise<Json> {
  const res = engine.store.get(op.resourceId);
  if (!res) throw notFoundRef(op.resourceId);
  const { access, duration } = op.params as { access: string; duration: number };
  if (access === 'None') {
    delete res.internal.sas;
    engine.store.save();
    return { accessSAS: '' };
  }
  const sas = await engine.disks.sasUrl(res.id, access === 'Write' ? 'Write' : 'Read', duration);
  res.internal.sas = { access, expiresAt: new Date(Date.now() + duration * 1000).toISOString() };
  engine.store.save();
  return { accessSAS: sas };
}

async function revokeCompleter(engine: ArmEngine, op: StoredOperation): Promise<void> {
  const res = engine.store.get(op.resourceId);
  if (!res) return;
  if (res.internal.sas && res.internal.upload) delete res.internal.upload; // upload finished
  delete res.internal.sas;
  engine.store.save();
}

async function createDiskContent(engine: ArmEngine, res: StoredResource): Promise<void> {
  const source = res.internal.source as DiskSource | undefined;
  if (!source) return;
  switch (source.kind) {
    case 'empty':
    case 'upload':
      await engine.disks.create(res.id, source.sizeBytes);
      break;
    case 'url':
      await engine.disks.createFromUrl(res.id, source.sizeBytes, source.url!);
      break;
    case 'resource':
      if (!engine.store.get(source.resourceId!)) throw notFoundRef(source.resourceId!);
      await engine.disks.createFromResource(res.id, source.sizeBytes, source.resourceId!);
      break;
  }
  delete res.internal.source;
  if (res.type === SNAPSHOT && res.body.properties.incremental) res.body.properties.completionPercent = 100;
}

// ---------------------------------------------------------------------------- virtual machines

const POWER_DISPLAY: Record<string, string> = {
  running: 'VM running',
  starting: 'VM starting',
  stopping: 'VM stopping',
  stopped: 'VM stopped',
  deallocating: 'VM deallocating',
  deallocated: 'VM deallocated',
};

function instanceView(engine: ArmEngine, vm: StoredResource): Json {
  const ps: string = vm.body.properties.provisioningState;
  const time = vm.internal.stateTime ?? vm.body.properties.timeCreated;
  const provStatus = {
    code: `ProvisioningState/${ps.toLowerCase()}`,
    level: ps === 'Failed' ? 'Error' : 'Info',
    displayStatus: ps === 'Succeeded' ? 'Provisioning succeeded' : ps === 'Failed' ? 'Provisioning failed' : ps,
    ...(ps === 'Succeeded' || ps === 'Failed' ? { time } : {}),
  };
  const statuses: Json[] = [provStatus];
  const power: string | undefined = vm.internal.powerState;
  if (power) statuses.push({ code: `PowerState/${power}`, level: 'Info', displayStatus: POWER_DISPLAY[power] ?? power });
  return {
    computerName: vm.body.properties.osProfile?.computerName ?? vm.body.name,
    hyperVGeneration: 'V1',
    disks: vmDiskIds(vm).map((id) => {
      const d = engine.store.get(id);
      const dps: string = d?.body.properties.provisioningState ?? 'Succeeded';
      return {
        name: d?.body.name ?? id.split('/').pop(),
        statuses: [
          {
            code: `ProvisioningState/${dps.toLowerCase()}`,
            level: 'Info',
            displayStatus: dps === 'Succeeded' ? 'Provisioning succeeded' : dps,
            ...(dps === 'Succeeded' ? { time: d?.body.properties.timeCreated } : {}),
          },
        ],
      };
    }),
    statuses,
  };
}

function renderVm(engine: ArmEngine, vm: StoredResource, ctx?: RequestContext): Json {
  const out = clone(vm.body);
  // The stored storage profile is authoritative; fill current sizes from the disks.
  const sp = out.properties.storageProfile;
  for (const d of [sp.osDisk, ...(sp.dataDisks ?? [])]) {
    const disk = d?.managedDisk?.id ? engine.store.get(d.managedDisk.id) : undefined;
    if (disk) d.diskSizeGB = disk.body.properties.diskSizeGB;
  }
  const expand = ctx?.query.get('$expand') ?? '';
  if (/instanceView/i.test(expand) || ctx?.query.get('statusOnly') === 'true') out.properties.instanceView = instanceView(engine, vm);
  return out;
}

interface PlannedDisk {
  /** Existing disk to attach, or a disk to create. */
  id: string;
  create?: { name: string; sizeBytes: number; sku: string; osType?: string; fromImage?: Json };
}

function diskSku(d: Json): string {
  return d?.managedDisk?.storageAccountType ?? 'Standard_LRS';
}

/** Validates a disk reference of a VM storage profile; returns the disk plan entry. */
function planDisk(
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
    if ((zones?.[0] ?? '') !== (dz?.[0] ?? '')) {
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

function vmHandler(): TypeHandler {
  const h: TypeHandler = {
    type: VM,
    tracked: true,
    subscriptionList: true,
    render: renderVm,
    async put(e, ctx, target) {
      const req = ctx.body;
      const props = isObj(req.properties) ? req.properties : {};
      const existing = target.existing;
      if (existing) assertNotBusy(e, existing.id);
      const location = normLocation(req.location);
      const vmSize = props.hardwareProfile?.vmSize;
      if (typeof vmSize !== 'string' || !vmSize) {
        throw invalidParameter("Required parameter 'hardwareProfile.vmSize' is missing (null).", 'hardwareProfile.vmSize');
      }
      const zones: string[] | undefined = Array.isArray(req.zones) && req.zones.length ? req.zones.map(String) : undefined;
      if (zones && (zones.length > 1 || zones.some((z) => !['1', '2', '3'].includes(z)))) invalidZone(zones);
      if (existing && (zones?.[0] ?? '') !== (existing.body.zones?.[0] ?? '')) throw propertyChange('zones');

      // Availability set
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

      // Network interfaces
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

      // Disks
      const sp = isObj(props.storageProfile) ? props.storageProfile : {};
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

      // Everything validated: create the new managed disks (Creating) and the VM.
      const createdDisks: string[] = [];
      const mkDisk = (plan: PlannedDisk): void => {
        if (!plan.create) return;
        const c = plan.create;
        const body: Json = {
          id: plan.id,
          name: c.name,
          type: DISK,
          location,
          ...(zones ? { zones } : {}),
          sku: { name: c.sku, tier: skuTier(c.sku) },
          properties: {
            ...(c.osType ? { osType: c.osType } : {}),
            hyperVGeneration: 'V1',
            creationData: c.fromImage ? { createOption: 'FromImage', imageReference: clone(c.fromImage) } : { createOption: 'Empty' },
            diskSizeGB: c.sizeBytes / GiB,
            diskSizeBytes: c.sizeBytes,
            uniqueId: uuid(),
            provisioningState: 'Creating',
            timeCreated: now(),
            encryption: { type: 'EncryptionAtRestWithPlatformKey' },
            networkAccessPolicy: 'AllowAll',
            publicNetworkAccess: 'Enabled',
          },
        };
        e.store.put({ id: plan.id, type: DISK, resourceGroup: target.rg, body, internal: { source: { kind: 'empty', sizeBytes: c.sizeBytes } } });
        createdDisks.push(plan.id);
      };
      mkDisk(osPlan);
      for (const p of dataPlans) mkDisk(p.plan);

      const osDisk = e.store.get(osPlan.id)!;
      const body = trackedBody(target, VM, req);
      if (zones) body.zones = zones;
      const storageProfile: Json = {
        osDisk: {
          osType: sp.osDisk.osType ?? osDisk.body.properties.osType ?? 'Linux',
          name: osDisk.body.name,
          createOption: existing ? prevOs.createOption : (sp.osDisk.createOption === 'FromImage' ? 'FromImage' : 'Attach'),
          caching: sp.osDisk.caching ?? 'ReadWrite',
          managedDisk: { id: osDisk.id, storageAccountType: osDisk.body.sku.name },
          deleteOption: sp.osDisk.deleteOption ?? prevOs?.deleteOption ?? 'Detach',
          diskSizeGB: osDisk.body.properties.diskSizeGB,
        },
        dataDisks: dataPlans
          .sort((a, b) => a.lun - b.lun)
          .map(({ lun, plan, d }) => {
            const disk = e.store.get(plan.id)!;
            return {
              lun,
              name: disk.body.name,
              createOption: d.createOption === 'Attach' || !plan.create ? (d.createOption ?? 'Attach') : 'Empty',
              caching: d.caching ?? 'None',
              managedDisk: { id: disk.id, storageAccountType: disk.body.sku.name },
              deleteOption: d.deleteOption ?? 'Detach',
              diskSizeGB: disk.body.properties.diskSizeGB,
              toBeDetached: false,
            };
          }),
      };
      if (sp.imageReference) storageProfile.imageReference = clone(sp.imageReference);
      else if (existing?.body.properties.storageProfile.imageReference) {
        storageProfile.imageReference = clone(existing.body.properties.storageProfile.imageReference);
      }
      const osProfile = isObj(props.osProfile) ? clone(props.osProfile) : existing?.body.properties.osProfile;
      if (osProfile) delete osProfile.adminPassword;
      body.properties = {
        vmId: existing?.body.properties.vmId ?? uuid(),
        hardwareProfile: { vmSize },
        storageProfile,
        ...(osProfile ? { osProfile } : {}),
        networkProfile: {
          networkInterfaces: nics.map((n) => ({
            id: e.store.get(n.id)!.id,
            ...(n.properties ? { properties: clone(n.properties) } : {}),
          })),
        },
        ...(asId ? { availabilitySet: ref(e.store.get(asId)!.id) } : {}),
        ...(props.diagnosticsProfile ? { diagnosticsProfile: clone(props.diagnosticsProfile) } : {}),
        ...(props.securityProfile ? { securityProfile: clone(props.securityProfile) } : {}),
        provisioningState: existing ? 'Updating' : 'Creating',
        timeCreated: existing?.body.properties.timeCreated ?? now(),
      };
      const internal = existing ? existing.internal : { powerState: 'starting' };
      const res: StoredResource = { id: target.id, type: VM, resourceGroup: target.rg, body, internal };
      return lroPut(e, ctx, { res, created: !existing, kind: 'virtualMachines.put', ns: NS, params: { createdDisks } });
    },
    async delete(e, ctx, res) {
      return lroDelete(e, ctx, { res, kind: 'virtualMachines.delete', ns: NS });
    },
    actions: {
      instanceview: {
        method: 'GET',
        run: async (e, _ctx, res) => ({ status: 200, body: instanceView(e, res) }),
      },
      poweroff: { method: 'POST', run: (e, ctx, res) => powerAction(e, ctx, res, 'powerOff', 'stopping') },
      start: { method: 'POST', run: (e, ctx, res) => powerAction(e, ctx, res, 'start', 'starting') },
      restart: { method: 'POST', run: (e, ctx, res) => powerAction(e, ctx, res, 'restart', 'starting') },
      deallocate: { method: 'POST', run: (e, ctx, res) => powerAction(e, ctx, res, 'deallocate', 'deallocating') },
    },
  };
  return h;
}

const POWER_FINAL: Record<string, string> = { powerOff: 'stopped', start: 'running', restart: 'running', deallocate: 'deallocated' };

async function powerAction(engine: ArmEngine, ctx: RequestContext, vm: StoredResource, action: string, transitional: string): Promise<Reply> {
  assertNotBusy(engine, vm.id);
  if (vm.body.properties.provisioningState !== 'Succeeded') {
    throw conflict('Conflict', `Operation '${action}' is not allowed on VM '${vm.body.name}' while its provisioning state is ${vm.body.properties.provisioningState}.`);
  }
  if (action === 'restart' && vm.internal.powerState !== 'running') {
    throw notAllowed(`Operation 'restart' is not allowed on VM '${vm.body.name}' since the VM is ${vm.internal.powerState}.`);
  }
  const reply = await lroAction(engine, ctx, { res: vm, kind: `virtualMachines.${action}`, ns: NS, params: { from: vm.internal.powerState } });
  if (reply.status === 202) {
    vm.internal.powerState = transitional;
    engine.store.save();
  }
  return reply;
}

// ---------------------------------------------------------------------------- restore points

function renderRpc(engine: ArmEngine, r: StoredResource, ctx?: RequestContext): Json {
  const out = clone(r.body);
  if (/restorePoints/i.test(ctx?.query.get('$expand') ?? '')) {
    out.properties.restorePoints = engine.store.children(r.id, RP).map((rp) => renderRp(engine, rp));
  }
  return out;
}

function renderRp(engine: ArmEngine, r: StoredResource, ctx?: RequestContext): Json {
  const out = clone(r.body);
  if (/instanceView/i.test(ctx?.query.get('$expand') ?? '')) {
    const ps: string = r.body.properties.provisioningState;
    out.properties.instanceView = {
      diskRestorePoints: engine.store.children(r.id, DRP).map((d) => ({
        id: d.id,
        replicationStatus: {
          status: { code: 'ReplicationState/succeeded', level: 'Info', displayStatus: 'Replication succeeded' },
          completionPercent: 100,
        },
      })),
      statuses: [
        {
          code: `ProvisioningState/${ps.toLowerCase()}`,
          level: ps === 'Failed' ? 'Error' : 'Info',
          displayStatus: ps === 'Succeeded' ? 'Provisioning succeeded' : ps,
          time: r.body.properties.timeCreated,
        },
      ],
    };
  }
  return out;
}

function restorePointHandlers(): TypeHandler[] {
  const rpc: TypeHandler = {
    type: RPC,
    tracked: true,
    subscriptionList: true,
    render: renderRpc,
    async put(e, ctx, target) {
      const req = ctx.body;
      const props = isObj(req.properties) ? req.properties : {};
      const existing = target.existing;
      const location = normLocation(req.location);
      const srcId: unknown = props.source?.id ?? existing?.body.properties.source.id;
      if (typeof srcId !== 'string') throw invalidParameter("Required parameter 'source.id' is missing (null).", 'source.id');
      if (existing && idKey(srcId) !== idKey(existing.body.properties.source.id)) throw propertyChange('source.id');
      let source = existing?.body.properties.source;
      if (!existing) {
        const vm = e.store.get(srcId);
        if (!vm || vm.type !== VM) throw notFoundRef(srcId);
        if (vm.body.location !== location) {
          throw invalidParameter(`Restore point collection must be in the location of its source VM ('${vm.body.location}').`, 'location');
        }
        source = { id: vm.id, location: vm.body.location };
      }
      const body = trackedBody(target, RPC, req);
      body.properties = {
        source,
        provisioningState: 'Succeeded',
        restorePointCollectionId: existing?.body.properties.restorePointCollectionId ?? uuid(),
      };
      const res = newResource(target, RPC, body);
      e.store.put(res);
      e.store.save();
      return { status: existing ? 200 : 201, body: renderRpc(e, res, ctx) };
    },
    async delete(e, ctx, res) {
      for (const rp of e.store.children(res.id, RP)) assertNotBusy(e, rp.id);
      return lroDelete(e, ctx, { res, kind: 'restorePointCollections.delete', ns: NS });
    },
    async purge(e, res) {
      for (const rp of e.store.children(res.id, RP)) await purgeRestorePoint(e, rp);
    },
  };

  const rp: TypeHandler = {
    type: RP,
    tracked: false,
    render: renderRp,
    async put(e, ctx, target) {
      const collection = target.parent!;
      if (target.existing) {
        throw notAllowed(`Restore point '${target.name}' already exists in collection '${collection.body.name}'; restore points cannot be updated.`);
      }
      const creating = e.store.children(collection.id, RP).find((x) => x.body.properties.provisioningState === 'Creating');
      if (creating) {
        throw conflict('Conflict', `Restore point '${creating.body.name}' of collection '${collection.body.name}' is being created; only one restore point can be created at a time.`);
      }
      const props = isObj(ctx.body?.properties) ? ctx.body.properties : {};
      if (props.sourceRestorePoint) {
        throw invalidParameter('Copying restore points across regions (sourceRestorePoint) is not supported by the sandbox.', 'sourceRestorePoint');
      }
      const mode: string = props.consistencyMode ?? 'ApplicationConsistent';
      if (!['CrashConsistent', 'ApplicationConsistent', 'FileSystemConsistent'].includes(mode)) {
        throw invalidParameter(`The value '${mode}' of parameter 'consistencyMode' is not valid.`, 'consistencyMode');
      }
      const vm = e.store.get(collection.body.properties.source.id);
      if (!vm) throw notFoundRef(collection.body.properties.source.id);
      if (vm.body.properties.provisioningState !== 'Succeeded') {
        throw conflict('Conflict', `VM ${vm.id} is not ready (provisioningState ${vm.body.properties.provisioningState}).`);
      }
      const diskIds = vmDiskIds(vm).map(idKey);
      const exclude: string[] = [];
      for (const x of Array.isArray(props.excludeDisks) ? props.excludeDisks : []) {
        if (typeof x?.id !== 'string' || !diskIds.includes(idKey(x.id))) {
          throw invalidParameter(`Disk ${String(x?.id)} in excludeDisks is not attached to VM ${vm.id}.`, 'excludeDisks');
        }
        if (idKey(x.id) === idKey(vm.body.properties.storageProfile.osDisk.managedDisk.id)) {
          throw invalidParameter('The OS disk cannot be excluded from a restore point.', 'excludeDisks');
        }
        exclude.push(e.store.get(x.id)!.id);
      }
      for (const id of vmDiskIds(vm)) {
        if (exclude.some((x) => idKey(x) === idKey(id))) continue;
        const d = e.store.get(id);
        if (d?.internal.sas) throw notAllowed(`Disk ${d.body.name} has an active SAS; restore points cannot include it.`);
      }
      // Source metadata and disk restore point ids are fixed now; content is captured when the operation runs.
      const sp = vm.body.properties.storageProfile;
      const drpId = (diskId: string): string => `${target.id}/diskRestorePoints/${e.store.get(diskId)!.body.name}_${uuid()}`;
      const included = (diskId: string): boolean => !exclude.some((x) => idKey(x) === idKey(diskId));
      const diskMeta = (d: Json, os: boolean): Json => {
        const disk = e.store.get(d.managedDisk.id)!;
        const m: Json = {
          ...(os ? { osType: d.osType } : { lun: d.lun }),
          name: d.name,
          caching: d.caching,
          diskSizeGB: disk.body.properties.diskSizeGB,
          managedDisk: { id: disk.id, storageAccountType: disk.body.sku.name },
          writeAcceleratorEnabled: false,
        };
        if (included(disk.id)) m.diskRestorePoint = { id: drpId(disk.id) };
        return m;
      };
      const body: Json = {
        id: target.id,
        name: target.name,
        type: RP,
        properties: {
          excludeDisks: exclude.map((id) => ref(id)),
          sourceMetadata: {
            vmId: vm.body.properties.vmId,
            location: vm.body.location,
            hardwareProfile: clone(vm.body.properties.hardwareProfile),
            storageProfile: {
              osDisk: diskMeta(sp.osDisk, true),
              dataDisks: (sp.dataDisks as Json[]).map((d) => diskMeta(d, false)),
              diskControllerType: 'SCSI',
            },
            ...(vm.body.properties.osProfile ? { osProfile: clone(vm.body.properties.osProfile) } : {}),
            ...(vm.body.properties.diagnosticsProfile ? { diagnosticsProfile: clone(vm.body.properties.diagnosticsProfile) } : {}),
            ...(vm.body.properties.securityProfile ? { securityProfile: clone(vm.body.properties.securityProfile) } : {}),
            ...(vm.body.zones ? { zones: clone(vm.body.zones) } : {}),
          },
          provisioningState: 'Creating',
          consistencyMode: mode,
          timeCreated: now(),
        },
      };
      const res: StoredResource = { id: target.id, type: RP, resourceGroup: target.rg, body, internal: {} };
      return lroPut(e, ctx, { res: { ...res, body: { ...body, location: vm.body.location } }, created: true, kind: 'restorePoints.put', ns: NS }).then((r) => {
        const stored = e.store.get(res.id);
        if (stored) delete stored.body.location; // restore points are proxy resources (no location)
        if (r.body) delete r.body.location;
        return r;
      });
    },
    async purge(e, res) {
      await purgeRestorePoint(e, res);
    },
    async delete(e, ctx, res) {
      for (const d of e.store.children(res.id, DRP)) {
        if (d.internal.sas) throw notAllowed(`Disk restore point ${d.body.name} has an active SAS. Revoke access before deleting the restore point.`);
      }
      const collection = e.store.get(parentId(res.id)!)!;
      return lroDelete(e, ctx, { res: { ...res, body: { ...res.body, location: collection.body.location } }, kind: 'restorePoints.delete', ns: NS });
    },
  };

  const drp: TypeHandler = {
    type: DRP,
    tracked: false,
    render: (_e, r) => {
      const out = clone(r.body);
      if (r.internal.sas) out.properties.diskRestorePointState = 'ActiveSAS';
      return out;
    },
    actions: {
      begingetaccess: { method: 'POST', run: (e, ctx, res) => grantAccess(e, ctx, withLocation(e, res), 'diskRestorePoints.beginGetAccess') },
      endgetaccess: {
        method: 'POST',
        run: (e, ctx, res) => lroAction(e, ctx, { res: withLocation(e, res), kind: 'diskRestorePoints.endGetAccess', ns: NS }),
      },
    },
  };
  return [rpc, rp, drp];
}

/** Disk restore points have no location of their own: operations use the collection's. */
function withLocation(engine: ArmEngine, drp: StoredResource): StoredResource {
  const rpcId = parentId(parentId(drp.id)!)!;
  const location = engine.store.get(rpcId)?.body.location ?? 'global';
  // Same object identity matters for internal state updates: only body is wrapped.
  return { ...drp, body: { ...drp.body, location } };
}

async function purgeRestorePoint(engine: ArmEngine, rp: StoredResource): Promise<void> {
  for (const d of engine.store.children(rp.id, DRP)) {
    await engine.disks.delete(d.id).catch(() => undefined);
    engine.store.delete(d.id);
  }
}

/** Captures every included disk of the source VM at one instant and records the disk restore points. */
async function createRestorePointContent(engine: ArmEngine, rp: StoredResource): Promise<void> {
  const sm = rp.body.properties.sourceMetadata;
  const disks: Json[] = [sm.storageProfile.osDisk, ...sm.storageProfile.dataDisks].filter((d: Json) => d.diskRestorePoint);
  const pairs = disks.map((d) => {
    const disk = engine.store.get(d.managedDisk.id);
    if (!disk) throw conflict('Conflict', `Disk ${d.managedDisk.id} of the source VM no longer exists.`);
    return { srcId: disk.id, dstId: d.diskRestorePoint.id as string, sizeBytes: sizeBytesOf(disk), disk, meta: d };
  });
  const at = await engine.disks.snapshotTogether(pairs.map(({ srcId, dstId, sizeBytes }) => ({ srcId, dstId, sizeBytes })));
  rp.body.properties.timeCreated = at.toISOString();
  const collection = engine.store.get(parentId(rp.id)!)!;
  for (const p of pairs) {
    // Previous disk restore point of the same disk in this collection: the base of incremental diffs.
    const previous = engine.store
      .children(collection.id, RP)
      .filter((x) => x.id !== rp.id && x.body.properties.provisioningState === 'Succeeded')
      .flatMap((x) => engine.store.children(x.id, DRP))
      .filter((x) => idKey(x.body.properties.sourceResourceId) === idKey(p.srcId))
      .pop();
    const body: Json = {
      id: p.dstId,
      name: p.dstId.split('/').pop(),
      type: DRP,
      properties: {
        timeCreated: at.toISOString(),
        sourceResourceId: p.disk.id,
        sourceUniqueId: p.disk.body.properties.uniqueId,
        familyId: p.disk.body.properties.uniqueId,
        ...(p.disk.body.properties.osType ? { osType: p.disk.body.properties.osType } : {}),
        hyperVGeneration: p.disk.body.properties.hyperVGeneration ?? 'V1',
        supportedCapabilities: { architecture: 'x64' },
        networkAccessPolicy: 'AllowAll',
        publicNetworkAccess: 'Enabled',
        completionPercent: 100,
        logicalSectorSize: 512,
        sourceResourceLocation: p.disk.body.location,
      },
    };
    // Size and lineage are not part of the ARM representation of a disk restore point.
    const internal = { sizeBytes: p.sizeBytes, ...(previous ? { previous: previous.id } : {}) };
    engine.store.put({ id: p.dstId, type: DRP, resourceGroup: rp.resourceGroup, body, internal });
  }
}

// ---------------------------------------------------------------------------- availability sets

function availabilitySetHandler(): TypeHandler {
  const render = (e: ArmEngine, r: StoredResource): Json => {
    const out = clone(r.body);
    const vms = e.store.ofType(VM).filter((v) => idKey(v.body.properties.availabilitySet?.id ?? '') === idKey(r.id));
    out.properties.virtualMachines = vms.map((v) => ref(v.id));
    return out;
  };
  return {
    type: AVSET,
    tracked: true,
    subscriptionList: true,
    render,
    async put(e, ctx, target) {
      const req = ctx.body;
      const props = isObj(req.properties) ? req.properties : {};
      const sku: string = req.sku?.name ?? target.existing?.body.sku?.name ?? 'Classic';
      if (!['Aligned', 'Classic'].includes(sku)) throw invalidParameter(`The value '${sku}' of parameter 'sku.name' is not valid. Valid values are Aligned and Classic.`, 'sku.name');
      const fd = props.platformFaultDomainCount === undefined ? (target.existing?.body.properties.platformFaultDomainCount ?? 2) : Number(props.platformFaultDomainCount);
      const ud = props.platformUpdateDomainCount === undefined ? (target.existing?.body.properties.platformUpdateDomainCount ?? 5) : Number(props.platformUpdateDomainCount);
      if (!Number.isInteger(fd) || fd < 1 || fd > 3) {
        throw invalidParameter(`The specified fault domain count ${String(props.platformFaultDomainCount)} must fall in the range 1 to 3.`, 'platformFaultDomainCount');
      }
      if (!Number.isInteger(ud) || ud < 1 || ud > 20) {
        throw invalidParameter(`The specified update domain count ${String(props.platformUpdateDomainCount)} must fall in the range 1 to 20.`, 'platformUpdateDomainCount');
      }
      if (target.existing) {
        const hasVms = e.store.ofType(VM).some((v) => idKey(v.body.properties.availabilitySet?.id ?? '') === idKey(target.id));
        if (hasVms && (fd !== target.existing.body.properties.platformFaultDomainCount || sku !== target.existing.body.sku.name)) {
          throw notAllowed(`The fault domain count and sku of availability set ${target.name} cannot be changed while it contains virtual machines.`);
        }
      }
      const body = trackedBody(target, AVSET, req);
      body.sku = { name: sku };
      body.properties = { platformFaultDomainCount: fd, platformUpdateDomainCount: ud };
      if (props.proximityPlacementGroup?.id) body.properties.proximityPlacementGroup = ref(props.proximityPlacementGroup.id);
      const res = newResource(target, AVSET, body);
      e.store.put(res);
      e.store.save();
      return { status: 200, body: render(e, res) };
    },
    async delete(e, _ctx, res) {
      const vms = e.store.ofType(VM).filter((v) => idKey(v.body.properties.availabilitySet?.id ?? '') === idKey(res.id));
      if (vms.length) {
        throw notAllowed(`Availability set ${res.body.name} cannot be deleted. Before deleting an availability set please ensure that it does not contain any VM.`);
      }
      e.store.delete(res.id);
      e.store.save();
      return { status: 200 };
    },
  };
}

// ---------------------------------------------------------------------------- registration

export function registerCompute(engine: ArmEngine): void {
  engine.registerType(availabilitySetHandler());
  engine.registerType(diskLikeHandler(DISK));
  engine.registerType(diskLikeHandler(SNAPSHOT));
  engine.registerType(vmHandler());
  for (const h of restorePointHandlers()) engine.registerType(h);

  for (const k of ['disks', 'snapshots']) {
    engine.registerCompleter(
      `${k}.put`,
      putCompleter(async (e, res, op) => {
        if (res.internal.source) await createDiskContent(e, res);
        const resizeTo = (op.params as Json)?.resizeTo;
        if (resizeTo) await e.disks.resize(res.id, resizeTo);
      }),
    );
    engine.registerCompleter(
      `${k}.delete`,
      deleteCompleter(async (e, res) => {
        await e.disks.delete(res.id);
      }),
    );
    engine.registerCompleter(`${k}.beginGetAccess`, grantCompleter);
    engine.registerCompleter(`${k}.endGetAccess`, async (e, op) => revokeCompleter(e, op));
  }
  engine.registerCompleter('diskRestorePoints.beginGetAccess', grantCompleter);
  engine.registerCompleter('diskRestorePoints.endGetAccess', async (e, op) => revokeCompleter(e, op));

  engine.registerCompleter(
    'virtualMachines.put',
    putCompleter(async (e, vm, op) => {
      for (const id of ((op.params as Json)?.createdDisks ?? []) as string[]) {
        const d = e.store.get(id);
        if (!d) continue;
        try {
          if (d.internal.source) await createDiskContent(e, d);
          d.body.properties.provisioningState = 'Succeeded';
        } catch (err) {
          d.body.properties.provisioningState = 'Failed';
          throw err;
        }
      }
      if (vm.internal.powerState === 'starting' || !vm.internal.powerState) vm.internal.powerState = 'running';
      vm.internal.stateTime = now();
    }),
  );
  engine.registerCompleter(
    'virtualMachines.delete',
    deleteCompleter(async (e, vm) => {
      const sp = vm.body.properties.storageProfile;
      const toDelete = [sp.osDisk, ...(sp.dataDisks ?? [])].filter((d: Json) => d?.deleteOption === 'Delete').map((d: Json) => d.managedDisk.id as string);
      const nicsToDelete = (vm.body.properties.networkProfile.networkInterfaces as Json[])
        .filter((n) => n.properties?.deleteOption === 'Delete')
        .map((n) => n.id as string);
      e.store.delete(vm.id); // detaches everything (attachment is computed from VMs)
      for (const id of toDelete) {
        await e.disks.delete(id).catch(() => undefined);
        e.store.delete(id);
      }
      for (const id of nicsToDelete) e.store.delete(id);
    }),
  );
  for (const action of Object.keys(POWER_FINAL)) {
    engine.registerCompleter(`virtualMachines.${action}`, async (e, op) => {
      const vm = e.store.get(op.resourceId);
      if (!vm) throw notFoundRef(op.resourceId);
      vm.internal.powerState = POWER_FINAL[action];
      vm.internal.stateTime = now();
      e.store.save();
    });
  }

  engine.registerCompleter('restorePoints.put', putCompleter(async (e, rp) => createRestorePointContent(e, rp)));
  engine.registerCompleter(
    'restorePoints.delete',
    deleteCompleter(async (e, rp) => purgeRestorePoint(e, rp)),
  );
  engine.registerCompleter(
    'restorePointCollections.delete',
    deleteCompleter(async (e, rpc) => {
      for (const rp of e.store.children(rpc.id, RP)) {
        await purgeRestorePoint(e, rp);
        e.store.delete(rp.id);
      }
    }),
  );
}
