/**
 * The public IP addresses of one failed-over NIC, made in the CreateNetworkInterfaces step before the NIC
 * that uses them (ASR's default): each IP configuration whose source has a public IP address gets a new
 * Standard static address in the target resource group, zonal in the target VM's zone when it has one
 * (`<nic>-<configuration>-pip-asr`, or `-test-<hash>`
 * for a Test, removed by its cleanup after the NIC), through the resource contract. spec.networkInterfaces
 * turns that off for a NIC (`publicIpAddresses: None`) or names an existing address for its primary
 * configuration (checked when replication was enabled; the operator never deletes it).
 */
import type { NetworkInterfaceOverride, SourceIpConfiguration } from '../../../api/types.ts';
import { convergeResource } from '../../../azure/external-resource.ts';
import { getPublicIpAddress, publicIpAddressResource } from '../../../azure/resources/public-ip-address.ts';
import { stalled, type Step } from '../../../runtime/step.ts';
import { targetPlacement } from '../names.ts';
import type { ProcedurePass } from '../state.ts';

export interface NicPublicIps {
  /** Addresses still being created: the NIC waits for them. */
  pending: number;
  /** Per IP configuration name: the address it gets, and the IPv4 address when known. */
  byConfiguration: Map<string, { publicIpAddressId: string; ipAddress?: string }>;
  /** An address that cannot be made (a person must act). */
  stalled?: Extract<Step, { state: 'stalled' }>;
}

/** Converges the public IP addresses of source NIC `nicName`'s configurations (primary first). */
export async function publicIpAddressesOf(
  pass: ProcedurePass,
  nicName: string,
  configs: readonly SourceIpConfiguration[],
  override: NetworkInterfaceOverride | undefined,
  idOf: (configName: string) => string,
): Promise<NicPublicIps> {
  const result: NicPublicIps = { pending: 0, byConfiguration: new Map() };
  for (const [at, config] of configs.entries()) {
    if (at === 0 && override?.targetPublicIpAddressId) {
      const named = await getPublicIpAddress(pass.deps.az.forResource(override.targetPublicIpAddressId), override.targetPublicIpAddressId);
      result.byConfiguration.set(config.name, { publicIpAddressId: override.targetPublicIpAddressId, ...(named?.ipAddress ? { ipAddress: named.ipAddress } : {}) });
      continue;
    }
    if (!config.publicIpAddressId || override?.publicIpAddresses === 'None') continue;
    const id = idOf(config.name);
    const zone = targetPlacement(pass.vm).zone;
    const step = await convergeResource(publicIpAddressResource(pass.deps.az.forResource(id), id, pass.owner, pass.vm.spec.targetLocation, zone), pass.resources, () => pass.save());
    if (step.state === 'stalled') return { ...result, stalled: stalled(step.reason, `public IP address ${id} for ${nicName}/${config.name}: ${step.message}`) };
    if (step.state === 'waiting') result.pending++;
    else result.byConfiguration.set(config.name, { publicIpAddressId: step.value.id ?? id, ...(step.value.ipAddress ? { ipAddress: step.value.ipAddress } : {}) });
  }
  return result;
}
