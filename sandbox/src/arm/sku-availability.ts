// Which VM sizes the emulator does not offer where: a test (or `sandbox up`) marks a size unavailable in a
// region, or in some zones of it, and a virtual machine PUT asking for it there is refused the way Compute
// refuses one, before anything is created: code `SkuNotAvailable` with the message Microsoft documents in
// "Resolve errors for SKU not available"
// (learn.microsoft.com/azure/azure-resource-manager/troubleshooting/error-sku-not-available):
//   The requested size for resource '<resource ID>' is currently not available in location '<location>'
//   zones '<zones>' for subscription '<subscription ID>'.
//   Please try another size or deploy to a different location or zones.
// The HTTP status is 409 Conflict, as Azure SDK clients report it (`Status=409 Code="SkuNotAvailable"`).
import { ArmError } from './errors.ts';

interface Restriction {
  size: string;
  location: string;
  /** Zones where it is not offered; undefined: the whole region. */
  zones?: string[];
}

export class SkuAvailability {
  private readonly restrictions: Restriction[] = [];

  /** Stops offering `size` in `location` (in `zones` only, when given). */
  restrict(size: string, location: string, zones?: string[]): void {
    this.restrictions.push({ size: size.toLowerCase(), location: location.toLowerCase(), ...(zones ? { zones } : {}) });
  }

  /** Offers every size everywhere again. */
  clear(): void {
    this.restrictions.length = 0;
  }

  offered(size: string, location: string, zone: string | undefined): boolean {
    return !this.restrictions.some(
      (r) => r.size === size.toLowerCase() && r.location === location.toLowerCase() && (!r.zones || (zone !== undefined && r.zones.includes(zone))),
    );
  }

  /** Throws Compute's SkuNotAvailable when `size` is not offered for a VM `resourceId` there. */
  assertOffered(size: string, location: string, zone: string | undefined, resourceId: string, subscriptionId: string): void {
    if (this.offered(size, location, zone)) return;
    const where = zone ? `location '${location}' zones '${zone}'` : `location '${location}'`;
    throw new ArmError(
      409,
      'SkuNotAvailable',
      `The requested size for resource '${resourceId}' is currently not available in ${where} for subscription '${subscriptionId}'. ` +
        'Please try another size or deploy to a different location or zones.',
    );
  }
}
