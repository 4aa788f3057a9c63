/**
 * The registration of a ReplicatedVM saved in the TARGET region (DESIGN §2 "Regions fail"): what a
 * failover and the datapath need of its status (disks, source location, size, OS type, network
 * interfaces, the properties carried over (generation, security type, tags, ...), target ids, zone or
 * availability set, the resource ledger), kept as metadata of the VM's replica container. A brand-new cluster created while the source region is down cannot read the source
 * VM; it reads this instead, so the datapath rebuilds the points and a failover can run.
 *
 * Written through ARM (the container's metadata), like the container itself, so the operator needs no
 * data-plane rights; compressed and base64-encoded into one metadata value (container metadata is limited
 * to 8 KiB; ids repeat, so even a VM with dozens of disks fits). Written only when it changes.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { ReplicatedVMStatus } from '../api/types.ts';
import type { AzureClients } from './clients.ts';
import { parseArmId } from './arm-id.ts';
import { getOrUndefined } from './resources/observe.ts';

/** The metadata key (container metadata keys are C# identifiers: no hyphens). */
export const SAVED_REGISTRATION_METADATA = 'siterecoveryregistration';

/** Azure's limit on all metadata of a container, less room for the key and the other entries. */
const MAX_ENCODED_CHARS = 7 * 1024;

/** The status fields saved: those a failover and the datapath read. */
export type SavedRegistration = Pick<
  ReplicatedVMStatus,
  | 'disks'
  | 'sourceLocation'
  | 'sourceVmSize'
  | 'sourceOsType'
  | 'sourceNetworkInterfaces'
  | 'sourceVmProperties'
  | 'targetResourceGroupId'
  | 'cacheStorageAccountId'
  | 'targetStorageAccountId'
  | 'targetVirtualNetworkId'
  | 'targetZone'
  | 'targetAvailabilitySetId'
  | 'targetResources'
>;

/** Compressed canonical JSON (keys sorted: an object read back from Kubernetes encodes the same). */
export function encodeRegistration(registration: SavedRegistration): string {
  return deflateRawSync(Buffer.from(JSON.stringify(canonical(registration)))).toString('base64');
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, canonical(v)]));
}

export function decodeRegistration(value: string): SavedRegistration | undefined {
  try {
    const parsed: unknown = JSON.parse(inflateRawSync(Buffer.from(value, 'base64')).toString('utf8'));
    return parsed && typeof parsed === 'object' && Array.isArray((parsed as SavedRegistration).disks) ? (parsed as SavedRegistration) : undefined;
  } catch {
    return undefined;
  }
}

async function containerMetadata(az: AzureClients, containerId: string): Promise<Record<string, string> | undefined> {
  const id = parseArmId(containerId);
  const found = await getOrUndefined(() => az.storage.blobContainers.get(id.resourceGroup, id.names[0] as string, id.name));
  return found ? (found.metadata ?? {}) : undefined;
}

/** The registration saved in the replica container `containerId`, if any. */
export async function readSavedRegistration(az: AzureClients, containerId: string): Promise<SavedRegistration | undefined> {
  const value = (await containerMetadata(az, containerId))?.[SAVED_REGISTRATION_METADATA];
  return value ? decodeRegistration(value) : undefined;
}

/**
 * Saves `registration` in the replica container unless it already holds it (one read; a write only on
 * change). 'tooLarge' when it does not fit in the container's metadata.
 */
export async function saveRegistration(az: AzureClients, containerId: string, registration: SavedRegistration): Promise<'unchanged' | 'saved' | 'tooLarge'> {
  const value = encodeRegistration(registration);
  if (value.length > MAX_ENCODED_CHARS) return 'tooLarge';
  const metadata = (await containerMetadata(az, containerId)) ?? {};
  if (metadata[SAVED_REGISTRATION_METADATA] === value) return 'unchanged';
  const id = parseArmId(containerId);
  await az.storage.blobContainers.update(id.resourceGroup, id.names[0] as string, id.name, { metadata: { ...metadata, [SAVED_REGISTRATION_METADATA]: value } });
  return 'saved';
}
