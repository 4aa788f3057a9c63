/**
 * Could a failover get its VM size in the target region right now? Two reads of Compute, both documented
 * public APIs (cited where the emulator answers them, sandbox/src/arm/sku-availability.ts):
 *   - Resource Skus - List (`$filter=location eq '<region>'`): is the size offered there — no restriction of
 *     type Location, nor of type Zone covering the target zone — and its family and vCPUs;
 *   - Usage - List (per region): the regional vCPU quota (`cores`) and the size family's quota, each
 *     with its current use: is there room for one more VM of that size?
 * The sizes are tried in the failover's order (the first one offered with quota room is enough). The
 * answer is a verdict with a reason and a message for a condition; it changes nothing in Azure.
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
  offered: boolean;
  family?: string;
  vCPUs: number;
}

/** Reads the SKUs and usages of the target region once and judges each size in order. */
export async function checkCapacity(az: AzureClients, r: CapacityRequest, signal?: AbortSignal): Promise<CapacityVerdict> {
  const location = r.location.toLowerCase();
  const skus = new Map<string, SkuInfo>();
  for await (const sku of az.compute.resourceSkus.list({ filter: `location eq '${location}'`, abortSignal: signal })) {
    if (sku.resourceType !== 'virtualMachines' || !sku.name) continue;
    const restricted = (sku.restrictions ?? []).some((x) => x.type === 'Location' || (x.type === 'Zone' && r.zone !== undefined && (x.restrictionInfo?.zones ?? []).includes(r.zone)));
    const vCPUs = Number(sku.capabilities?.find((c) => c.name === 'vCPUs')?.value ?? 0);
    skus.set(sku.name.toLowerCase(), { offered: !restricted, vCPUs, ...(sku.family ? { family: sku.family } : {}) });
  }
  const where = `${location}${r.zone ? ` zone ${r.zone}` : ''}`;
  const offered = r.sizes.filter((s) => skus.get(s.toLowerCase())?.offered);
  if (!offered.length) return { atRisk: true, reason: 'SkuNotAvailable', message: `none of the failover sizes (${r.sizes.join(', ')}) is offered in ${where}; add one that is to spec.targetVmSizeFallbacks` };
  const room = new Map<string, number>();
  for await (const u of az.compute.usage.list(location, { abortSignal: signal })) {
    if (u.name?.value) room.set(u.name.value.toLowerCase(), Number(u.limit) - Number(u.currentValue));
  }
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
