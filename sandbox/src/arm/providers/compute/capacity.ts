// Microsoft.Compute's capacity APIs in the ARM emulator, answered from the restrictions and quotas a test
// sets on engine.skus (../../sku-availability.ts, where the REST shapes are cited):
//   GET /subscriptions/{s}/providers/Microsoft.Compute/skus[?$filter=location eq '{loc}']   Resource Skus - List
//   GET /subscriptions/{s}/providers/Microsoft.Compute/locations/{loc}/usages               Usage - List
// Every region offers the known sizes in zones 1-3 unless restricted; usage counts the vCPUs of the
// subscription's VMs in the region (each VM's size's vCPUs), against the limits set (default 100).
import type { ArmEngine, RequestContext } from '../../engine.ts';
import { normLocation } from '../../engine.ts';
import { ArmError } from '../../errors.ts';
import { KNOWN_VM_SIZES, vmSizeInfo } from '../../sku-availability.ts';
import type { Json } from '../../store.ts';

const ZONES = ['1', '2', '3'];
/** The regions an unfiltered list covers. */
const LISTED_REGIONS = ['westeurope', 'northeurope', 'eastus', 'westus2'];

/** Resource Skus - List: the known VM sizes in every region (or the one `$filter` names). */
function resourceSkus(engine: ArmEngine, ctx: RequestContext): Json[] {
  const filter = ctx.query.get('$filter');
  let locations = LISTED_REGIONS;
  if (filter) {
    const m = /^\s*location\s+eq\s+'([^']+)'\s*$/i.exec(filter);
    if (!m) throw new ArmError(400, 'InvalidFilterInQueryString', `Invalid $filter '${filter}' specified in the query string. Only the location filter is supported.`);
    locations = [normLocation(m[1])];
  }
  return KNOWN_VM_SIZES.flatMap((size) =>
    locations.map((location) => {
      const info = vmSizeInfo(size);
      const restrictions = engine.skus.restrictionsOf(size, location).map((r) => ({
        type: r.type,
        values: [location],
        restrictionInfo: r.type === 'Zone' ? { locations: [location], zones: r.zones } : { locations: [location] },
        reasonCode: 'NotAvailableForSubscription',
      }));
      return {
        resourceType: 'virtualMachines',
        name: size,
        tier: 'Standard',
        size: size.replace(/^Standard_/, ''),
        family: info.family,
        locations: [location],
        locationInfo: [{ location, zones: ZONES, zoneDetails: [] }],
        capabilities: [
          { name: 'vCPUs', value: String(info.vCPUs) },
          { name: 'vCPUsAvailable', value: String(info.vCPUs) },
        ],
        restrictions,
      };
    }),
  );
}

/** Usage - List: total regional vCPUs and one entry per family the known sizes and the VMs there use. */
function usages(engine: ArmEngine, location: string): Json[] {
  const loc = normLocation(location);
  const used = new Map<string, number>();
  let cores = 0;
  for (const vm of engine.store.ofType('Microsoft.Compute/virtualMachines')) {
    if (normLocation(vm.body.location) !== loc) continue;
    const info = vmSizeInfo(String(vm.body.properties?.hardwareProfile?.vmSize ?? ''));
    cores += info.vCPUs;
    used.set(info.family, (used.get(info.family) ?? 0) + info.vCPUs);
  }
  const families = new Set([...KNOWN_VM_SIZES.map((s) => vmSizeInfo(s).family), ...used.keys()]);
  const entry = (name: string, localizedValue: string, currentValue: number) => ({ unit: 'Count', currentValue, limit: engine.skus.limit(loc, name), name: { value: name, localizedValue } });
  return [entry('cores', 'Total Regional vCPUs', cores), ...[...families].sort().map((f) => entry(f, `${f.replace(/^standard/, 'Standard ').replace(/Family$/, ' Family')} vCPUs`, used.get(f) ?? 0))];
}

export function registerCapacity(engine: ArmEngine): void {
  engine.registerType({
    type: 'Microsoft.Compute/*',
    tracked: false,
    render: (_e, res) => res.body,
    actions: {
      skus: { method: 'GET', run: async (e, ctx) => e.page(ctx, resourceSkus(e, ctx)) },
    },
  });
  engine.registerLocationCollection('Microsoft.Compute', 'usages', async (e, ctx, location) => e.page(ctx, usages(e, location)));
}
