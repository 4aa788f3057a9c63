// Microsoft.Network/networkInterfaces: IP configurations in subnets of the NIC's location, private IP
// allocation (static: checked against the subnet's prefix, reserved and used addresses; dynamic: the previous
// address when still free, else the first free one), a MAC address, and the VM using the NIC (computed).
import type { ArmEngine, Target, TypeHandler } from '../../engine.ts';
import { etag, normLocation } from '../../engine.ts';
import { badRequest } from '../../errors.ts';
import { firstFree, hasIp, intToIp, ipToInt, isReserved } from '../../ipv4.ts';
import { idKey } from '../../paths.ts';
import type { Json } from '../../store.ts';
import { clone, isObj, lroDelete, lroPut, newResource, putCompleter, ref, trackedBody, uuid } from '../common.ts';
import { NIC, NS, findSubnet, invalidRef, ipConfigsInSubnet, removeCompleter, subnetCidr, vmUsingNic } from './shared.ts';

function macAddress(engine: ArmEngine): string {
  const n = engine.store.next('mac');
  const hex = n.toString(16).padStart(6, '0').toUpperCase();
  return `00-0D-3A-${hex.slice(0, 2)}-${hex.slice(2, 4)}-${hex.slice(4, 6)}`;
}

function networkInterfaceHandler(): TypeHandler {
  const h: TypeHandler = {
    type: NIC,
    tracked: true,
    subscriptionList: true,
    render(e, r) {
      const out = clone(r.body);
      const vm = vmUsingNic(e, r.id);
      if (vm) {
        out.properties.virtualMachine = ref(vm.id);
        const entry = (vm.body.properties.networkProfile.networkInterfaces as Json[]).find((n) => idKey(n.id) === idKey(r.id));
        out.properties.primary = entry?.properties?.primary ?? (vm.body.properties.networkProfile.networkInterfaces as Json[]).length === 1;
      }
      return out;
    },
    async put(e, ctx, target) {
      const req = ctx.body;
      const props = isObj(req.properties) ? req.properties : {};
      const configs: Json[] = Array.isArray(props.ipConfigurations) ? props.ipConfigurations : [];
      if (configs.length === 0) {
        throw badRequest('NetworkInterfaceMustHaveAtLeastOneIpConfiguration', `Network interface ${target.id} must have one or more IP configurations.`);
      }
      // A NIC's networkSecurityGroup must exist in the NIC's region (NetworkInterfacePropertiesFormat.networkSecurityGroup,
      // specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/networkInterface.json): else InvalidResourceReference.
      const nsg = props.networkSecurityGroup?.id ? e.store.get(props.networkSecurityGroup.id) : undefined;
      if (props.networkSecurityGroup?.id && (!nsg || normLocation(nsg.body.location) !== normLocation(req.location))) {
        throw invalidRef(props.networkSecurityGroup.id, target.id);
      }
      const prevConfigs: Json[] = target.existing?.body.properties.ipConfigurations ?? [];
      const location = normLocation(req.location);
      const claimed = new Map<string, Set<number>>(); // subnet -> addresses taken by this request
      const staticFirst = [...configs.keys()].sort((a, b) => {
        const sa = configs[a]?.properties?.privateIPAllocationMethod === 'Static' ? 0 : 1;
        const sb = configs[b]?.properties?.privateIPAllocationMethod === 'Static' ? 0 : 1;
        return sa - sb;
      });
      const built: Json[] = new Array(configs.length);
      const hasPrimary = configs.some((c) => c?.properties?.primary === true);
      for (const i of staticFirst) {
        built[i] = ipConfiguration(e, target, location, configs[i], i, { prevConfigs, claimed, hasPrimary });
      }
      const body = trackedBody(target, NIC, req);
      body.etag = etag();
      body.properties = {
        provisioningState: 'Updating',
        resourceGuid: target.existing?.body.properties.resourceGuid ?? uuid(),
        ipConfigurations: built,
        dnsSettings: { dnsServers: clone(props.dnsSettings?.dnsServers ?? []), appliedDnsServers: [] },
        macAddress: target.existing?.body.properties.macAddress ?? macAddress(e),
        enableAcceleratedNetworking: Boolean(props.enableAcceleratedNetworking),
        enableIPForwarding: Boolean(props.enableIPForwarding),
        nicType: 'Standard',
      };
      if (props.networkSecurityGroup?.id) body.properties.networkSecurityGroup = ref(props.networkSecurityGroup.id);
      return lroPut(e, ctx, { res: newResource(target, NIC, body), created: !target.existing, kind: 'networkInterfaces.put', ns: NS });
    },
    async delete(e, ctx, res) {
      const vm = vmUsingNic(e, res.id);
      if (vm) {
        throw badRequest(
          'NicInUse',
          `Network Interface ${res.id} is used by existing resource ${vm.id}. In order to delete the network interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic.`,
        );
      }
      return lroDelete(e, ctx, { res, kind: 'networkInterfaces.delete', ns: NS });
    },
  };
  return h;
}

/**
 * One IP configuration `c` (at `index`) of a NIC PUT: its subnet (in the NIC's location) and private address.
 * Static addresses are checked against the subnet's prefix, its reserved range and the addresses in use;
 * a dynamic one keeps the configuration's previous address while free, else takes the first free one.
 * `claimed` holds, per subnet, the addresses earlier configurations of the same request took.
 */
function ipConfiguration(
  e: ArmEngine,
  target: Target,
  location: string,
  c: Json,
  index: number,
  request: { prevConfigs: Json[]; claimed: Map<string, Set<number>>; hasPrimary: boolean },
): Json {
  const { prevConfigs, claimed, hasPrimary } = request;
  const cp = isObj(c?.properties) ? c.properties : {};
  if (typeof c?.name !== 'string' || !c.name) throw badRequest('InvalidRequestFormat', 'IP configuration name is required.');
  const cfgId = `${target.id}/ipConfigurations/${c.name}`;
  const subnetId: unknown = cp.subnet?.id;
  if (typeof subnetId !== 'string') {
    throw badRequest('InvalidRequestFormat', `IP configuration ${cfgId} must reference a subnet.`);
  }
  const found = findSubnet(e, subnetId);
  if (!found || found.vnet.body.location !== location) throw invalidRef(subnetId, target.id);
  const cidr = subnetCidr(found.subnet)!;
  const used = new Set<number>();
  for (const u of ipConfigsInSubnet(e, found.subnet.id)) {
    if (idKey(u.nic.id) === idKey(target.id)) continue;
    const n = ipToInt(u.ip);
    if (n !== undefined) used.add(n);
  }
  const mine = claimed.get(idKey(found.subnet.id)) ?? new Set<number>();
  claimed.set(idKey(found.subnet.id), mine);
  const method = cp.privateIPAllocationMethod === 'Static' ? 'Static' : 'Dynamic';
  let ip: number | undefined;
  if (method === 'Static') {
    ip = typeof cp.privateIPAddress === 'string' ? ipToInt(cp.privateIPAddress) : undefined;
    if (ip === undefined) {
      throw badRequest('PrivateIPAddressInvalid', `Private static IP address ${String(cp.privateIPAddress)} of IP configuration ${cfgId} is invalid.`);
    }
    if (!hasIp(cidr, ip)) {
      throw badRequest(
        'PrivateIPAddressNotInSubnet',
        `IP configuration ${cfgId} references the private IP address ${cp.privateIPAddress} which is not within the address prefix ${found.subnet.properties.addressPrefix} of subnet ${found.subnet.name}.`,
      );
    }
    if (isReserved(cidr, ip)) {
      throw badRequest(
        'PrivateIPAddressIsReserved',
        `IP configuration ${cfgId} references the private IP address ${cp.privateIPAddress} which belongs to the reserved address range of subnet ${found.subnet.name}.`,
      );
    }
    if (used.has(ip) || mine.has(ip)) {
      const holder = ipConfigsInSubnet(e, found.subnet.id).find((u) => u.ip === cp.privateIPAddress);
      throw badRequest(
        'PrivateIPAddressInUse',
        `IP configuration ${cfgId} is using the private IP address ${cp.privateIPAddress} which is already allocated to resource ${holder?.ipConfigId ?? 'another IP configuration'}.`,
      );
    }
  } else {
    const prev = prevConfigs.find((p) => String(p.name).toLowerCase() === c.name.toLowerCase());
    const prevIp = prev && idKey(prev.properties.subnet.id) === idKey(found.subnet.id) ? ipToInt(prev.properties.privateIPAddress) : undefined;
    ip = prevIp !== undefined && !used.has(prevIp) && !mine.has(prevIp) ? prevIp : firstFree(cidr, new Set([...used, ...mine]));
    if (ip === undefined) {
      throw badRequest('SubnetIsFull', `Subnet ${found.subnet.name} with address prefix ${found.subnet.properties.addressPrefix} does not have enough capacity for 1 IP addresses.`);
    }
  }
  mine.add(ip);
  return {
    id: cfgId,
    name: c.name,
    etag: etag(),
    type: `${NIC}/ipConfigurations`,
    properties: {
      provisioningState: 'Succeeded',
      privateIPAddress: intToIp(ip),
      privateIPAllocationMethod: method,
      subnet: ref(found.subnet.id),
      primary: hasPrimary ? cp.primary === true : index === 0,
      privateIPAddressVersion: 'IPv4',
    },
  };
}

export function registerNetworkInterfaces(engine: ArmEngine): void {
  engine.registerType(networkInterfaceHandler());
  engine.registerCompleter('networkInterfaces.put', putCompleter());
  engine.registerCompleter('networkInterfaces.delete', removeCompleter);
}
