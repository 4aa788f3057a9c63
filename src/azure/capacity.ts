/**
 * Could a failover get its VM size in the target region right now? Two reads of Compute, both documented
 * public APIs (cited where the emulator answers them, sandbox/src/arm/sku-availability.ts):
 *   - Resource Skus - List (`$filter=location eq '<region>'`): is the size offered there — no restriction of
 *     type Location, nor of type Zone covering the target zone — and its family and vCPUs;
 *   - Usage - List (per region): the regional vCPU quota (`cores`) and the size family's quota, each
 *     with its current use: is there room for one more VM of that size?
 * A region's answer (readRegionCapacity) serves every VM failing over there; each VM's sizes are then tried
 * in the failover's order (judgeCapacity: the first one offered with quota room is enough). The answer is a
 * verdict with a reason and a message for a condition; it changes nothing in Azure.
 */
import type { AzureClients } from './clients.ts';

export interface CapacityRequest {
  location: string;
  zone?: string | undefined;
  /** The sizes a failover tries, in order. */
  sizes: string[];
}

export type CapacityVerdict =
  | { atRisk: false; reason: 'CapacityAvailable'; message: string }
  | { atRisk: true; reason: 'SkuNotAvailable' | 'QuotaExceeded'; message: string };

interface SkuInfo {
  family?: string;
  vCPUs: number;
  /** Zones where it is restricted; `all`: the whole region. */
  restricted: 'all' | string[];
}

/** What the target region offers: its VM sizes and the room left in each vCPU quota (by lower-case name). */
export interface RegionCapacity {
  location: string;
  skus: Map<string, SkuInfo>;
  room: Map<string, number>;
}

/** Reads Resource Skus - List and Usage - List of one region. */
export async function readRegionCapacity(az: AzureClients, location: string, signal?: AbortSignal): Promise<RegionCapacity> {
  const loc = location.toLowerCase();
  const skus = new Map<string, SkuInfo>();
  for await (const sku of az.compute.resourceSkus.list({ filter: `location eq '${loc}'`, abortSignal: signal })) {
    if (sku.resourceType !== 'virtualMachines' || !sku.name) continue;
    const restrictions = sku.restrictions ?? [];
    const restricted: SkuInfo['restricted'] = restrictions.some((x) => x.type === 'Location') ? 'all' : restrictions.filter((x) => x.type === 'Zone').flatMap((x) => x.restrictionInfo?.zones ?? []);
    const vCPUs = Number(sku.capabilities?.find((c) => c.name === 'vCPUs')?.value ?? 0);
    skus.set(sku.name.toLowerCase(), { restricted, vCPUs, ...(sku.family ? { family: sku.family } : {}) });
  }
  const room = new Map<string, number>();
  for await (const u of az.compute.usage.list(loc, { abortSignal: signal })) {
    if (u.name?.value) room.set(u.name.value.toLowerCase(), Number(u.limit) - Number(u.currentValue));
  }
  return { location: loc, skus, room };
}

/** Judges each size in order against what the region offers. */
export function judgeCapacity(region: RegionCapacity, r: CapacityRequest): CapacityVerdict {
  const { location, skus, room } = region;
  const where = `${location}${r.zone ? ` zone ${r.zone}` : ''}`;
  const offered = r.sizes.filter((s) => {
    const sku = skus.get(s.toLowerCase());
    return sku !== undefined && sku.restricted !== 'all' && !(r.zone !== undefined && sku.restricted.includes(r.zone));
  });
  if (!offered.length) return { atRisk: true, reason: 'SkuNotAvailable', message: `none of the failover sizes (${r.sizes.join(', ')}) is offered in ${where}; add one that is to spec.targetVmSizeFallbacks` };
  const short: string[] = [];
  for (const size of offered) {
    const sku = skus.get(size.toLowerCase()) as SkuInfo;
    const regional = room.get('cores') ?? Infinity;
    const family = sku.family ? (room.get(sku.family.toLowerCase()) ?? Infinity) : Infinity;
    if (regional >= sku.vCPUs && family >= sku.vCPUs) return { atRisk: false, reason: 'CapacityAvailable', message: `${size} is offered in ${where} with quota for ${sku.vCPUs} vCPU(s)` };
    short.push(`${size} needs ${sku.vCPUs} vCPU(s): ${Math.max(0, regional)} left of the regional quota, ${Math.max(0, family)} of ${sku.family ?? 'its family'}'s`);
  }
  return { atRisk: true, reason: 'QuotaExceeded', message: `no vCPU quota in ${location} for a failover: ${short.join('; ')}` };
}
