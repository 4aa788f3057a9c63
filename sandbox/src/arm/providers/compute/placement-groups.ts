// Microsoft.Compute/proximityPlacementGroups and capacityReservationGroups: where a VM is placed and whose
// reserved capacity it uses, with the VMs using each computed (ProximityPlacementGroupProperties.virtualMachines,
// CapacityReservationGroupProperties.virtualMachinesAssociated); synchronous PUT and DELETE, as in Azure.
// Shapes from proximityPlacementGroup.json and capacityReservation.json (with
// examples/capacityReservationExamples/CapacityReservationGroup_CreateOrUpdate.json) in
// specification/compute/resource-manager/Microsoft.Compute/ComputeRP/stable/2024-07-01 (Azure/azure-rest-api-specs);
// a VM names them as properties.proximityPlacementGroup and properties.capacityReservation.capacityReservationGroup
// (virtualMachine.json). No capacity is counted: a group is a reference the VM must resolve in its region.
import type { ArmEngine, TypeHandler } from '../../engine.ts';
import { normLocation } from '../../engine.ts';
import { invalidParameter } from '../../errors.ts';
import { idKey } from '../../paths.ts';
import type { Json, StoredResource } from '../../store.ts';
import { clone, isObj, newResource, ref, trackedBody } from '../common.ts';
import { VM, notAllowed, notFoundRef } from './shared.ts';

export const PPG = 'Microsoft.Compute/proximityPlacementGroups';
export const CRG = 'Microsoft.Compute/capacityReservationGroups';

const ppgOf = (vm: StoredResource): string => vm.body.properties.proximityPlacementGroup?.id ?? '';
const crgOf = (vm: StoredResource): string => vm.body.properties.capacityReservation?.capacityReservationGroup?.id ?? '';

function groupHandler(type: string, usersField: string, usedBy: (vm: StoredResource) => string): TypeHandler {
  const users = (e: ArmEngine, id: string) => e.store.ofType(VM).filter((v) => idKey(usedBy(v)) === idKey(id));
  const render = (e: ArmEngine, r: StoredResource): Json => {
    const out = clone(r.body);
    const vms = users(e, r.id);
    if (vms.length) out.properties[usersField] = vms.map((v) => ref(v.id));
    return out;
  };
  return {
    type,
    tracked: true,
    subscriptionList: true,
    render,
    async put(e, ctx, target) {
      const req = ctx.body;
      const props = isObj(req.properties) ? req.properties : {};
      const body = trackedBody(target, type, req);
      if (Array.isArray(req.zones)) body.zones = req.zones.map(String);
      body.properties = type === PPG ? { proximityPlacementGroupType: props.proximityPlacementGroupType ?? 'Standard' } : { ...(props.sharingProfile ? { sharingProfile: clone(props.sharingProfile) } : {}) };
      const res = newResource(target, type, body);
      e.store.put(res);
      e.store.save();
      return { status: target.existing ? 200 : 201, body: render(e, res) };
    },
    async delete(e, _ctx, res) {
      if (users(e, res.id).length) throw notAllowed(`${res.body.name} cannot be deleted while virtual machines use it.`);
      e.store.delete(res.id);
      e.store.save();
      return { status: 200 };
    },
  };
}

/** The VM's proximity placement group and capacity reservation group, each checked to exist in the VM's region. */
export function placementProperties(e: ArmEngine, props: Json, location: string): Json {
  const out: Json = {};
  const check = (id: unknown, type: string, field: string) => {
    const group = typeof id === 'string' ? e.store.get(id) : undefined;
    if (!group || group.type !== type) throw notFoundRef(String(id));
    if (normLocation(group.body.location) !== location) throw invalidParameter(`${group.id} is in location '${group.body.location}', the VM in '${location}'.`, field);
    return group.id;
  };
  if (props.proximityPlacementGroup?.id !== undefined) out.proximityPlacementGroup = ref(check(props.proximityPlacementGroup.id, PPG, 'proximityPlacementGroup.id'));
  const crg: unknown = props.capacityReservation?.capacityReservationGroup?.id;
  if (crg !== undefined) out.capacityReservation = { capacityReservationGroup: ref(check(crg, CRG, 'capacityReservation.capacityReservationGroup.id')) };
  return out;
}

export function registerPlacementGroups(engine: ArmEngine): void {
  engine.registerType(groupHandler(PPG, 'virtualMachines', ppgOf));
  engine.registerType(groupHandler(CRG, 'virtualMachinesAssociated', crgOf));
}
