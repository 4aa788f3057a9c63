// Microsoft.Network in the ARM emulator: what the resource types share. Type names, references between
// them (a NIC's subnet, the VM using a NIC: computed, never stored twice) and the addresses a subnet has given out.
import type { ArmEngine, Completer } from '../../engine.ts';
import type { ArmError } from '../../errors.ts';
import { badRequest } from '../../errors.ts';
import { parseCidr } from '../../ipv4.ts';
import type { Cidr } from '../../ipv4.ts';
import { idKey, parentId } from '../../paths.ts';
import type { Json, StoredResource } from '../../store.ts';

export const VNET = 'Microsoft.Network/virtualNetworks';
export const SUBNET = 'Microsoft.Network/virtualNetworks/subnets';
export const NSG = 'Microsoft.Network/networkSecurityGroups';
export const NIC = 'Microsoft.Network/networkInterfaces';
export const PIP = 'Microsoft.Network/publicIPAddresses';
export const LB = 'Microsoft.Network/loadBalancers';
export const ASG = 'Microsoft.Network/applicationSecurityGroups';
export const ROUTE_TABLE = 'Microsoft.Network/routeTables';
export const NS = 'Microsoft.Network';
export const VM = 'Microsoft.Compute/virtualMachines';

export const invalidRef = (refId: string, by: string): ArmError =>
  badRequest(
    'InvalidResourceReference',
    `Resource ${refId} referenced by resource ${by} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.`,
  );

export function subnetCidr(s: Json): Cidr | undefined {
  const p = s?.properties?.addressPrefix ?? s?.properties?.addressPrefixes?.[0];
  return typeof p === 'string' ? parseCidr(p) : undefined;
}

/** All NIC ip configurations in a subnet: [{ nic, ipConfigId, ip }]. */
export function ipConfigsInSubnet(engine: ArmEngine, subnetId: string): { nic: StoredResource; ipConfigId: string; ip: string }[] {
  const out: { nic: StoredResource; ipConfigId: string; ip: string }[] = [];
  const k = idKey(subnetId);
  for (const nic of engine.store.ofType(NIC)) {
    for (const c of nic.body.properties.ipConfigurations ?? []) {
      if (c.properties?.subnet?.id && idKey(c.properties.subnet.id) === k) {
        out.push({ nic, ipConfigId: c.id, ip: c.properties.privateIPAddress });
      }
    }
  }
  return out;
}

/** Finds a subnet (its vnet and body) by id. */
export function findSubnet(engine: ArmEngine, subnetId: string): { vnet: StoredResource; subnet: Json } | undefined {
  const vnetId = parentId(subnetId);
  const vnet = vnetId ? engine.store.get(vnetId) : undefined;
  if (!vnet || vnet.type !== VNET) return undefined;
  const subnet = (vnet.body.properties.subnets as Json[]).find((s) => idKey(s.id) === idKey(subnetId));
  return subnet ? { vnet, subnet } : undefined;
}

export function vmUsingNic(engine: ArmEngine, nicId: string): StoredResource | undefined {
  const k = idKey(nicId);
  return engine.store
    .ofType(VM)
    .find((vm) => (vm.body.properties.networkProfile?.networkInterfaces ?? []).some((n: Json) => idKey(n.id) === k));
}


/** Completer of a deletion that has nothing to clean up but the resource itself. */
export const removeCompleter: Completer = async (e, op) => {
  e.store.delete(op.resourceId);
  e.store.save();
};
