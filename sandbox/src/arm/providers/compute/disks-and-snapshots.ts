// The one handler of Microsoft.Compute/disks and Microsoft.Compute/snapshots: both are page blobs with
// the same creation sources, size rules and SAS access; a snapshot cannot be empty, uploaded or resized,
// and may be incremental (one family per source disk).
import type { ArmEngine, TypeHandler } from '../../engine.ts';
import { normLocation } from '../../engine.ts';
import { invalidParameter } from '../../errors.ts';
import { idKey } from '../../paths.ts';
import type { Json, StoredResource } from '../../store.ts';
import { assertNotBusy, clone, deleteCompleter, isObj, lroAction, lroDelete, lroPut, newResource, putCompleter, trackedBody, uuid } from '../common.ts';
import { createDiskContent, resolveCreation } from './disk-creation.ts';
import { grantAccess, grantCompleter, revokeCompleter } from './disk-access.ts';
import { checkedResize } from './disk-resize.ts';
import { diskEncryption } from './disk-encryption-sets.ts';
import { DISK, GiB, NS, SNAPSHOT, diskState, invalidZone, notAllowed, now, propertyChange, skuTier, vmOfDisk } from './shared.ts';

const DISK_SKUS = ['Standard_LRS', 'Premium_LRS', 'StandardSSD_LRS', 'UltraSSD_LRS', 'Premium_ZRS', 'StandardSSD_ZRS', 'PremiumV2_LRS'];
const SNAPSHOT_SKUS = ['Standard_LRS', 'Premium_LRS', 'Standard_ZRS'];

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
          resizeTo = checkedResize(e, existing, props.diskSizeGB);
          body.properties.diskSizeGB = resizeTo / GiB;
          body.properties.diskSizeBytes = resizeTo;
        }
        // A disk's encryption set can be changed (DiskUpdate.encryption); a snapshot keeps its own.
        if (!isSnapshot && isObj(props.encryption)) body.properties.encryption = diskEncryption(e, props, normLocation(existing.body.location));
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
        encryption: isSnapshot ? { type: 'EncryptionAtRestWithPlatformKey' } : diskEncryption(e, props, location),
        networkAccessPolicy: props.networkAccessPolicy ?? 'AllowAll',
        publicNetworkAccess: props.publicNetworkAccess ?? 'Enabled',
      };
      if (props.osType) body.properties.osType = props.osType;
      if (props.hyperVGeneration) body.properties.hyperVGeneration = props.hyperVGeneration;
      // DiskProperties.securityProfile (DiskSecurityProfile: securityType TrustedLaunch | ConfidentialVM_*),
      // specification/compute/resource-manager/Microsoft.Compute/DiskRP/stable/2024-03-02/disk.json.
      if (isObj(props.securityProfile)) body.properties.securityProfile = checkDiskSecurity(props.securityProfile);
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

/** Registers one of the two types and the completers of its long-running operations (`disks.put`, …). */
function registerDiskLike(engine: ArmEngine, type: string): void {
  const k = type === SNAPSHOT ? 'snapshots' : 'disks';
  engine.registerType(diskLikeHandler(type));
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

export const registerDisks = (engine: ArmEngine): void => registerDiskLike(engine, DISK);
export const registerSnapshots = (engine: ArmEngine): void => registerDiskLike(engine, SNAPSHOT);

const DISK_SECURITY_TYPES = [
  'TrustedLaunch',
  'ConfidentialVM_VMGuestStateOnlyEncryptedWithPlatformKey',
  'ConfidentialVM_DiskEncryptedWithPlatformKey',
  'ConfidentialVM_DiskEncryptedWithCustomerKey',
  'ConfidentialVM_NonPersistedTPM',
];

function checkDiskSecurity(sp: Json): Json {
  if (sp.securityType !== undefined && !DISK_SECURITY_TYPES.includes(String(sp.securityType))) {
    throw invalidParameter(`The value '${String(sp.securityType)}' of parameter 'securityProfile.securityType' is invalid.`, 'securityProfile.securityType');
  }
  return clone(sp);
}
