// What the failover tests share: local Azure, a small source VM (its own resource group and network),
// a policy, a network mapping and the ReplicatedVM protecting it, plus disk and point hashing helpers.
// The operator and the datapath run in this process as the chart's service accounts (runInProcess), or
// are started by the caller, before protect().
import fs from 'node:fs';
import { PageBlobClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import type { KubeConfig } from '@kubernetes/client-node';
import type { FailoverRequest, RecoveryPoint, ReplicatedVMSpec } from '../../src/api/types.ts';
import type { AzureConfig } from '../../src/azure/clients.ts';
import { buildDatapath } from '../../src/datapath/datapath.ts';
import { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { buildOperator, type OperatorOptions } from '../../src/operator/run-operator.ts';
import { hashDisk } from '../../sandbox/src/workload/index.ts';
import { SANDBOX_PRINCIPALS, sandboxAccessToken, sandboxStorageCredential, type SandboxPrincipal } from '../../sandbox/src/storage/token.ts';
import { StaticTokenCredential } from '../../src/azure/credential.ts';
import { createSmallVm, startDatapathSandbox, type DatapathSandbox, type SmallVmShape } from './datapath-sandbox.ts';
import { chartServiceAccountKubeConfig } from './helm-rbac.ts';
import { createTestNamespace, testKubeConfig } from './kube.ts';
import { crClients, type Clients } from './operator-fixtures.ts';
import { waitForObject } from './wait.ts';

export interface FailoverFixture {
  sb: DatapathSandbox;
  kc: KubeConfig;
  ns: string;
  clients: Clients;
  failovers: CustomResourceClient<FailoverRequest>;
  rg: string;
  vmName: string;
  sourceVmId: string;
  /** OS disk first, then data disks by LUN. */
  sourceDiskIds: string[];
  sourceNicId: string;
  sourceIp: string | undefined;
  /**
   * Runs the operator (with `operator` options) and a datapath replica here, each with exactly the
   * permissions the chart grants it, against `cluster` (default: the test cluster, `kc`).
   */
  runInProcess(identity: string, operator?: Partial<OperatorOptions>, cluster?: KubeConfig): Promise<void>;
  /** Stops the datapath runInProcess started; the operator goes on (a sync-now then never gets an answer). */
  stopDatapath(): Promise<void>;
  /** Stops the operator and the datapath runInProcess started; local Azure goes on. */
  stopInProcess(): Promise<void>;
  /** Applies the policy, the mapping and the ReplicatedVM (as `protect` does) through `to`. */
  applyManifests(to: Clients): Promise<void>;
  /** Stops what runInProcess started and local Azure. */
  close(): Promise<void>;
  /** Creates the policy, the mapping and the ReplicatedVM, and waits until it sealed `cycles` points. */
  protect(cycles?: number): Promise<void>;
  /**
   * One more source VM (after protect(): same policy and target region), in its own resource group and
   * network (`<rg>-vnet`, mapped by NetworkMapping `<rg>-net`), perhaps in another source region; waits
   * until it sealed `cycles` points. Returns its ARM id and disk ids (OS first).
   */
  protectVm(vm: { rg: string; name: string; location: string; disks?: number; shape?: SmallVmShape }, cycles?: number): Promise<{ sourceVmId: string; diskIds: string[] }>;
  /** sha256 of a managed disk's first `diskBytes` (imported disks are rounded up to whole GiB). */
  diskHash(diskId: string): Promise<string>;
  /** The managed disk ids of a VM, OS disk first. */
  diskIdsOf(resourceGroup: string, name: string): Promise<string[]>;
  /** The replica snapshot of a point's disk (in whatever target account the operator created). */
  pointSnapshot(point: RecoveryPoint, disk: string): PageBlobClient;
}

export async function startFailoverFixture(options: {
  namespacePrefix: string;
  rg: string;
  vmName?: string;
  disks?: number;
  diskBytes: number;
  /** Azure settings of the operator and the datapath run in process (e.g. shorter deadlines). */
  azure?: Partial<AzureConfig>;
  /** How the source VM differs from the plain small VM (zone, disk type, security type, tags, ...). */
  shape?: SmallVmShape;
  /** More fields of the ReplicatedVM's spec (size fallbacks, zone mappings, disk types, ...). */
  spec?: Partial<ReplicatedVMSpec>;
  /**
   * The operator and the datapath call Azure as distinct principals (the sandbox's `operator` and `datapath`
   * tokens) rather than the sandbox's own, so that the ARM emulator's role assignments (`sb.arm.rbac`) apply.
   */
  principals?: boolean;
  /** Subscriptions the ARM emulator serves beside the operator's (a ReplicatedVM's spec.targetSubscriptionId). */
  moreSubscriptionIds?: string[];
}): Promise<FailoverFixture> {
  const sb = await startDatapathSandbox(options.moreSubscriptionIds ? { moreSubscriptionIds: options.moreSubscriptionIds } : {});
  const kc = testKubeConfig();
  const ns = await createTestNamespace(kc, options.namespacePrefix);
  const clients = crClients(kc);
  const { rg, diskBytes } = options;
  const vmName = options.vmName ?? 'app';
  await createSmallVm(sb, rg, vmName, options.disks ?? 2, diskBytes, undefined, options.shape);
  const diskAccount = () => new StorageSharedKeyCredential(sb.storage.diskAccount, sb.storage.accountKey(sb.storage.diskAccount));
  const diskIdsOf = async (resourceGroup: string, name: string) => {
    const vm = await sb.c.compute.virtualMachines.get(resourceGroup, name);
    return [vm.storageProfile!.osDisk!.managedDisk!.id!, ...(vm.storageProfile!.dataDisks ?? []).map((d) => d.managedDisk!.id!)];
  };
  const source = await sb.c.compute.virtualMachines.get(rg, vmName);
  const nic = await sb.c.network.networkInterfaces.get(rg, `${vmName}-nic`);
  const azure = { ...sb.azure, ...options.azure };
  const auditFile = process.env.SITE_RECOVERY_RBAC_AUDIT;
  const principals = options.principals === true || auditFile !== undefined;
  const as = (principal: SandboxPrincipal): AzureConfig => (principals ? { ...azure, credential: new StaticTokenCredential(sandboxAccessToken(principal)) } : azure);
  const stop = new AbortController();
  let stopRun = new AbortController();
  let stopDatapath = new AbortController();
  const running: Array<Promise<void>> = [];
  let datapath: Promise<void> | undefined;
  const mappingSpec = (sourceRg: string) => ({ sourceVirtualNetworkId: `/subscriptions/${sb.arm.subscriptionId}/resourceGroups/${sourceRg}/providers/Microsoft.Network/virtualNetworks/${sourceRg}-vnet`, targetLocation: 'northeurope', targetResourceGroup: `${sourceRg}-asr` });
  const vmSpec = (sourceVirtualMachineId: string, mapping: string) => ({ ...options.spec, sourceVirtualMachineId, targetLocation: 'northeurope', policyRef: { name: 'fast' }, networkMappingRef: { name: mapping } });
  const applyManifests = async (to: Clients) => {
    await to.policies.create(ns, { metadata: { name: 'fast' }, spec: { recoveryPointInterval: '1m', retention: '1h' } });
    await to.mappings.create(ns, { metadata: { name: 'net' }, spec: mappingSpec(rg) });
    await to.vms.create(ns, { metadata: { name: vmName }, spec: vmSpec(source.id as string, 'net') });
  };
  /** The network mapping of `<sourceRg>-vnet` and the ReplicatedVM of a source VM, protected with `cycles` sealed points. */
  const protectSourceVm = async (sourceRg: string, mapping: string, name: string, sourceVmId: string, cycles: number) => {
    await clients.mappings.create(ns, { metadata: { name: mapping }, spec: mappingSpec(sourceRg) });
    await clients.vms.create(ns, { metadata: { name }, spec: vmSpec(sourceVmId, mapping) });
    await waitForObject(kc, clients.vms, { namespace: ns, name }, (o) => o?.status?.phase === 'Protected' && (o.status.replication?.cycle ?? 0) >= cycles, `${name} protected with ${cycles} sealed cycle(s)`, 180_000);
  };
  return {
    sb,
    kc,
    ns,
    clients,
    failovers: new CustomResourceClient<FailoverRequest>(kc, 'FailoverRequest'),
    rg,
    vmName,
    sourceVmId: source.id as string,
    sourceDiskIds: await diskIdsOf(rg, vmName),
    sourceNicId: nic.id as string,
    sourceIp: nic.ipConfigurations?.[0]?.privateIPAddress,
    diskIdsOf,
    async runInProcess(identity, operator = {}, cluster = kc) {
      const operatorKc = await chartServiceAccountKubeConfig(cluster, 'operator', ns);
      const datapathKc = await chartServiceAccountKubeConfig(cluster, 'datapath', ns);
      const run = AbortSignal.any([stop.signal, stopRun.signal]);
      running.push(buildOperator({ kubeConfig: operatorKc, azure: as('operator'), namespace: ns, workers: 4, ...operator }).run(run));
      const signal = AbortSignal.any([run, stopDatapath.signal]);
      datapath = buildDatapath({ kubeConfig: datapathKc, azure: as('datapath'), identity, namespace: ns, watchNamespace: ns, port: 0, leaseDurationMs: 3000, worker: { cycleIntervalMs: 1500, statusIntervalMs: 500, retryMs: 300 } }).run(signal);
      running.push(datapath);
    },
    async stopDatapath() {
      stopDatapath.abort();
      await datapath?.catch(() => undefined);
    },
    async stopInProcess() {
      stopRun.abort();
      await Promise.allSettled(running.splice(0));
      stopRun = new AbortController();
      stopDatapath = new AbortController();
    },
    applyManifests,
    async close() {
      stop.abort();
      await Promise.allSettled(running);
      if (auditFile) mergeRbacAudit(auditFile, sb.arm.rbac.audit());
      await sb.close();
    },
    async protect(cycles = 1) {
      await applyManifests(clients);
      await waitForObject(kc, clients.vms, { namespace: ns, name: vmName }, (o) => o?.status?.phase === 'Protected' && (o.status.replication?.cycle ?? 0) >= cycles, `protected with ${cycles} sealed cycle(s)`, 180_000);
    },
    async protectVm(vm, cycles = 1) {
      const created = await createSmallVm(sb, vm.rg, vm.name, vm.disks ?? 2, diskBytes, vm.location, vm.shape);
      await protectSourceVm(vm.rg, `${vm.rg}-net`, vm.name, created.id as string, cycles);
      return { sourceVmId: created.id as string, diskIds: await diskIdsOf(vm.rg, vm.name) };
    },
    diskHash: (diskId) => hashDisk(sb.storage.diskBlobUrl(diskId), { length: diskBytes, credential: diskAccount() }),
    pointSnapshot(point, disk) {
      const d = point.spec.disks.find((x) => x.name === disk)!;
      // Entra ID: the accounts the operator creates refuse their key (allowSharedKeyAccess false).
      return new PageBlobClient(d.blobUrl, sandboxStorageCredential()).withSnapshot(d.snapshot);
    },
  };
}

/**
 * Audit mode (SITE_RECOVERY_RBAC_AUDIT=<file>): the operator and the datapath run as their own principals and,
 * at close(), the ARM actions each used are added to <file> (`{ operator: [...], datapath: [...] }`, sorted):
 * how deploy/azure-roles/*.json were derived (docs/security.md).
 */
function mergeRbacAudit(file: string, audit: Record<string, string[]>): void {
  const merged = (fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {}) as Record<string, string[]>;
  for (const who of ['operator', 'datapath'] as const) {
    const seen = new Map((merged[who] ?? []).map((a) => [a.toLowerCase(), a]));
    for (const a of audit[SANDBOX_PRINCIPALS[who]] ?? []) if (!seen.has(a.toLowerCase())) seen.set(a.toLowerCase(), a);
    merged[who] = [...seen.values()].sort((x, y) => x.localeCompare(y));
  }
  fs.writeFileSync(file, `${JSON.stringify(merged, null, 2)}\n`);
}

/** A FailoverRequest that reached an end (or a point where it waits for the user). */
export const finished = (o: FailoverRequest | undefined): boolean => ['Succeeded', 'Failed', 'Committed'].includes(o?.status?.phase ?? '');
