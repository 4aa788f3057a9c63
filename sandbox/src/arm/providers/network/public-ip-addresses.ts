// Microsoft.Network/publicIPAddresses: a public IPv4 address with its SKU (Basic | Standard, tier Regional) and
// allocation method. Shapes from PublicIPAddress / PublicIPAddressPropertiesFormat / PublicIPAddressSku in
// specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/publicIpAddress.json
// (Azure/azure-rest-api-specs). A Static address is allocated at creation; a Dynamic one only while an IP
// configuration uses it. The IP configuration using an address is computed (properties.ipConfiguration), and
// Azure's refusals are kept: a Standard address must be Static (StandardAndStandardV2SkuPublicIPAddressesMustBeStatic),
// the SKU cannot change on update, and an address in use cannot be deleted (PublicIPAddressCannotBeDeleted,
// "... can not be deleted since it is still allocated to resource <ip configuration>").
import type { ArmEngine, TypeHandler } from '../../engine.ts';
import { etag } from '../../engine.ts';
import { badRequest } from '../../errors.ts';
import { idKey } from '../../paths.ts';
import type { StoredResource } from '../../store.ts';
import { clone, isObj, lroDelete, lroPut, newResource, putCompleter, ref, trackedBody, uuid } from '../common.ts';
import { NIC, NS, PIP, removeCompleter } from './shared.ts';

/** The NIC IP configuration using public IP `pipId`, if one does. */
export function ipConfigurationUsingPublicIp(engine: ArmEngine, pipId: string, except?: string): { nic: StoredResource; ipConfigId: string } | undefined {
  const k = idKey(pipId);
  for (const nic of engine.store.ofType(NIC)) {
    if (except && idKey(nic.id) === idKey(except)) continue;
    for (const c of nic.body.properties.ipConfigurations ?? []) {
      if (c.properties?.publicIPAddress?.id && idKey(c.properties.publicIPAddress.id) === k) return { nic, ipConfigId: c.id };
    }
  }
  return undefined;
}

/** A public address no other resource has (20.<n>.<n>.<n>: the emulator's own range). */
function newAddress(engine: ArmEngine): string {
  const n = engine.store.next('publicIp');
  return `20.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

function publicIpAddressHandler(): TypeHandler {
  return {
    type: PIP,
    tracked: true,
    subscriptionList: true,
    render(e, r) {
      const out = clone(r.body);
      const user = ipConfigurationUsingPublicIp(e, r.id);
      if (user) out.properties.ipConfiguration = ref(user.ipConfigId);
      // A Dynamic address shows only while an IP configuration uses it (its address is reserved at creation).
      if (out.properties.publicIPAllocationMethod === 'Dynamic' && user) out.properties.ipAddress = r.internal.address;
      return out;
    },
    async put(e, ctx, target) {
      const req = ctx.body;
      const props = isObj(req.properties) ? req.properties : {};
      const skuName = req.sku?.name ?? target.existing?.body.sku.name ?? 'Standard';
      if (!['Basic', 'Standard'].includes(skuName)) throw badRequest('InvalidRequestFormat', `Public IP address SKU ${String(skuName)} is not supported.`);
      const previousSku = target.existing?.body.sku.name;
      if (previousSku && previousSku !== skuName) {
        throw badRequest('PublicIPSkuCannotBeChanged', `Sku property is set at creation time and cannot be changed from ${previousSku} to ${skuName} on resource update for resource ${target.id}.`);
      }
      const method = props.publicIPAllocationMethod ?? (skuName === 'Standard' ? 'Static' : 'Dynamic');
      if (method === 'Dynamic' && skuName === 'Standard') {
        throw badRequest('StandardAndStandardV2SkuPublicIPAddressesMustBeStatic', `Standard sku publicIp ${target.id} must have AllocationMethod set to Static.`);
      }
      const body = trackedBody(target, PIP, req);
      body.etag = etag();
      body.sku = { name: skuName, tier: 'Regional' };
      if (Array.isArray(req.zones)) body.zones = clone(req.zones);
      const address: string = target.existing?.internal.address ?? newAddress(e);
      body.properties = {
        provisioningState: 'Updating',
        resourceGuid: target.existing?.body.properties.resourceGuid ?? uuid(),
        publicIPAddressVersion: 'IPv4',
        publicIPAllocationMethod: method,
        idleTimeoutInMinutes: Number.isInteger(props.idleTimeoutInMinutes) ? props.idleTimeoutInMinutes : 4,
        ipTags: [],
        ...(method === 'Static' ? { ipAddress: address } : {}),
      };
      return lroPut(e, ctx, { res: newResource(target, PIP, body, { address }), created: !target.existing, kind: 'publicIPAddresses.put', ns: NS });
    },
    async delete(e, ctx, res) {
      const user = ipConfigurationUsingPublicIp(e, res.id);
      if (user) {
        throw badRequest(
          'PublicIPAddressCannotBeDeleted',
          `Public IP address ${res.id} can not be deleted since it is still allocated to resource ${user.ipConfigId}. In order to delete the public IP, disassociate/detach the Public IP address from the resource.  To learn how to do this, see aka.ms/deletepublicip.`,
        );
      }
      return lroDelete(e, ctx, { res, kind: 'publicIPAddresses.delete', ns: NS });
    },
  };
}

export function registerPublicIpAddresses(engine: ArmEngine): void {
  engine.registerType(publicIpAddressHandler());
  engine.registerCompleter('publicIPAddresses.put', putCompleter());
  engine.registerCompleter('publicIPAddresses.delete', removeCompleter);
}
