// Microsoft.Compute/restorePointCollections/restorePoints: every included disk of the source VM captured
// at one instant (one at a time per VM, at most 500 per VM: restore-point-limits.ts), recorded as disk
// restore points; a proxy resource without a location of its own.
import type { ArmEngine, RequestContext, TypeHandler } from '../../engine.ts';
import { conflict, invalidParameter } from '../../errors.ts';
import { idKey, parentId } from '../../paths.ts';
import type { Json, StoredResource } from '../../store.ts';
import { clone, deleteCompleter, isObj, lroDelete, lroPut, putCompleter, ref, uuid } from '../common.ts';
import { checkRestorePointLimits } from './restore-point-limits.ts';
import { DRP, NS, RP, notAllowed, notFoundRef, now, sizeBytesOf, vmDiskIds } from './shared.ts';

export function renderRp(engine: ArmEngine, r: StoredResource, ctx?: RequestContext): Json {
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

function restorePointHandler(): TypeHandler {
  return {
    type: RP,
    tracked: false,
    render: renderRp,
    async put(e, ctx, target) {
      const collection = target.parent!;
      if (target.existing) {
        throw notAllowed(`Restore point '${target.name}' already exists in collection '${collection.body.name}'; restore points cannot be updated.`);
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
      checkRestorePointLimits(e, vm, target.name);
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
}

export async function purgeRestorePoint(engine: ArmEngine, rp: StoredResource): Promise<void> {
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

/** Registers restore points and the completers that capture and delete their content. */
export function registerRestorePoints(engine: ArmEngine): void {
  engine.registerType(restorePointHandler());
  engine.registerCompleter('restorePoints.put', putCompleter(async (e, rp) => createRestorePointContent(e, rp)));
  engine.registerCompleter(
    'restorePoints.delete',
    deleteCompleter(async (e, rp) => purgeRestorePoint(e, rp)),
  );
}
