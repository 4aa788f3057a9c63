// Regional outages in the sandbox (`site-recovery sandbox outage REGION` / `restore REGION`, issue #14):
// which regions are down and how a request to something located there fails. One object per sandbox,
// shared by the ARM emulator (arm/server.ts answers the control endpoint /_sandbox/outages and fails the
// requests, arm/regions.ts says where a request's resource is) and the storage front (storage/
// front-outage.ts), which run in one process under `sandbox up`. An outage changes nothing in the emulated
// state: it only stands between the clients and that state, so `restore` brings everything back intact.
//
// What is emulated, and why:
//  - ARM proxies every request on a resource to the resource provider's endpoint in the resource's region,
//    and each regional endpoint keeps its own state, "isolated from the other regions in order to isolate
//    failure" (Azure/azure-resource-manager-rpc, v1.0/Addendum.md, "Regional Endpoints"). So requests on
//    a resource located in a down region fail, and those on resources elsewhere, and on global ones
//    (resource groups, the subscription's lists of resource groups), keep working. learn.microsoft.com,
//    "Reliability in Azure Resource Manager", treats region-wide failures apart from ARM's own faults and
//    recommends keeping resources in their resource group's region to limit what a regional outage
//    affects (a group's metadata lives in its region); the sandbox leaves resource groups working, the
//    case that recommendation aims at.
//  - How they fail: clients are told to retry "408", "a 5xx status code indicating a server failure (e.g.
//    500 InternalServerError; 503 Service Unavailable)" and "a socket exception (... network drop ...)"
//    (same Addendum, "Retrying REST Calls"), with the common error body {"error":{"code","message"}}
//    (v1.0/common-api-details.md, "Error Response Content"). The sandbox rotates 503 ServiceUnavailable,
//    500 InternalServerError, a connection reset and a request that never gets an answer (until the client
//    gives up), in that order by request count, so that tests are deterministic.
//  - Lists: a subscription-wide list is answered by ARM querying "each regional endpoint that has at
//    least one resource for the subscription" and aggregating the answers (v1.0/resource-api-reference.md,
//    "Get resource collection under subscription"). With a region's endpoint down its share is missing:
//    the sandbox omits the down region's resources from subscription- and resource-group-wide lists rather
//    than failing them (a caller must not read "absent from a list" as "deleted" during an outage).
//  - Storage is reached directly, not through ARM ("data plane requests go directly to the service's
//    endpoint, such as a storage account", same reliability page): an account in a down region, and the
//    page blobs of managed disks, snapshots and disk restore points located there (their SAS exports), stop
//    answering: the connection is reset or hangs.
//  - The VMs of a down region stop: the sandbox's "hypervisor" access to their disks (shared key on the
//    hidden managed-disk account, what `sandbox workload` uses) is refused at once with SandboxRegionDown,
//    a code of the sandbox's own (there is no Azure API for it), so a workload can say why it stopped.

export type OutageFailure = 'unavailable' | 'internal' | 'reset' | 'hang';

export const OUTAGE_FAILURES: readonly OutageFailure[] = ['unavailable', 'internal', 'reset', 'hang'];

/** Storage endpoints do not answer at all: only these two failures apply there. */
const STORAGE_FAILURES: readonly OutageFailure[] = ['reset', 'hang'];

/** Error code of the hypervisor's refusal (see the header). */
export const REGION_DOWN_CODE = 'SandboxRegionDown';

export interface Outage {
  region: string;
  since: string;
  /** The rotation requests to this region go through (default OUTAGE_FAILURES). */
  failures: OutageFailure[];
  /** Requests failed so far: ARM and storage, counted apart (each rotation has its own count). */
  armRequests: number;
  storageRequests: number;
}

/** Where things are: the ARM emulator knows every account's and disk's location (installed by it). */
export interface OutageLocator {
  /** Normalized location of a storage account, undefined when ARM has no such account. */
  accountRegion(account: string): string | undefined;
  /** Normalized location of the disk, snapshot or disk restore point whose page blob has this name. */
  diskBlobRegion(blobName: string): string | undefined;
}

/** ARM's location normalization (`West Europe` -> `westeurope`). */
export const regionName = (location: string): string => location.replace(/\s+/g, '').toLowerCase();

export class RegionOutages {
  private readonly down = new Map<string, Outage>();
  locator: OutageLocator | undefined;

  /** Takes a region down (again: the rotation restarts). */
  start(region: string, failures: readonly OutageFailure[] = OUTAGE_FAILURES): Outage {
    const bad = failures.filter((f) => !OUTAGE_FAILURES.includes(f));
    if (failures.length === 0 || bad.length > 0) throw new Error(`failures must be some of ${OUTAGE_FAILURES.join(', ')}`);
    const o: Outage = { region: regionName(region), since: new Date().toISOString(), failures: [...failures], armRequests: 0, storageRequests: 0 };
    this.down.set(o.region, o);
    return { ...o };
  }

  /** Brings a region back; false when it was not down. */
  end(region: string): boolean {
    return this.down.delete(regionName(region));
  }

  list(): Outage[] {
    return [...this.down.values()].map((o) => ({ ...o, failures: [...o.failures] }));
  }

  /** The outage of a location, if it is down. */
  of(location: string | undefined): Outage | undefined {
    return location ? this.down.get(regionName(location)) : undefined;
  }

  /** How the next ARM request on a resource located in `location` fails; undefined when it is up. */
  nextArmFailure(location: string | undefined): { outage: Outage; failure: OutageFailure } | undefined {
    const outage = this.of(location);
    if (!outage) return undefined;
    return { outage, failure: outage.failures[outage.armRequests++ % outage.failures.length]! };
  }

  /** How the next storage request on an account (and, in the managed-disk account, a blob) fails. */
  nextStorageFailure(account: string, diskAccount: string, blobName: string | undefined): { outage: Outage; failure: OutageFailure } | undefined {
    if (this.down.size === 0 || !this.locator) return undefined;
    const location = account === diskAccount ? blobName && this.locator.diskBlobRegion(blobName) : this.locator.accountRegion(account);
    const outage = this.of(location || undefined);
    if (!outage) return undefined;
    const rotation = outage.failures.filter((f) => STORAGE_FAILURES.includes(f));
    const failures = rotation.length > 0 ? rotation : STORAGE_FAILURES.slice(0, 1);
    return { outage, failure: failures[outage.storageRequests++ % failures.length]! };
  }
}
