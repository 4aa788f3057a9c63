/**
 * Public IP addresses at enable time. A failover gives each IP configuration whose source has a public IP
 * address a new one (failover/steps/public-ip-addresses.ts), unless spec.networkInterfaces says `None` or names
 * an existing address in the target region for the NIC's primary configuration. A named address is checked
 * here, before anything is created: it must exist and be in the target region (else Stalled,
 * PublicIpAddressNotUsable), so a failover does not find out when the source region may be gone.
 */
import { getPublicIpAddress } from '../../azure/resources/public-ip-address.ts';
import type { VmPass } from './pass.ts';

export const PUBLIC_IP_NOT_USABLE = 'PublicIpAddressNotUsable';

const sameLocation = (a: string | undefined, b: string) => (a ?? '').replace(/\s/g, '').toLowerCase() === b.replace(/\s/g, '').toLowerCase();

/** Why a public IP address the spec names cannot be used, if one cannot. */
export async function publicIpAddressRefusal(pass: VmPass): Promise<{ reason: string; message: string } | undefined> {
  const { vm } = pass;
  for (const o of vm.spec.networkInterfaces ?? []) {
    if (!o.targetPublicIpAddressId) continue;
    const address = await getPublicIpAddress(pass.deps.az.forResource(o.targetPublicIpAddressId), o.targetPublicIpAddressId);
    if (!address) return { reason: PUBLIC_IP_NOT_USABLE, message: `public IP address ${o.targetPublicIpAddressId} named for network interface ${o.sourceName} does not exist` };
    if (!sameLocation(address.location, vm.spec.targetLocation)) {
      return { reason: PUBLIC_IP_NOT_USABLE, message: `public IP address ${o.targetPublicIpAddressId} named for network interface ${o.sourceName} is in ${address.location}, not in the target region ${vm.spec.targetLocation}` };
    }
  }
  return undefined;
}
