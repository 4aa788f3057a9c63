/**
 * CreateNetworkInterfaces: one NIC per source NIC (primary first) with every IP configuration of it
 * (primary first), each in the mapped subnet — the test network for a Test — through the resource
 * contract, keeping each source private IP when it is free (else the next free one, reported), or the
 * primary address the user named (else the request fails: a promise). A NIC whose source has a network
 * security group gets the one the registration recorded for it (the mirror in the target resource group,
 * or the group spec.networkInterfaces names), and each IP configuration whose source has a public IP address
 * a new one in the target resource group, or none, or the one spec.networkInterfaces names (public-ip-addresses.ts);
 * a Planned or Unplanned failover puts each configuration into the target load balancer pools
 * spec.loadBalancerMappings gives its source pools, and the application security groups
 * spec.applicationSecurityGroupMappings gives (a Test's NICs, in the isolated test network, join neither).
 * A failback reuses the replaced VM's NICs instead (primary with primary): same names, same addresses.
 * status.networkInterfaces reports, per NIC, the address asked for and the one assigned.
 */
import type { NetworkInterface } from '@azure/arm-network';
import type { FailoverNetworkInterface, NetworkInterfaceOverride, NetworkMapping, SourceIpConfiguration, SourceNetworkInterface } from '../../../api/types.ts';
import { sameArmId } from '../../../azure/arm-id.ts';
import { convergeResource } from '../../../azure/external-resource.ts';
import { getNetworkInterface, networkInterfaceResource, type NicIpConfiguration, type NicPlacement } from '../../../azure/resources/network-interface.ts';
import { done, soonest, stalled, waiting, type Step } from '../../../runtime/step.ts';
import { failoverIds, primaryFirst } from '../names.ts';
import type { FailoverPass, ProcedurePass } from '../state.ts';
import { publicIpAddressesOf, type NicPublicIps } from './public-ip-addresses.ts';
import {
  APPLICATION_SECURITY_GROUP_NOT_MAPPED,
  LOAD_BALANCER_NOT_MAPPED,
  targetApplicationSecurityGroup,
  targetPool,
  unmappedGroupMessage,
  unmappedPoolMessage,
} from '../../load-balancer-mapping.ts';

export async function createNetworkInterfaces(pass: ProcedurePass): Promise<Step> {
  const { deps, fo, vm } = pass;
  const mapping = await deps.mappings.get({ namespace: pass.namespace, name: vm.spec.networkMappingRef.name });
  if (!mapping?.status?.subnetMappings) return stalled('NetworkMappingNotReady', `NetworkMapping ${vm.spec.networkMappingRef.name} has no resolved subnet mapping`);
  const nics = vm.status?.sourceNetworkInterfaces ?? [];
  if (nics.length === 0) return stalled('NoNetworkInterfaces', 'the source VM recorded no network interfaces');
  const ids = failoverIds(fo, vm);
  // A failback reuses the replaced VM's NICs (primary with primary), keeping their names and addresses.
  const reusable = fo.spec.type === 'Test' ? [] : (pass.status.replacedVirtualMachine?.networkInterfaceIds ?? []);
  let pending = 0;
  let again: number | undefined;
  for (const [index, nic] of primaryFirst(nics).entries()) {
    const override = vm.spec.networkInterfaces?.find((o) => o.sourceName === nic.name);
    const configs = targetConfigurations(pass, mapping, nic, override);
    if (!Array.isArray(configs)) return configs;
    const primary = configs[0] as NicIpConfiguration;
    const entry = { sourceName: nic.name, targetSubnetId: primary.subnetId, ...(primary.privateIpAddress ? { requestedPrivateIpAddress: primary.privateIpAddress } : {}) };
    const reuse = reusable[index] ? await reusableNic(pass, reusable[index], primary.subnetId) : undefined;
    if (reuse) {
      report(pass, entry, reuse.id ?? (reusable[index] as string), reuse);
      continue;
    }
    const publicIps = await publicIpAddressesOf(pass, nic.name, ipConfigurationsOf(nic), override, (config) => ids.publicIp(nic.name, config));
    if (publicIps.stalled) return publicIps.stalled;
    if (publicIps.pending) {
      pending++;
      continue;
    }
    const id = ids.nic(nic.name);
    const placement: NicPlacement = {
      location: vm.spec.targetLocation,
      ipConfigurations: configs.map((c) => ({ ...c, ...(publicIps.byConfiguration.get(c.name) ? { publicIpAddressId: publicIps.byConfiguration.get(c.name)?.publicIpAddressId } : {}) })),
      requireAddress: Boolean(override?.targetPrivateIpAddress),
      ...(nic.acceleratedNetworking ? { acceleratedNetworking: true } : {}),
      ...(nic.targetNetworkSecurityGroupId ? { networkSecurityGroupId: nic.targetNetworkSecurityGroupId } : {}),
    };
    const step = await convergeResource(networkInterfaceResource(deps.az.forResource(id), id, pass.owner, placement), pass.resources, () => pass.save());
    if (step.state === 'stalled') return step;
    if (step.state === 'waiting') {
      pending++;
      again = soonest(again, step.requeueAfterMs);
    } else report(pass, { ...entry, requested: configs, publicIps: publicIps.byConfiguration }, step.value.id ?? id, step.value);
  }
  if (pending) return waiting('CreatingNetworkInterfaces', `creating ${pending} network interface(s)`, again);
  return done(summary(pass.status.networkInterfaces ?? [], reusable));
}

/** The IP configurations of the target NIC of `nic` (primary first): subnet, address asked for, load balancer pools, application security groups. */
function targetConfigurations(pass: ProcedurePass, mapping: NetworkMapping, nic: SourceNetworkInterface, override: NetworkInterfaceOverride | undefined): NicIpConfiguration[] | Step {
  const { fo, vm } = pass;
  const configs: NicIpConfiguration[] = [];
  for (const [at, config] of ipConfigurationsOf(nic).entries()) {
    const subnetId = subnetFor(pass, mapping, config.subnetName, override?.targetSubnetName);
    if (!subnetId) return stalled('SubnetNotMapped', `no ${fo.spec.type === 'Test' ? 'test ' : ''}subnet is mapped for source subnet ${config.subnetName ?? '?'} of ${nic.name} (${config.name})`);
    const requested = (at === 0 ? override?.targetPrivateIpAddress : undefined) ?? config.privateIpAddress;
    // A Test's NICs are in the isolated test network: they join no pool of the target load balancer.
    const poolIds: string[] = [];
    for (const sourcePool of fo.spec.type === 'Test' ? [] : (config.loadBalancerBackendAddressPoolIds ?? [])) {
      const target = targetPool(vm.spec.loadBalancerMappings, sourcePool);
      if ('unmapped' in target) return stalled(LOAD_BALANCER_NOT_MAPPED, unmappedPoolMessage(nic.name, config.name, sourcePool));
      poolIds.push(target.poolId);
    }
    // An application security group's members share one virtual network: a Test's NICs join none either.
    const groupIds: string[] = [];
    for (const sourceGroup of fo.spec.type === 'Test' ? [] : (config.applicationSecurityGroupIds ?? [])) {
      const target = targetApplicationSecurityGroup(vm.spec.applicationSecurityGroupMappings, sourceGroup);
      if (!target) return stalled(APPLICATION_SECURITY_GROUP_NOT_MAPPED, unmappedGroupMessage(nic.name, config.name, sourceGroup));
      groupIds.push(target);
    }
    configs.push({
      name: config.name,
      subnetId,
      ...(requested ? { privateIpAddress: requested } : {}),
      ...(poolIds.length ? { loadBalancerBackendAddressPoolIds: poolIds } : {}),
      ...(groupIds.length ? { applicationSecurityGroupIds: groupIds } : {}),
    });
  }
  return configs;
}

/** The IP configurations of a recorded NIC, primary first (a registration older than them: the primary one). */
function ipConfigurationsOf(nic: SourceNetworkInterface): SourceIpConfiguration[] {
  if (nic.ipConfigurations?.length) return nic.ipConfigurations;
  return [{ name: 'ipconfig1', primary: true, ...(nic.subnetName ? { subnetName: nic.subnetName } : {}), ...(nic.privateIpAddress ? { privateIpAddress: nic.privateIpAddress } : {}) }];
}

/** Records one NIC in status.networkInterfaces (replacing what an earlier pass recorded of it), with each IP configuration asked for and assigned. */
function report(pass: FailoverPass, request: FailoverNetworkInterface & { requested?: NicIpConfiguration[]; publicIps?: NicPublicIps['byConfiguration'] }, networkInterfaceId: string, nic: NetworkInterface): void {
  const { requested, publicIps, ...entry } = request;
  const publicIpAddresses = [...(publicIps ?? new Map()).entries()].map(([ipConfiguration, address]) => ({ ipConfiguration, ...address }));
  const assigned = nic.ipConfigurations ?? [];
  const primaryAddress = (assigned.find((c) => c.primary) ?? assigned[0])?.privateIPAddress;
  const ipConfigurations = (requested ?? []).map((c) => {
    const address = assigned.find((a) => a.name === c.name)?.privateIPAddress;
    return { name: c.name, ...(c.privateIpAddress ? { requestedPrivateIpAddress: c.privateIpAddress } : {}), ...(address ? { privateIpAddress: address } : {}) };
  });
  const line = {
    ...entry,
    networkInterfaceId,
    ...(primaryAddress ? { privateIpAddress: primaryAddress } : {}),
    ...(nic.networkSecurityGroup?.id ? { networkSecurityGroupId: nic.networkSecurityGroup.id } : {}),
    ...(ipConfigurations.length > 1 ? { ipConfigurations } : {}),
    ...(publicIpAddresses.length ? { publicIpAddresses } : {}),
  };
  const list = [...(pass.status.networkInterfaces ?? [])];
  const at = list.findIndex((r) => r.sourceName === entry.sourceName);
  if (at >= 0) list[at] = line;
  else list.push(line);
  pass.status.networkInterfaces = list;
}

function summary(report: readonly FailoverNetworkInterface[], reusable: readonly string[]): string {
  // Each NIC's primary address, then its secondary IP configurations' (named <nic>/<configuration>).
  const addresses = report.flatMap((r) => [
    { what: r.sourceName, requested: r.requestedPrivateIpAddress, got: r.privateIpAddress },
    ...(r.ipConfigurations ?? []).slice(1).map((c) => ({ what: `${r.sourceName}/${c.name}`, requested: c.requestedPrivateIpAddress, got: c.privateIpAddress })),
  ]);
  const changed = addresses.filter((a) => a.requested && a.requested !== a.got);
  const reused = reusable.length ? `; reused ${report.filter((r) => reusable.some((id) => r.networkInterfaceId && sameArmId(id, r.networkInterfaceId))).length} of the replaced VM's` : '';
  if (reused) return `${report.length} network interface(s)${reused}${changed.length ? `; ${changed.map((c) => `${c.what} got ${c.got}`).join(', ')}` : ''}`;
  return changed.length ? `kept no address for ${changed.map((c) => `${c.what} (${c.requested} taken, got ${c.got})`).join(', ')}` : `${report.length} network interface(s); private IPs kept`;
}

/** A NIC of the replaced VM that can serve again: still there, detached, in the subnet wanted. */
async function reusableNic(pass: FailoverPass, nicId: string, subnetId: string) {
  const nic = await getNetworkInterface(pass.deps.az.forResource(nicId), nicId);
  const subnet = nic?.ipConfigurations?.[0]?.subnet?.id;
  if (!nic || nic.virtualMachine?.id || !subnet || !sameArmId(subnet, subnetId)) return undefined;
  return nic;
}

/** The target subnet of a source NIC: the test network for a Test, else the mapped target network. */
function subnetFor({ fo }: FailoverPass, mapping: NetworkMapping, sourceSubnet: string | undefined, overrideName: string | undefined): string | undefined {
  const entry = mapping.status?.subnetMappings?.find((m) => m.source === sourceSubnet);
  const targetName = overrideName ?? entry?.target ?? sourceSubnet;
  if (fo.spec.type === 'Test') {
    if (fo.spec.testVirtualNetworkId) return `${fo.spec.testVirtualNetworkId}/subnets/${targetName}`;
    if (!overrideName && entry?.testSubnetId) return entry.testSubnetId;
    return mapping.status?.testVirtualNetworkId ? `${mapping.status.testVirtualNetworkId}/subnets/${targetName}` : undefined;
  }
  if (!overrideName && entry?.targetSubnetId) return entry.targetSubnetId;
  return mapping.status?.targetVirtualNetworkId ? `${mapping.status.targetVirtualNetworkId}/subnets/${targetName}` : undefined;
}
