/**
 * The sample of `start`: the ReplicationPolicy, NetworkMapping and ReplicatedVM of deploy/examples/ (with
 * the sandbox's subscription id instead of zeros), and the source VM they protect, created in the sandbox
 * with content on its disks before replication starts (what an image leaves on the OS disk, a share of
 * each data disk), so that the initial sync has something to copy.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeConfig } from '@kubernetes/client-node';
import type { StorageSharedKeyCredential } from '@azure/storage-blob';
import YAML from 'yaml';
import type { NetworkMapping, ReplicatedVM, ReplicationPolicy } from '../../../src/api/types.ts';
import { parseArmId, type ParsedArmId } from '../../../src/azure/arm-id.ts';
import { CustomResourceClient, type CustomObject } from '../../../src/kube/custom-resources.ts';
import { isConflict } from '../../../src/kube/errors.ts';
import { formatBytes } from '../../../src/cli/live-view.ts';
import { armClients, diskAccess, type SandboxConnection } from '../client.ts';
import { createSandboxVm, OS_IMAGE_BYTES } from '../vm.ts';
import { fillDisk } from '../workload/index.ts';
import type { StartConsole } from './console.ts';
import { NAMESPACE } from './processes.ts';

const SOURCE_LOCATION = 'westeurope';
const EXAMPLES = fileURLToPath(new URL('../../../deploy/examples/', import.meta.url));
const EXAMPLE_SUBSCRIPTION = '00000000-0000-0000-0000-000000000000';
/** The policy's interval on the sandbox (the sample says 5m; 1m is the minimum). */
export const SAMPLE_POLICY_INTERVAL = '1m';

/** `--fill`: a percentage in (0, 100], e.g. 5%, as a fraction. */
export function fillFraction(text: string): number {
  const m = /^(\d+(?:\.\d+)?)%$/.exec(text.trim());
  const value = m ? Number(m[1]) / 100 : Number.NaN;
  if (!(value > 0 && value <= 1)) throw new Error(`--fill must be a percentage in (0, 100], e.g. 5%; got ${JSON.stringify(text)}`);
  return value;
}

export interface Sample {
  policy: ReplicationPolicy;
  mapping: NetworkMapping;
  rvm: ReplicatedVM;
  /** The recoveryPointInterval of deploy/examples/ (the sandbox's is SAMPLE_POLICY_INTERVAL). */
  samplePolicyInterval: string | undefined;
  /** The source VM the ReplicatedVM names, and the virtual network the NetworkMapping maps. */
  source: ParsedArmId;
  vnet: ParsedArmId;
}

export interface SampleDisk {
  url: string;
  credential: StorageSharedKeyCredential;
}

/** Reads a deploy/examples manifest for the sandbox (the sandbox's subscription id instead of zeros). */
function example<T>(file: string, subscriptionId: string): T {
  const text = fs.readFileSync(path.join(EXAMPLES, file), 'utf8').replaceAll(EXAMPLE_SUBSCRIPTION, subscriptionId);
  return YAML.parse(text) as T;
}

export function loadSample(subscriptionId: string): Sample {
  const policy = example<ReplicationPolicy>('replicationpolicy.yaml', subscriptionId);
  const mapping = example<NetworkMapping>('networkmapping.yaml', subscriptionId);
  const rvm = example<ReplicatedVM>('replicatedvm.yaml', subscriptionId);
  const samplePolicyInterval = policy.spec.recoveryPointInterval;
  policy.spec.recoveryPointInterval = SAMPLE_POLICY_INTERVAL;
  return { policy, mapping, rvm, samplePolicyInterval, source: parseArmId(rvm.spec.sourceVirtualMachineId), vnet: parseArmId(mapping.spec.sourceVirtualNetworkId) };
}

/** The source VM with an OS disk and two data disks; its disks' page blobs, OS disk first. */
export async function createSampleVm(ui: StartConsole, conn: SandboxConnection, sample: Sample, dataDiskGiB: number): Promise<SampleDisk[]> {
  const { source, vnet } = sample;
  const vm = await ui.step(`source VM ${source.name} in ${source.resourceGroup} (${SOURCE_LOCATION}): OS disk, 2 data disks of ${dataDiskGiB} GiB`, () =>
    createSandboxVm(armClients(conn), {
      name: source.name,
      resourceGroup: source.resourceGroup,
      location: SOURCE_LOCATION,
      vnet: vnet.name,
      dataDisks: 2,
      dataDiskSizeGiB: dataDiskGiB,
      osDiskSizeGiB: Math.max(1, dataDiskGiB),
    }),
  );
  const diskIds = [vm.storageProfile!.osDisk!.managedDisk!.id!, ...(vm.storageProfile!.dataDisks ?? []).map((d) => d.managedDisk!.id!)];
  return diskIds.map((id) => diskAccess(conn, id));
}

/** The OS disk gets OS_IMAGE_BYTES, each data disk `fill` (`--fill`, e.g. 5%) of its size. */
export async function fillSampleDisks(ui: StartConsole, disks: SampleDisk[], fill: string, signal: AbortSignal): Promise<void> {
  const fraction = fillFraction(fill);
  await ui.step(`disk content written (OS ${formatBytes(OS_IMAGE_BYTES)}, ${fill} of each data disk)`, async () => {
    let bytes = await fillDisk(disks[0]!.url, { credential: disks[0]!.credential, bytes: OS_IMAGE_BYTES, signal });
    for (const [i, d] of disks.slice(1).entries()) bytes += await fillDisk(d.url, { credential: d.credential, fraction, seed: i + 1, signal });
    return bytes;
  });
}

/** Creates the sample objects (those that exist already are left as they are) and writes them to `<dir>/sample.yaml`. */
export async function applySample(ui: StartConsole, kubeConfig: KubeConfig, dir: string, sample: Sample): Promise<void> {
  const shownDir = ui.rel(dir);
  await ui.step(`applied deploy/examples/{replicationpolicy,networkmapping,replicatedvm}.yaml (recoveryPointInterval ${sample.samplePolicyInterval} → ${SAMPLE_POLICY_INTERVAL}; also in ${shownDir}/sample.yaml)`, () =>
    createSampleObjects(kubeConfig, dir, sample),
  );
}

async function createSampleObjects(kubeConfig: KubeConfig, dir: string, sample: Sample): Promise<void> {
  const docs: Array<[CustomResourceClient<CustomObject>, CustomObject]> = [
    [new CustomResourceClient(kubeConfig, 'ReplicationPolicy'), sample.policy],
    [new CustomResourceClient(kubeConfig, 'NetworkMapping'), sample.mapping],
    [new CustomResourceClient(kubeConfig, 'ReplicatedVM'), sample.rvm],
  ];
  fs.writeFileSync(path.join(dir, 'sample.yaml'), docs.map(([, d]) => YAML.stringify(d)).join('---\n'));
  for (const [client, doc] of docs) {
    await client.create(NAMESPACE, { ...doc, metadata: { ...doc.metadata, namespace: NAMESPACE } }).catch((error: unknown) => {
      if (!isConflict(error)) throw error;
    });
  }
}
