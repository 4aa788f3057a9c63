/**
 * The source side of capture, through ARM: one VM restore point per cycle in the VM's restore point
 * collection (all disks at one instant), read access (SAS) to its disk restore points, and removal of
 * restore points no longer needed as a diff base. Names are deterministic per cycle (sr-<cycle>), so a
 * capture retried after a crash finds and reuses the restore point it created instead of leaking one.
 *
 * Every call here goes to the source region: its failures are marked as such (source-region.ts), and
 * every wait has a deadline — each ARM request its own (clients.ts), and each long-running operation
 * (creation, including waiting for an earlier attempt's restore point, grant, revoke, delete) the
 * client's `lroTimeoutMs` on top — so a dead region fails a capture instead of holding it.
 *
 * The collection is addressed in its own subscription (the VM's: a VM re-protected from another subscription
 * than AZURE_SUBSCRIPTION_ID has its collection there), through the clients' `forResource`.
 */
import type { RestorePoint } from '@azure/arm-compute';
import type { AzureClients } from '../azure/clients.ts';
import { parseArmId, sameArmId } from '../azure/arm-id.ts';
import { classifyAzureError, isAzureNotFound } from '../azure/errors.ts';
import { withDeadline } from '../util/deadline.ts';
import { pad } from './manifest.ts';
import { inSourceRegion } from './source-call.ts';

/** How long granted read access lasts; renewed when less than a quarter is left. */
const SAS_SECONDS = 4 * 3600;
/** Polls of a long-running operation: the SDK's poller waits each answer's Retry-After; 500 ms only when there is none. */
const POLL = { updateIntervalInMs: 500 };

export const restorePointName = (cycle: number): string => `sr-${pad(cycle)}`;

export function cycleOfRestorePoint(name: string): number | undefined {
  const match = /^sr-(\d+)$/.exec(name);
  return match ? Number(match[1]) : undefined;
}

export interface CapturedDisk {
  /** ARM id of the source managed disk. */
  sourceDiskId: string;
  /** Name of its disk restore point. */
  diskRestorePoint: string;
}

export class RestorePoints {
  private readonly az: AzureClients;
  private readonly resourceGroup: string;
  private readonly collection: string;
  private readonly sas = new Map<string, { url: string; expiresAt: number }>();

  constructor(az: AzureClients, collectionId: string) {
    this.az = az.forResource(collectionId); // in the source VM's subscription, which may not be the datapath's own
    const id = parseArmId(collectionId);
    this.resourceGroup = id.resourceGroup;
    this.collection = id.name;
  }

  /** Runs one source-region operation under the long-running-operation deadline. */
  private operation<T>(what: string, signal: AbortSignal, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return inSourceRegion(() => withDeadline(signal, this.az.lroTimeoutMs, `${what} in ${this.collection}`, work));
  }

  /**
   * Creates restore point `name`, or reuses it when an earlier attempt created it. `beforeCreate` is
   * awaited right before the creation is sent (a consistency group starts its members' creations together).
   */
  ensure(name: string, consistency: 'CrashConsistent' | 'ApplicationConsistent', signal: AbortSignal, beforeCreate?: () => Promise<void>): Promise<{ point: RestorePoint; reused: boolean }> {
    return this.operation(`creating restore point ${name}`, signal, (deadline) => this.create(name, consistency, deadline, beforeCreate));
  }

  private async create(name: string, consistency: 'CrashConsistent' | 'ApplicationConsistent', signal: AbortSignal, beforeCreate?: () => Promise<void>): Promise<{ point: RestorePoint; reused: boolean }> {
    const { restorePoints } = this.az.compute;
    for (let attempt = 0; ; attempt++) {
      signal.throwIfAborted();
      const existing = await restorePoints.get(this.resourceGroup, this.collection, name, { abortSignal: signal }).catch((error: unknown) => {
        if (isAzureNotFound(error)) return undefined;
        throw error;
      });
      if (existing?.provisioningState === 'Succeeded') return { point: existing, reused: true };
      if (existing?.provisioningState === 'Failed') {
        await restorePoints.beginDeleteAndWait(this.resourceGroup, this.collection, name, { ...POLL, abortSignal: signal });
        continue;
      }
      if (existing) {
        await sleep(1000, signal); // still being created by an earlier attempt
        continue;
      }
      try {
        await beforeCreate?.();
        const point = await restorePoints.beginCreateAndWait(this.resourceGroup, this.collection, name, { consistencyMode: consistency }, { ...POLL, abortSignal: signal });
        return { point, reused: false };
      } catch (error) {
        // Another restore point of the collection is being created (a capture cut short): wait for it.
        if (classifyAzureError(error).statusCode === 409 && attempt < 60) {
          await sleep(1000, signal);
          continue;
        }
        throw error;
      }
    }
  }

  /** The disk restore point of each source disk, from the restore point's source metadata. */
  disksOf(point: RestorePoint): CapturedDisk[] {
    const storage = point.sourceMetadata?.storageProfile;
    const all = [storage?.osDisk, ...(storage?.dataDisks ?? [])];
    const out: CapturedDisk[] = [];
    for (const disk of all) {
      const sourceDiskId = disk?.managedDisk?.id;
      const drpId = disk?.diskRestorePoint?.id;
      if (sourceDiskId && drpId) out.push({ sourceDiskId, diskRestorePoint: parseArmId(drpId).name });
    }
    return out;
  }

  find(disks: CapturedDisk[], sourceDiskId: string): string | undefined {
    return disks.find((d) => sameArmId(d.sourceDiskId, sourceDiskId))?.diskRestorePoint;
  }

  /** A read SAS URL of a disk restore point (granted once and reused while it lasts). */
  async readUrl(point: string, diskRestorePoint: string, signal: AbortSignal): Promise<string> {
    const key = `${point}/${diskRestorePoint}`;
    const cached = this.sas.get(key);
    if (cached && cached.expiresAt - Date.now() > (SAS_SECONDS * 1000) / 4) return cached.url;
    const access = await this.operation(`granting read access to ${point}/${diskRestorePoint}`, signal, (deadline) =>
      this.az.compute.diskRestorePoint.beginGrantAccessAndWait(this.resourceGroup, this.collection, point, diskRestorePoint, { access: 'Read', durationInSeconds: SAS_SECONDS }, { ...POLL, abortSignal: deadline }),
    );
    if (!access.accessSAS) throw new Error(`no SAS granted for disk restore point ${diskRestorePoint}`);
    this.sas.set(key, { url: access.accessSAS, expiresAt: Date.now() + SAS_SECONDS * 1000 });
    return access.accessSAS;
  }

  /** Names of the restore points in the collection. */
  list(signal: AbortSignal): Promise<string[]> {
    return inSourceRegion(async () => {
      const collection = await this.az.compute.restorePointCollections.get(this.resourceGroup, this.collection, { expand: 'restorePoints', abortSignal: signal });
      return (collection.restorePoints ?? []).map((p) => p.name ?? '').filter(Boolean);
    });
  }

  /** Revokes access to every disk restore point of `name` and deletes it; a gone restore point is fine. */
  remove(name: string, signal: AbortSignal): Promise<void> {
    return this.operation(`removing restore point ${name}`, signal, (deadline) => this.removeNow(name, deadline));
  }

  private async removeNow(name: string, signal: AbortSignal): Promise<void> {
    const { compute } = this.az;
    let point: RestorePoint;
    try {
      point = await compute.restorePoints.get(this.resourceGroup, this.collection, name, { abortSignal: signal });
    } catch (error) {
      if (isAzureNotFound(error)) return;
      throw error;
    }
    for (const disk of this.disksOf(point)) {
      this.sas.delete(`${name}/${disk.diskRestorePoint}`);
      await compute.diskRestorePoint.beginRevokeAccessAndWait(this.resourceGroup, this.collection, name, disk.diskRestorePoint, { ...POLL, abortSignal: signal }).catch((error: unknown) => {
        if (!isAzureNotFound(error)) throw error;
      });
    }
    await compute.restorePoints.beginDeleteAndWait(this.resourceGroup, this.collection, name, { ...POLL, abortSignal: signal }).catch((error: unknown) => {
      if (!isAzureNotFound(error)) throw error;
    });
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
