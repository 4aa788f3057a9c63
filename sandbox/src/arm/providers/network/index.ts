// Microsoft.Network in the ARM emulator: virtualNetworks (+ subnets child resources), networkSecurityGroups,
// networkInterfaces (private IP allocation: static with conflict detection, dynamic = first free address of
// the subnet), publicIPAddresses, loadBalancers (backend pools whose members are NIC IP configurations),
// applicationSecurityGroups, routeTables (user-defined routes a subnet is associated with), one file each.
import type { ArmEngine } from '../../engine.ts';
import { registerApplicationSecurityGroups } from './application-security-groups.ts';
import { registerLoadBalancers } from './load-balancers.ts';
import { registerNetworkInterfaces } from './network-interfaces.ts';
import { registerNetworkSecurityGroups } from './network-security-groups.ts';
import { registerPublicIpAddresses } from './public-ip-addresses.ts';
import { registerRouteTables } from './route-tables.ts';
import { registerSubnets } from './subnets.ts';
import { registerVirtualNetworks } from './virtual-networks.ts';

export function registerNetwork(engine: ArmEngine): void {
  registerVirtualNetworks(engine);
  registerSubnets(engine);
  registerNetworkSecurityGroups(engine);
  registerRouteTables(engine);
  registerPublicIpAddresses(engine);
  registerLoadBalancers(engine);
  registerApplicationSecurityGroups(engine);
  registerNetworkInterfaces(engine);
}
