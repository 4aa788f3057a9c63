// ARM emulator for the local sandbox: speaks the Azure Resource Manager REST protocol over HTTPS for the
// resource types the operator uses, so production code reaches it through the real @azure/arm-* clients
// with only the endpoint and credential changed.
//
//   const arm = await startArmEmulator({ storage, ca, dir: '.sandbox', persist: true });
//   new ComputeManagementClient(staticTokenCredential(token), arm.subscriptionId, { endpoint: arm.endpoint });
import crypto from 'node:crypto';
import path from 'node:path';
import { RegionOutages } from '../outages.ts';
import type { SkuAvailability } from './sku-availability.ts';
import { issueServerCert, trustSandboxCa } from '../tls.ts';
import type { SandboxCa } from '../tls.ts';
import { DiskData } from './disk-data.ts';
import { ArmEngine } from './engine.ts';
import type { LatencyConfig } from './engine.ts';
import { FaultInjector } from './faults.ts';
import type { FaultRule } from './faults.ts';
import { registerCompute } from './providers/compute/index.ts';
import { DISK, DRP, SNAPSHOT } from './providers/compute/shared.ts';
import { registerNetwork } from './providers/network/index.ts';
import { registerResources } from './providers/resources.ts';
import { registerStorage } from './providers/storage/index.ts';
import { STORAGE_ACCOUNT } from './providers/storage/shared.ts';
import { outageLocator } from './regions.ts';
import { createArmServer, listen } from './server.ts';
import { ArmStats } from './stats.ts';
import { ArmThrottling } from './throttling.ts';
import { ArmRbac } from './rbac.ts';
import type { RbacConfig } from './rbac.ts';
import type { ThrottlingConfig } from './throttling.ts';
import type { ArmStorageBackend } from './storage-backend.ts';
import { ArmStore } from './store.ts';

export type { ArmStorageBackend } from './storage-backend.ts';
export type { LatencyConfig } from './engine.ts';
export type { ActiveFault, FaultKind, FaultRule } from './faults.ts';
export { FaultInjector } from './faults.ts';
export { ArmStats } from './stats.ts';
export type { ArmStatsSummary, KindCounts, OperationCounts, RequestRecord } from './stats.ts';
export { ArmThrottling, ARM_BUCKETS, GLOBAL_FACTOR } from './throttling.ts';
export type { ThrottlingConfig } from './throttling.ts';
export { ArmError } from './errors.ts';
export { ArmRbac, actionMatches, principalOf, requestAction, roleAllows } from './rbac.ts';
export type { Denial, RbacConfig, RoleAssignment, RoleDefinition } from './rbac.ts';
export { staticTokenCredential } from './credential.ts';

export interface ArmEmulatorOptions {
  /** Local storage (disk page blobs, storage accounts). */
  storage: ArmStorageBackend;
  /** Sandbox CA: the server certificate is issued by it, and this process trusts it (storage is HTTPS too). */
  ca: Pick<SandboxCa, 'caCertPem' | 'caKeyPem'>;
  /** State directory; with `persist`, state lives in `<dir>/arm/state.json` and survives restarts. */
  dir?: string;
  persist?: boolean;
  /** Listen port (default: any free port) and host (default 127.0.0.1). */
  port?: number;
  host?: string;
  /** Subscription served (default: a fixed GUID; a persisted state keeps its own). */
  subscriptionId?: string;
  /** More subscriptions served beside it, each with resource groups of its own (a persisted state adds its own). */
  moreSubscriptionIds?: string[];
  /** LRO duration in ms: one number for all operations, or a default plus per-operation-kind values. */
  latency?: number | Partial<LatencyConfig>;
  /** Retry-After (seconds) on async operation responses and polls (default 1). */
  retryAfterSeconds?: number;
  /** Page size of list operations (default 100); small values exercise nextLink paging. */
  pageSize?: number;
  /** Fault rules active from the start. */
  faults?: FaultRule[];
  /** ARM's throttling (throttling.ts): off by default; `{ enabled: true, scale }` applies ARM's token buckets. */
  throttling?: Partial<ThrottlingConfig>;
  /** Regional outage state (default: a new one); the storage backend is given it too (useOutages). */
  outages?: RegionOutages;
  /** Azure RBAC (rbac.ts): off by default; `{ enabled: true, assignments }` answers 403 AuthorizationFailed to what they do not allow. */
  rbac?: Partial<RbacConfig>;
}

export interface ArmEmulator {
  /** `https://127.0.0.1:<port>`: the `endpoint` option of the @azure/arm-* clients. */
  endpoint: string;
  port: number;
  subscriptionId: string;
  /** The other subscriptions served. */
  moreSubscriptionIds: string[];
  /** Runtime fault injection. */
  faults: FaultInjector;
  /** Calls per operation key (`PUT Microsoft.Compute/virtualMachines`, `LIST ...`, `POST .../beginGetAccess`), reads/writes/deletes/throttled by operation and client. */
  stats: ArmStats;
  /** ARM's token buckets; `throttling.configure({ enabled, scale })` changes them at run time. */
  throttling: ArmThrottling;
  /** Role assignments, their enforcement (`rbac.configure({ enabled, assignments })` at run time) and the audit of actions per principal. */
  rbac: ArmRbac;
  setLatency(latency: number | Partial<LatencyConfig>): void;
  /** Regions down (`sandbox outage`); shared with the storage front. */
  outages: RegionOutages;
  /** VM sizes not offered in some regions or zones (`skus.restrict(size, region, zones?)`). */
  skus: SkuAvailability;
  /** Resolves when no long-running operation is pending. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export const DEFAULT_SUBSCRIPTION_ID = '00000000-0000-4000-8000-00000000a2a0';

function toLatency(current: LatencyConfig, l: number | Partial<LatencyConfig> | undefined): LatencyConfig {
  if (l === undefined) return current;
  if (typeof l === 'number') return { default: l, operations: {} };
  return { default: l.default ?? current.default, operations: { ...current.operations, ...(l.operations ?? {}) } };
}

export async function startArmEmulator(opts: ArmEmulatorOptions): Promise<ArmEmulator> {
  trustSandboxCa(opts.ca);
  const file = opts.persist && opts.dir ? path.join(path.resolve(opts.dir), 'arm', 'state.json') : undefined;
  const store = new ArmStore(opts.subscriptionId ?? DEFAULT_SUBSCRIPTION_ID, file, opts.moreSubscriptionIds);
  const engine = new ArmEngine(store, opts.storage, new DiskData(opts.storage), {
    pageSize: opts.pageSize ?? 100,
    retryAfterSeconds: opts.retryAfterSeconds ?? 1,
    latency: toLatency({ default: 0, operations: {} }, opts.latency),
  });
  registerResources(engine);
  registerNetwork(engine);
  registerCompute(engine);
  registerStorage(engine);
  engine.outages = opts.outages ?? new RegionOutages();
  engine.outages.locator = outageLocator(engine, [DISK, SNAPSHOT, DRP], STORAGE_ACCOUNT);
  opts.storage.useOutages?.(engine.outages);

  const faults = new FaultInjector();
  for (const f of opts.faults ?? []) faults.inject(f);
  const stats = new ArmStats();
  const throttling = new ArmThrottling(opts.throttling);
  const rbac = new ArmRbac(opts.rbac);
  opts.storage.useRbac?.({ rbac, accountId: (name) => engine.store.ofType(STORAGE_ACCOUNT).find((a) => a.body.name === name)?.id });
  const setLatency = (l: number | Partial<LatencyConfig>): void => {
    engine.config.latency = toLatency(engine.config.latency, l);
  };
  const host = opts.host ?? '127.0.0.1';
  const cert = issueServerCert(opts.ca, [host]);
  const server = createArmServer({ engine, faults, stats, throttling, rbac, setLatency }, { cert: cert.certPem, key: cert.keyPem });
  const port = await listen(server, opts.port ?? 0, host);
  engine.endpoint = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  engine.resumeOperations();
  store.save();

  let stopping: Promise<void> | undefined;
  return {
    endpoint: engine.endpoint,
    port,
    subscriptionId: store.subscriptionId,
    moreSubscriptionIds: store.moreSubscriptionIds,
    faults,
    stats,
    throttling,
    rbac,
    setLatency,
    outages: engine.outages,
    skus: engine.skus,
    idle: () => engine.idle(),
    stop() {
      stopping ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await engine.stop();
        store.save();
      })();
      return stopping;
    },
  };
}

/** A fresh random subscription id (for callers that want one per sandbox). */
export const randomSubscriptionId = (): string => crypto.randomUUID();
