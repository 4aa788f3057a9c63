// Microsoft.Compute/virtualMachines: a VM is its storage profile (managed disks, the OS disk first), its
// network interfaces and a power state; PUT creates the disks it names with createOption FromImage or Empty
// (in the VM's zone) and validates everything else first (vm-plan.ts). Power actions are long-running
// operations through a transitional state (starting, stopping, deallocating). Deleting a VM deletes the
// disks and NICs whose deleteOption says Delete.
import type { ArmEngine, Reply, RequestContext, Target, TypeHandler } from '../../engine.ts';
import { normLocation } from '../../engine.ts';
import { conflict, invalidParameter } from '../../errors.ts';
import type { Json, StoredResource } from '../../store.ts';
import { assertNotBusy, clone, deleteCompleter, isObj, lroAction, lroDelete, lroPut, putCompleter, ref, trackedBody, uuid } from '../common.ts';
import { createDiskContent } from './disk-creation.ts';
import { registerRunCommand, runCommand } from './run-command.ts';
import { DISK, GiB, NS, VM, invalidZone, notAllowed, notFoundRef, now, propertyChange, skuTier, vmDiskIds } from './shared.ts';
import { assertSizeOffered, shapeProperties, trustedLaunch, vmIdentity, vmHyperVGeneration } from './vm-shape.ts';
import { placementProperties } from './placement-groups.ts';
import { checkAvailabilitySet, checkNetworkInterfaces, planStorage, type PlannedDisk, type StoragePlan } from './vm-plan.ts';

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
    hyperVGeneration: vmHyperVGeneration(engine, vm.body),
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
      if (!existing || existing.body.properties.hardwareProfile.vmSize !== vmSize) assertSizeOffered(e, vmSize, location, zones, target.id);
      const identity = vmIdentity(req, existing?.body.identity);
      const asId = checkAvailabilitySet(e, props, location, zones, existing);
      const kept = existing?.body.properties ?? {};
      const placement = {
        ...(kept.proximityPlacementGroup ? { proximityPlacementGroup: kept.proximityPlacementGroup } : {}),
        ...(kept.capacityReservation ? { capacityReservation: kept.capacityReservation } : {}),
        ...placementProperties(e, props, location),
      };
      const nics = checkNetworkInterfaces(e, props, location, target);
      const sp = isObj(props.storageProfile) ? props.storageProfile : {};
      const plan = planStorage(e, target, location, zones, props, sp, existing);

      // Everything validated: create the new managed disks (Creating) and the VM.
      const createdDisks: string[] = [];
      for (const p of [plan.osPlan, ...plan.dataPlans.map((x) => x.plan)]) {
        if (p.create) createdDisks.push(createPlannedDisk(e, target, location, zones, p, p === plan.osPlan && trustedLaunch(props)));
      }
      const body = trackedBody(target, VM, req);
      if (zones) body.zones = zones;
      if (identity) body.identity = identity;
      const osProfile = isObj(props.osProfile) ? clone(props.osProfile) : existing?.body.properties.osProfile;
      if (osProfile) delete osProfile.adminPassword;
      body.properties = {
        vmId: existing?.body.properties.vmId ?? uuid(),
        hardwareProfile: { vmSize },
        storageProfile: vmStorageProfile(e, sp, plan, existing),
        ...(osProfile ? { osProfile } : {}),
        networkProfile: {
          networkInterfaces: nics.map((n) => ({
            id: e.store.get(n.id)!.id,
            ...(n.properties ? { properties: clone(n.properties) } : {}),
          })),
        },
        ...(asId ? { availabilitySet: ref(e.store.get(asId)!.id) } : {}),
        ...placement,
        ...shapeProperties(props, existing?.body.properties),
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
      runcommand: { method: 'POST', run: (e, ctx, res) => runCommand(e, ctx, res) },
    },
  };
  return h;
}

/** Stores a managed disk the VM PUT creates (Creating; its content is written when the operation completes); returns its id. */
function createPlannedDisk(e: ArmEngine, target: Target, location: string, zones: string[] | undefined, plan: PlannedDisk, trustedOs: boolean): string {
  const c = plan.create!;
  const body: Json = {
    id: plan.id,
    name: c.name,
    type: DISK,
    location,
    ...(zones ? { zones } : {}),
    sku: { name: c.sku, tier: skuTier(c.sku) },
    properties: {
      ...(c.osType ? { osType: c.osType } : {}),
      // The OS disk of a Trusted Launch VM is Gen2 and carries the VM's security type (vm-shape.ts).
      hyperVGeneration: trustedOs ? 'V2' : 'V1',
      ...(trustedOs ? { securityProfile: { securityType: 'TrustedLaunch' } } : {}),
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
  return plan.id;
}

/** The stored storage profile: the OS disk, then data disks by LUN, with the disks' current names, SKUs and sizes. */
function vmStorageProfile(e: ArmEngine, sp: Json, plan: StoragePlan, existing: StoredResource | undefined): Json {
  const { osPlan, prevOs, dataPlans } = plan;
  const osDisk = e.store.get(osPlan.id)!;
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
  return storageProfile;
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

/** Registers the VM type and the completers of its long-running operations. */
export function registerVirtualMachines(engine: ArmEngine): void {
  engine.registerType(vmHandler());
  registerRunCommand(engine);
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
}
