// Harness of the datapath tests and benchmark: local Azure (storage + ARM emulator), source VMs made
// through ARM, VMs registered for the datapath the way the operator registers them (status written under
// the operator's field manager), datapath replicas in-process or as child processes, a workload of
// random writes and trims, and byte-for-byte checks of recovery points against the source restore points.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ComputeManagementClient, type VirtualMachine } from '@azure/arm-compute';
import { NetworkManagementClient } from '@azure/arm-network';
import { ResourceManagementClient } from '@azure/arm-resources';
import { StorageManagementClient } from '@azure/arm-storage';
import { AnonymousCredential, PageBlobClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { KubeConfig } from '@kubernetes/client-node';
import type { RecoveryPoint, ReplicatedVM, ReplicationPolicy } from '../../src/api/types.ts';
import type { AzureConfig } from '../../src/azure/clients.ts';
import { StaticTokenCredential } from '../../src/azure/credential.ts';
import { setCondition } from '../../src/runtime/conditions.ts';
import { CustomResourceClient, type CustomObject } from '../../src/kube/custom-resources.ts';
import { OPERATOR_FIELD_MANAGER } from '../../src/api/contract.ts';
import { restorePointName } from '../../src/datapath/restore-points.ts';
import type { ArmEmulator } from '../../sandbox/src/arm/index.ts';
import type { LocalStorage } from '../../sandbox/src/storage/index.ts';
import { sandboxStorageCredential } from '../../sandbox/src/storage/token.ts';
import type { SandboxCa } from '../../sandbox/src/tls.ts';
import { hashPageBlob } from '../../src/azure/page-blob-hash.ts';
import { startLocalAzure } from './local-azure.ts';

export const SOURCE_LOCATION = 'westeurope';
export const TARGET_LOCATION = 'northeurope';
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const poll = { updateIntervalInMs: 20 } as const;

export interface ArmTestClients {
  resources: ResourceManagementClient;
  network: NetworkManagementClient;
  compute: ComputeManagementClient;
  storage: StorageManagementClient;
}

export interface DatapathSandbox {
  dir: string;
  ca: SandboxCa;
  storage: LocalStorage;
  arm: ArmEmulator;
  c: ArmTestClients;
  token: string;
  /** Azure configuration of a datapath in this process. */
  azure: AzureConfig;
  /** Environment of a datapath child process (plus KUBECONFIG). */
  env: Record<string, string>;
  /** Shared cache (source region) and replica (target region) storage accounts. */
  cacheAccountId: string;
  targetAccountId: string;
  close(): Promise<void>;
}

/** `moreSubscriptionIds`: subscriptions the ARM emulator serves beside the first (a target subscription). */
export async function startDatapathSandbox(options: { moreSubscriptionIds?: string[] } = {}): Promise<DatapathSandbox> {
  const azure = await startLocalAzure(options.moreSubscriptionIds ? { moreSubscriptionIds: options.moreSubscriptionIds } : {});
  const { arm } = azure;
  const cred = new StaticTokenCredential(azure.token);
  const o = { endpoint: arm.endpoint, retryOptions: { maxRetries: 3, retryDelayInMs: 20, maxRetryDelayInMs: 200 } };
  const c: ArmTestClients = {
    resources: new ResourceManagementClient(cred, arm.subscriptionId, o),
    network: new NetworkManagementClient(cred, arm.subscriptionId, o),
    compute: new ComputeManagementClient(cred, arm.subscriptionId, o),
    storage: new StorageManagementClient(cred, arm.subscriptionId, o),
  };
  await c.resources.resourceGroups.createOrUpdate('dp-asr', { location: TARGET_LOCATION });
  const account = async (name: string, location: string) =>
    (await c.storage.storageAccounts.beginCreateAndWait('dp-asr', name, { location, sku: { name: 'Standard_LRS' }, kind: 'StorageV2' }, poll)).id!;
  const cacheAccountId = await account('dpcache', SOURCE_LOCATION);
  const targetAccountId = await account('dptarget', TARGET_LOCATION);
  return {
    dir: azure.dir,
    ca: azure.ca,
    storage: azure.storage,
    arm,
    c,
    token: azure.token,
    azure: azure.azureConfig({ credential: cred, maxRetries: 3 }),
    env: { ...azure.env(), SITE_RECOVERY_AZURE_MAX_RETRIES: '3' },
    cacheAccountId,
    targetAccountId,
    close: () => azure.stop(),
  };
}

/** The managed disk's page blob, as the hypervisor writes it. */
export function diskBlob(sb: DatapathSandbox, diskId: string): PageBlobClient {
  const account = sb.storage.diskAccount;
  return new PageBlobClient(sb.storage.diskBlobUrl(diskId), new StorageSharedKeyCredential(account, sb.storage.accountKey(account)));
}

export async function createPolicy(kc: KubeConfig, namespace: string, name: string, spec: ReplicationPolicy['spec'] = {}): Promise<void> {
  const policies = new CustomResourceClient<ReplicationPolicy>(kc, 'ReplicationPolicy');
  await policies.create(namespace, { metadata: { name, namespace }, spec: { recoveryPointInterval: '1m', retention: '1h', ...spec } });
}

export interface ProtectedVm {
  name: string;
  namespace: string;
  sourceVmId: string;
  /** Source disk ids, OS first. */
  diskIds: string[];
  collection: { resourceGroup: string; name: string };
  replicaContainer: string;
  cacheContainer: string;
}

/** Disks of the test VMs: small, so that whole-disk hashes stay cheap. */
export const DISK_BYTES = 32 * 1024 * 1024;

/**
 * A source VM whose disks are `diskBytes` each (uploaded empty disks, attached: ARM sizes VM-created disks
 * in whole GiB), with a NIC in `<rg>-vnet`.
 */
/** How a small VM differs from the plain one: zone, disk SKU and generation, VM properties, NIC settings. */
export interface SmallVmShape {
  zone?: string;
  diskType?: 'Premium_LRS' | 'Standard_LRS' | 'StandardSSD_LRS';
  /** The OS disk's generation and security type (a Trusted Launch VM's OS disk is V2, TrustedLaunch). */
  osDisk?: { hyperVGeneration?: 'V1' | 'V2'; securityType?: 'TrustedLaunch' };
  /** VM properties merged into the PUT (securityProfile, licenseType, tags, identity, diagnosticsProfile, hardwareProfile). */
  vm?: Partial<VirtualMachine>;
  acceleratedNetworking?: boolean;
}

export async function createSmallVm(sb: DatapathSandbox, rg: string, name: string, disks: number, diskBytes: number, location = SOURCE_LOCATION, shape: SmallVmShape = {}) {
  const { c } = sb;
  await c.resources.resourceGroups.createOrUpdate(rg, { location });
  const vnet = await c.network.virtualNetworks.beginCreateOrUpdateAndWait(
    rg,
    `${rg}-vnet`,
    { location, addressSpace: { addressPrefixes: ['10.1.0.0/16'] }, subnets: [{ name: 'default', addressPrefix: '10.1.0.0/24' }] },
    poll,
  );
  const nic = await c.network.networkInterfaces.beginCreateOrUpdateAndWait(
    rg,
    `${name}-nic`,
    { location, ...(shape.acceleratedNetworking ? { enableAcceleratedNetworking: true } : {}), ipConfigurations: [{ name: 'ipconfig1', subnet: { id: vnet.subnets![0]!.id! } }] },
    poll,
  );
  const zones = shape.zone ? { zones: [shape.zone] } : {};
  const os = { osType: 'Linux' as const, ...(shape.osDisk?.hyperVGeneration ? { hyperVGeneration: shape.osDisk.hyperVGeneration } : {}), ...(shape.osDisk?.securityType ? { securityProfile: { securityType: shape.osDisk.securityType } } : {}) };
  const ids: string[] = [];
  for (let i = 0; i < disks; i++) {
    const diskName = `${name}-disk${i}`;
    const disk = await c.compute.disks.beginCreateOrUpdateAndWait(
      rg,
      diskName,
      { location, ...zones, sku: { name: shape.diskType ?? 'Premium_LRS' }, ...(i === 0 ? os : {}), creationData: { createOption: 'Upload', uploadSizeBytes: diskBytes } },
      poll,
    );
    await c.compute.disks.beginGrantAccessAndWait(rg, diskName, { access: 'Write', durationInSeconds: 600 }, poll);
    await c.compute.disks.beginRevokeAccessAndWait(rg, diskName, poll);
    ids.push(disk.id!);
  }
  return c.compute.virtualMachines.beginCreateOrUpdateAndWait(
    rg,
    name,
    {
      location,
      ...zones,
      hardwareProfile: { vmSize: 'Standard_D2s_v3' },
      ...shape.vm,
      storageProfile: {
        osDisk: { createOption: 'Attach', osType: 'Linux', managedDisk: { id: ids[0]! } },
        dataDisks: ids.slice(1).map((id, lun) => ({ lun, createOption: 'Attach' as const, managedDisk: { id } })),
      },
      networkProfile: { networkInterfaces: [{ id: nic.id!, primary: true }] },
    },
    poll,
  );
}

/**
 * A source VM (OS disk + `dataDisks` data disks, DISK_BYTES each) and its ReplicatedVM, registered for the
 * datapath as the operator does it: restore point collection and per-VM containers created, status with
 * ReplicationEnabled=True, disks and targetResources (under the operator's field manager).
 */
export async function createProtectedVm(
  sb: DatapathSandbox,
  kc: KubeConfig,
  namespace: string,
  name: string,
  opts: { dataDisks?: number; policy?: string; seedBytes?: number; diskBytes?: number; location?: string; resourceGroup?: string; cacheAccountId?: string } = {},
): Promise<ProtectedVm> {
  const rg = opts.resourceGroup ?? `src-${namespace}`.slice(0, 60);
  const location = opts.location ?? SOURCE_LOCATION;
  const cacheAccountId = opts.cacheAccountId ?? sb.cacheAccountId;
  const source = await createSmallVm(sb, rg, name, (opts.dataDisks ?? 1) + 1, opts.diskBytes ?? DISK_BYTES, location);
  const diskIds = [source.storageProfile!.osDisk!.managedDisk!.id!, ...(source.storageProfile!.dataDisks ?? []).map((d) => d.managedDisk!.id!)];
  // Initial content (what an image and earlier use left on the disks), clear of the workload's stamp at 0.
  for (const [i, id] of diskIds.entries()) await writeRandom(diskBlob(sb, id), opts.seedBytes ?? 3 * 1024 * 1024, 1024 * 1024 + i * 4 * 1024 * 1024);

  const collection = { resourceGroup: 'dp-asr', name: `${name}-${namespace}-rpc`.slice(0, 70) };
  const rpc = await sb.c.compute.restorePointCollections.createOrUpdate(collection.resourceGroup, collection.name, { location, source: { id: source.id! } });
  const container = `rvm-${crypto.createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 20)}`;
  for (const accountId of [cacheAccountId, sb.targetAccountId]) await sb.c.storage.blobContainers.create('dp-asr', accountId.split('/').pop()!, container, { publicAccess: 'None' });
  const containerId = (accountId: string) => `${accountId}/blobServices/default/containers/${container}`;

  const vms = new CustomResourceClient<ReplicatedVM>(kc, 'ReplicatedVM');
  const vm = await vms.create(namespace, {
    metadata: { name, namespace },
    spec: { sourceVirtualMachineId: source.id!, targetLocation: TARGET_LOCATION, policyRef: { name: opts.policy ?? 'fast' }, networkMappingRef: { name: 'unused' } },
  });
  const size = opts.diskBytes ?? DISK_BYTES;
  const disks = diskIds.map((id, i) => (i === 0 ? { name: 'os', role: 'OS' as const, sourceDiskId: id, sizeBytes: size, targetBlobName: 'os.vhd' } : { name: `lun${i - 1}`, role: 'Data' as const, lun: i - 1, sourceDiskId: id, sizeBytes: size, targetBlobName: `lun${i - 1}.vhd` }));
  await vms.applyStatus(
    { namespace, name },
    {
      phase: 'InitialSync',
      observedGeneration: vm.metadata.generation,
      sourceLocation: location,
      cacheStorageAccountId: cacheAccountId,
      targetStorageAccountId: sb.targetAccountId,
      disks,
      targetResources: [
        { role: 'RestorePointCollection', id: rpc.id!, created: true },
        { role: 'CacheContainer', id: containerId(cacheAccountId), created: true },
        { role: 'ReplicaContainer', id: containerId(sb.targetAccountId), created: true },
      ],
      conditions: setCondition([], { type: 'ReplicationEnabled', status: 'True', reason: 'Registered', message: `${disks.length} disk(s) registered` }, vm.metadata.generation),
    },
    OPERATOR_FIELD_MANAGER,
  );
  return { name, namespace, sourceVmId: source.id!, diskIds, collection, replicaContainer: container, cacheContainer: container };
}

/** Writes `bytes` of random data at `offset` (4 MiB at a time). */
export async function writeRandom(blob: PageBlobClient, bytes: number, offset: number): Promise<void> {
  for (let done = 0; done < bytes; done += 4 * 1024 * 1024) {
    const n = Math.min(4 * 1024 * 1024, bytes - done);
    await blob.uploadPages(crypto.randomBytes(n), offset + done, n);
  }
}

export interface Workload {
  /** Writes and trims done so far. */
  readonly writes: number;
  readonly trims: number;
  readonly bytes: number;
  stop(): Promise<void>;
}

/**
 * Random writes (4 KiB–256 KiB) and trims (clear pages) inside the first `spanBytes` of every disk, plus
 * a sequence number stamped at offset 0 of each disk in order (disk 0 first, then disk 1, ...): an image
 * taken at one instant shows stamps that differ by at most one, first disk ahead.
 */
export function startWorkload(sb: DatapathSandbox, diskIds: string[], opts: { spanBytes?: number; pauseMs?: number; rateBytesPerSecond?: number } = {}): Workload {
  const blobs = diskIds.map((id) => diskBlob(sb, id));
  const span = opts.spanBytes ?? 16 * 1024 * 1024;
  let stopped = false;
  const stats = { writes: 0, trims: 0, bytes: 0 };
  const startedAt = Date.now();
  const page = (n: number) => n - (n % 512);
  const loop = (async () => {
    for (let seq = 1; !stopped; seq++) {
      const stamp = Buffer.alloc(512);
      stamp.writeUInt32LE(seq, 0);
      for (const blob of blobs) await blob.uploadPages(stamp, 0, 512);
      for (const blob of blobs) {
        const offset = page(512 + Math.floor(Math.random() * (span - 512 - 256 * 1024)));
        if (Math.random() < 0.2) {
          const n = page(4096 + Math.floor(Math.random() * 128 * 1024));
          await blob.clearPages(offset, n);
          stats.trims += 1;
        } else {
          const n = page(4096 + Math.floor(Math.random() * 252 * 1024));
          await blob.uploadPages(crypto.randomBytes(n), offset, n);
          stats.writes += 1;
          stats.bytes += n;
        }
      }
      if (opts.rateBytesPerSecond) {
        const ahead = stats.bytes / opts.rateBytesPerSecond - (Date.now() - startedAt) / 1000;
        if (ahead > 0) await new Promise((r) => setTimeout(r, ahead * 1000));
      } else if (opts.pauseMs) {
        await new Promise((r) => setTimeout(r, opts.pauseMs));
      }
    }
  })();
  return {
    get writes() {
      return stats.writes;
    },
    get trims() {
      return stats.trims;
    },
    get bytes() {
      return stats.bytes;
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** Sequence stamp at offset 0 of a blob (see startWorkload). */
export async function stampOf(blob: PageBlobClient): Promise<number> {
  return (await blob.downloadToBuffer(0, 512)).readUInt32LE(0);
}

export async function listRecoveryPoints(kc: KubeConfig, namespace: string, vmName: string): Promise<RecoveryPoint[]> {
  const client = new CustomResourceClient<RecoveryPoint>(kc, 'RecoveryPoint');
  const list = await client.list(namespace, `siterecovery.io/replicated-vm=${vmName}`);
  return list.items.sort((a, b) => (a.spec.cycle ?? 0) - (b.spec.cycle ?? 0));
}

/** The replica blob snapshot of one disk of a recovery point (read with Entra ID: an account the operator creates refuses its key). */
export function pointBlob(_sb: DatapathSandbox, point: RecoveryPoint, disk: string): PageBlobClient {
  const d = point.spec.disks.find((x) => x.name === disk)!;
  return new PageBlobClient(d.blobUrl, sandboxStorageCredential()).withSnapshot(d.snapshot);
}

/** Read access to the disk restore points of restore point sr-<cycle>, by source disk id. */
export async function sourcePointBlobs(sb: DatapathSandbox, vm: ProtectedVm, cycle: number): Promise<Map<string, PageBlobClient>> {
  const name = restorePointName(cycle);
  const rp = await sb.c.compute.restorePoints.get(vm.collection.resourceGroup, vm.collection.name, name);
  const sm = rp.sourceMetadata!.storageProfile!;
  const out = new Map<string, PageBlobClient>();
  for (const d of [sm.osDisk!, ...(sm.dataDisks ?? [])]) {
    const drp = d.diskRestorePoint!.id!.split('/').pop()!;
    const access = await sb.c.compute.diskRestorePoint.beginGrantAccessAndWait(vm.collection.resourceGroup, vm.collection.name, name, drp, { access: 'Read', durationInSeconds: 3600 }, poll);
    out.set(d.managedDisk!.id!.toLowerCase(), new PageBlobClient(access.accessSAS!, new AnonymousCredential()));
  }
  return out;
}

export const hashBlob = async (blob: PageBlobClient): Promise<string> => (await hashPageBlob(blob)).sha256;

/**
 * Checks a sealed point byte for byte: each disk's replica snapshot hashes like the disk restore point
 * of the same cycle. Returns the per-disk hashes.
 */
export async function verifyPoint(sb: DatapathSandbox, vm: ProtectedVm, point: RecoveryPoint): Promise<{ disk: string; replica: string; source: string }[]> {
  const sources = await sourcePointBlobs(sb, vm, point.spec.cycle!);
  const out: { disk: string; replica: string; source: string }[] = [];
  for (const d of point.spec.disks) {
    const source = sources.get(d.sourceDiskId!.toLowerCase());
    if (!source) throw new Error(`restore point of cycle ${point.spec.cycle} has no disk ${d.name}`);
    out.push({ disk: d.name, replica: await hashBlob(pointBlob(sb, point, d.name)), source: await hashBlob(source) });
  }
  return out;
}

export interface DatapathChild {
  identity: string;
  process: ChildProcess;
  exited: Promise<number | null>;
  output(): string;
  kill(signal: NodeJS.Signals): Promise<number | null>;
}

/** A datapath replica as a child process: `node src/cli/main.ts datapath` with the sandbox environment. */
export function startDatapathChild(sb: DatapathSandbox, kubeconfigPath: string, identity: string, opts: { namespace: string; cycleInterval: string; leaseDuration?: string; extraEnv?: Record<string, string>; nodeArgs?: string[]; extraArgs?: string[]; entry?: string }): DatapathChild {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), path.join(REPO, opts.entry ?? 'src/cli/main.ts'), 'datapath', ...(opts.extraArgs ?? []), '--metrics-port', '0', '--namespace', opts.namespace, '--lease-namespace', opts.namespace, '--lease-duration', opts.leaseDuration ?? '5s', '--cycle-interval', opts.cycleInterval, '--status-interval', '1s'], {
    cwd: REPO,
    env: { ...process.env, ...sb.env, KUBECONFIG: kubeconfigPath, POD_NAME: identity, LOG_FORMAT: 'json', LOG_LEVEL: 'info', NODE_OPTIONS: '', ...opts.extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  // DATAPATH_TEST_LOG_DIR=<dir> keeps each replica's whole log there (debugging).
  const logDir = process.env.DATAPATH_TEST_LOG_DIR;
  const file = logDir ? createWriteStream(path.join(logDir, `${opts.namespace}-${identity}.log`)) : undefined;
  const keep = (chunk: Buffer) => {
    file?.write(chunk);
    lines.push(chunk.toString());
    if (lines.length > 400) lines.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    identity,
    process: child,
    exited,
    output: () => lines.join(''),
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export function replicatedVms(kc: KubeConfig): CustomResourceClient<ReplicatedVM> {
  return new CustomResourceClient<ReplicatedVM>(kc, 'ReplicatedVM');
}

export type { CustomObject };
