// Microsoft.Compute/availabilitySets: fault and update domain counts, and the VMs in the set (computed from
// the VMs); synchronous PUT and DELETE, as in Azure.
import type { ArmEngine, TypeHandler } from '../../engine.ts';
import { invalidParameter } from '../../errors.ts';
import { idKey } from '../../paths.ts';
import type { Json, StoredResource } from '../../store.ts';
import { clone, isObj, newResource, ref, trackedBody } from '../common.ts';
import { AVSET, VM, notAllowed } from './shared.ts';

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

export function registerAvailabilitySets(engine: ArmEngine): void {
  engine.registerType(availabilitySetHandler());
}
