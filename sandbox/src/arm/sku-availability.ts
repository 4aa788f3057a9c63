// Which VM sizes the emulator does not offer where: a test (or `sandbox up`) marks a size unavailable in a
// region, or in some zones of it, and a virtual machine PUT asking for it there is refused the way Compute
// refuses one, before anything is created: code `SkuNotAvailable` with the message Microsoft documents in
// "Resolve errors for SKU not available"
// (learn.microsoft.com/azure/azure-resource-manager/troubleshooting/error-sku-not-available):
//   The requested size for resource '<resource ID>' is currently not available in location '<location>'
//   zones '<zones>' for subscription '<subscription ID>'.
//   Please try another size or deploy to a different location or zones.
// The HTTP status is 409 Conflict, as Azure SDK clients report it (`Status=409 Code="SkuNotAvailable"`).
//
// The same restrictions, and vCPU quotas one can set, are what the emulator's capacity APIs answer
// (providers/compute/capacity.ts): Resource Skus - List, whose ResourceSku lists per size its locations,
// zones, capabilities (vCPUs) and restrictions (type Location or Zone, restrictionInfo, reasonCode
// NotAvailableForSubscription) — Azure/azure-rest-api-specs,
// specification/compute/resource-manager/Microsoft.Compute/Skus/stable/2021-07-01/skus.json — and Usage - List,
// Compute's per-region quotas as {unit: Count, currentValue, limit, name: {value, localizedValue}} —
// .../Microsoft.Compute/ComputeRP/stable/2024-07-01/examples/computeRPCommonExamples/Usage_List_MaximumSet_Gen.json;
// the quota names are those `az vm list-usage` shows (learn.microsoft.com/azure/virtual-machines/quotas):
// `cores` ("Total Regional vCPUs") and one per size family, e.g. `standardDSv3Family`.
import { ArmError } from './errors.ts';

interface Restriction {
  size: string;
  location: string;
  /** Zones where it is not offered; undefined: the whole region. */
  zones?: string[];
}

/** A VM size the emulator describes: its family (the quota it counts against) and vCPUs. */
export interface VmSizeInfo {
  name: string;
  family: string;
  vCPUs: number;
}

/**
 * A size's family and vCPUs from its name, as Azure names them: Standard_D4s_v5 -> standardDSv5Family, 4
 * vCPUs; Standard_B2s -> standardBSFamily, 2 vCPUs.
 */
export function vmSizeInfo(size: string): VmSizeInfo {
  const m = /^(Standard|Basic)_([A-Z]+)(\d+)([a-z]*)(?:_v(\d+))?$/i.exec(size);
  if (!m) return { name: size, family: 'standardFamily', vCPUs: 2 };
  const [, tier, series, cpus, features, version] = m;
  const s = features?.includes('s') ? 'S' : '';
  return { name: size, family: `${tier!.toLowerCase()}${series!.toUpperCase()}${s}${version ? `v${version}` : ''}Family`, vCPUs: Number(cpus) };
}

/** The sizes the emulator lists (any other size is still accepted by a VM PUT). */
export const KNOWN_VM_SIZES = ['Standard_B2s', 'Standard_D2s_v3', 'Standard_D4s_v3', 'Standard_D2s_v5', 'Standard_D4s_v5', 'Standard_D8s_v5', 'Standard_E4s_v5', 'Standard_E8s_v5'];

/** Default vCPU limits per region: total and per family (a new subscription's are of this order). */
const DEFAULT_LIMITS = { cores: 100, family: 100 };

export class SkuAvailability {
  private readonly restrictions: Restriction[] = [];
  /** Quota limits by `location/name` (name: cores or a family). */
  private readonly limits = new Map<string, number>();

  /** Stops offering `size` in `location` (in `zones` only, when given). */
  restrict(size: string, location: string, zones?: string[]): void {
    this.restrictions.push({ size: size.toLowerCase(), location: location.toLowerCase(), ...(zones ? { zones } : {}) });
  }

  /** Offers every size everywhere again, with the default quotas. */
  clear(): void {
    this.restrictions.length = 0;
    this.limits.clear();
  }

  /** Sets the vCPU limit of quota `name` (`cores`, or a family such as `standardDSv5Family`) in `location`. */
  setQuota(location: string, name: string, limit: number): void {
    this.limits.set(`${location.toLowerCase()}/${name.toLowerCase()}`, limit);
  }

  limit(location: string, name: string): number {
    return this.limits.get(`${location.toLowerCase()}/${name.toLowerCase()}`) ?? (name.toLowerCase() === 'cores' ? DEFAULT_LIMITS.cores : DEFAULT_LIMITS.family);
  }

  /** The restrictions of `size` in `location`, as ResourceSku.restrictions shows them. */
  restrictionsOf(size: string, location: string): { type: 'Location' | 'Zone'; zones?: string[] }[] {
    return this.restrictions
      .filter((r) => r.size === size.toLowerCase() && r.location === location.toLowerCase())
      .map((r) => (r.zones ? { type: 'Zone' as const, zones: r.zones } : { type: 'Location' as const }));
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
