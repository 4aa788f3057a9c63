/**
 * CreateNetworkInterfaces: one NIC per source NIC (primary first) in the mapped subnet — the test network
 * for a Test — through the resource contract, keeping the source private IP when it is free (else the
 * next free one, reported), or the address the user named (else the request fails: a promise).
 * A failback reuses the replaced VM's NICs instead (primary with primary): same names, same addresses.
 * status.networkInterfaces reports, per NIC, the address asked for and the one assigned.
 */
import type { FailoverNetworkInterface, NetworkMapping } from '../../../api/types.ts';
import { sameArmId } from '../../../azure/arm-id.ts';
import { convergeResource } from '../../../azure/external-resource.ts';
import { getNetworkInterface, networkInterfaceResource } from '../../../azure/resources/network-interface.ts';
import { done, stalled, waiting, type Step } from '../../../runtime/step.ts';
import { failoverIds, primaryFirst } from '../names.ts';
import type { FailoverPass, ProcedurePass } from '../state.ts';

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
  for (const [index, nic] of primaryFirst(nics).entries()) {
    const override = vm.spec.networkInterfaces?.find((o) => o.sourceName === nic.name);
    const subnetId = subnetFor(pass, mapping, nic.subnetName, override?.targetSubnetName);
    if (!subnetId) return stalled('SubnetNotMapped', `no ${fo.spec.type === 'Test' ? 'test ' : ''}subnet is mapped for source subnet ${nic.subnetName ?? '?'} of ${nic.name}`);
    const requested = override?.targetPrivateIpAddress ?? nic.privateIpAddress;
    const entry = { sourceName: nic.name, targetSubnetId: subnetId, ...(requested ? { requestedPrivateIpAddress: requested } : {}) };
    const reuse = reusable[index] ? await reusableNic(pass, reusable[index], subnetId) : undefined;
    if (reuse) {
      report(pass, entry, reuse.id ?? (reusable[index] as string), reuse.ipConfigurations?.[0]?.privateIPAddress);
      continue;
    }
    const id = ids.nic(nic.name);
    const placement = { location: vm.spec.targetLocation, subnetId, ...(requested ? { privateIpAddress: requested } : {}), requireAddress: Boolean(override?.targetPrivateIpAddress), ...(nic.acceleratedNetworking ? { acceleratedNetworking: true } : {}) };
    const step = await convergeResource(networkInterfaceResource(deps.az, id, pass.owner, placement), pass.resources, () => pass.save());
    if (step.state === 'stalled') return step;
    if (step.state === 'waiting') pending++;
    else report(pass, entry, step.value.id ?? id, step.value.ipConfigurations?.[0]?.privateIPAddress);
  }
  if (pending) return waiting('CreatingNetworkInterfaces', `creating ${pending} network interface(s)`);
  return done(summary(pass.status.networkInterfaces ?? [], reusable));
}

/** Records one NIC in status.networkInterfaces (replacing what an earlier pass recorded of it). */
function report(pass: FailoverPass, entry: FailoverNetworkInterface, networkInterfaceId: string, assigned: string | undefined): void {
  const line = { ...entry, networkInterfaceId, ...(assigned ? { privateIpAddress: assigned } : {}) };
  const list = [...(pass.status.networkInterfaces ?? [])];
  const at = list.findIndex((r) => r.sourceName === entry.sourceName);
  if (at >= 0) list[at] = line;
  else list.push(line);
  pass.status.networkInterfaces = list;
}

function summary(report: readonly FailoverNetworkInterface[], reusable: readonly string[]): string {
  const changed = report.filter((r) => r.requestedPrivateIpAddress && r.requestedPrivateIpAddress !== r.privateIpAddress);
  const reused = reusable.length ? `; reused ${report.filter((r) => reusable.some((id) => r.networkInterfaceId && sameArmId(id, r.networkInterfaceId))).length} of the replaced VM's` : '';
  if (reused) return `${report.length} network interface(s)${reused}${changed.length ? `; ${changed.map((c) => `${c.sourceName} got ${c.privateIpAddress}`).join(', ')}` : ''}`;
  return changed.length ? `kept no address for ${changed.map((c) => `${c.sourceName} (${c.requestedPrivateIpAddress} taken, got ${c.privateIpAddress})`).join(', ')}` : `${report.length} network interface(s); private IPs kept`;
}

/** A NIC of the replaced VM that can serve again: still there, detached, in the subnet wanted. */
async function reusableNic(pass: FailoverPass, nicId: string, subnetId: string) {
  const nic = await getNetworkInterface(pass.deps.az, nicId);
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
