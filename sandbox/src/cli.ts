// `site-recovery sandbox ...` commands (DESIGN.md §6).
import type { Command, CommanderError } from 'commander';
import { Option } from 'commander';
import { armGet } from './arm-get.ts';
import { parseResourceId } from './arm/paths.ts';
import { armClients, connectSandbox, diskAccess } from './client.ts';
import { registerDiskAdd } from './disk-add.ts';
import type { SandboxConnection } from './client.ts';
import { endOutage, REGION_DOWN_CODE, startOutage } from './outage.ts';
import { regionName } from './outages.ts';
import { DEFAULT_SANDBOX_DIR, isAlive } from './state.ts';
import { parseDuration, parseRate, parseSize, sizeToGiB } from './units.ts';
import { armStats } from './throttle.ts';
import { runSandboxUp, sandboxDown } from './up.ts';
import { createSandboxVm, OS_IMAGE_BYTES } from './vm.ts';
import { fillDisk, hashDisk, runWorkload } from './workload/index.ts';
import type { WorkloadPattern } from './workload/index.ts';

const int = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
};

const dirOption = (): Option =>
  new Option('--dir <dir>', 'sandbox state directory').default(process.env.SITE_RECOVERY_SANDBOX_DIR ?? DEFAULT_SANDBOX_DIR);

/** Registers `site-recovery sandbox ...` subcommands. */
export function registerSandboxCommands(program: Command): void {
  const sandbox = program.command('sandbox').description('Local Kubernetes control plane and local Azure for tests and first runs');
  registerUp(sandbox);
  registerDown(sandbox);
  registerVmCreate(sandbox.command('vm').description('sandbox virtual machines'));
  registerWorkload(sandbox);
  registerDiskHash(sandbox);
  registerDiskAdd(sandbox);
  registerOutage(sandbox);
  registerArmStats(sandbox);
  registerArmGet(sandbox.command('arm').description('the ARM emulator'));
}

function registerArmGet(arm: Command): void {
  arm
    .command('get <id>')
    .description("print a resource's JSON as ARM returns it")
    .option('--api-version <version>', 'api-version of the GET (default: the provider\'s current stable one)')
    .addOption(dirOption())
    .action(async (id: string, o: { apiVersion?: string; dir: string }) => {
      console.log(await armGet(connectSandbox(o.dir), id, o.apiVersion));
    });
}

const positive = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(v)}`);
  return n;
};

function registerUp(sandbox: Command): void {
  sandbox
    .command('up')
    .description('start local storage, the ARM emulator and the Kubernetes control plane in the foreground; writes <dir>/env')
    .addOption(dirOption())
    .option('--persist', 'keep all state in <dir> across restarts', false)
    .option('--no-kube', 'do not start the Kubernetes control plane')
    .option('--arm-port <port>', 'ARM emulator port (default: previous one with --persist, else any)', int('--arm-port'))
    .option('--storage-port <port>', 'storage endpoint port', int('--storage-port'))
    .option('--arm-latency <ms>', 'duration of ARM long-running operations in ms', int('--arm-latency'), 0)
    .option('--arm-throttling', "enforce ARM's token buckets per subscription, region and principal (429 + Retry-After)", false)
    .option('--arm-throttling-scale <factor>', 'multiply bucket sizes and refill rates (e.g. 0.01 for small tests)', positive('--arm-throttling-scale'))
    .option('--azure-rbac', 'enforce Azure role assignments: the operator and datapath principals hold exactly deploy/azure-roles/*.json (ARM: 403 AuthorizationFailed otherwise; blob storage: 403 AuthorizationPermissionMismatch without the data action)', false)
    .action(async (o: { dir: string; persist: boolean; kube: boolean; armPort?: number; storagePort?: number; armLatency: number; armThrottling: boolean; armThrottlingScale?: number; azureRbac: boolean }) => {
      if (o.armThrottlingScale !== undefined && !o.armThrottling) throw new Error('--arm-throttling-scale needs --arm-throttling');
      await runSandboxUp({
        dir: o.dir,
        persist: o.persist,
        kube: o.kube,
        armLatencyMs: o.armLatency,
        azureRbac: o.azureRbac,
        ...(o.armThrottling ? { armThrottling: o.armThrottlingScale !== undefined ? { scale: o.armThrottlingScale } : {} } : {}),
        ...(o.armPort !== undefined ? { armPort: o.armPort } : {}),
        ...(o.storagePort !== undefined ? { storagePort: o.storagePort } : {}),
      });
    });
}

function registerDown(sandbox: Command): void {
  sandbox
    .command('down')
    .description('stop the sandbox running in <dir>')
    .addOption(dirOption())
    .action(async (o: { dir: string }) => {
      const r = await sandboxDown(o.dir);
      console.log(r === 'stopped' ? 'sandbox stopped' : 'no sandbox running');
    });
}

function registerVmCreate(vm: Command): void {
  vm.command('create <name>')
    .description('create a source VM (OS disk with content, N empty data disks, NIC in subnet default of <RG>-vnet); prints the VM id last')
    .requiredOption('-g, --resource-group <rg>', 'resource group (created when absent)')
    .requiredOption('-l, --location <location>', 'Azure location, e.g. westeurope')
    .option('--disks <n>', 'number of data disks', int('--disks'), 1)
    .option('--disk-size <size>', 'data disk size, e.g. 64MiB or 1GiB', '1GiB')
    .option('--os-disk-size <size>', 'OS disk size (whole GiB)', '4GiB')
    .option('--vnet <name>', 'virtual network (default <RG>-vnet, created when absent)')
    .addOption(new Option('--zone <zone>', 'availability zone').choices(['1', '2', '3']))
    .option('--size <size>', 'VM size', 'Standard_D2s_v3')
    .addOption(new Option('--security-type <type>', 'security type (TrustedLaunch: secure boot and vTPM on)').choices(['Standard', 'TrustedLaunch']).default('Standard'))
    .option('--tags <tags>', 'tags, e.g. app=web,env=prod', parseTags)
    .option('--nics <n>', 'number of network interfaces (the first is primary)', int('--nics'), 1)
    .option('--nsg', 'a network security group <name>-nsg on every NIC', false)
    .option('--public-ip', 'a Standard static public IP address <name>-pip on the primary NIC', false)
    .addOption(dirOption())
    .action(vmCreate);
}

interface VmCreateOptions {
  resourceGroup: string;
  location: string;
  disks: number;
  diskSize: string;
  osDiskSize: string;
  vnet?: string;
  zone?: string;
  size: string;
  securityType: 'Standard' | 'TrustedLaunch';
  tags?: Record<string, string>;
  nics: number;
  nsg: boolean;
  publicIp: boolean;
  dir: string;
}

/** `k=v,k2=v2` as tags. */
function parseTags(text: string): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const pair of text.split(',').filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at < 1) throw new Error(`--tags: ${JSON.stringify(pair)} is not key=value`);
    tags[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return tags;
}

async function vmCreate(name: string, o: VmCreateOptions): Promise<void> {
  if (o.nics < 1) throw new Error('--nics must be at least 1');
  const dataDiskSizeBytes = parseSize(o.diskSize);
  if (dataDiskSizeBytes < 1024 * 1024 || dataDiskSizeBytes % (1024 * 1024) !== 0) throw new Error(`--disk-size ${JSON.stringify(o.diskSize)} must be a whole number of MiB (e.g. 64MiB, 1GiB)`);
  const conn = connectSandbox(o.dir);
  const vmRes = await createSandboxVm(armClients(conn), {
    name,
    resourceGroup: o.resourceGroup,
    location: o.location,
    dataDisks: o.disks,
    dataDiskSizeGiB: Math.ceil(dataDiskSizeBytes / 1024 ** 3),
    dataDiskSizeBytes,
    osDiskSizeGiB: sizeToGiB(o.osDiskSize),
    ...(o.vnet ? { vnet: o.vnet } : {}),
    ...(o.zone ? { zone: o.zone } : {}),
    vmSize: o.size,
    securityType: o.securityType,
    ...(o.tags ? { tags: o.tags } : {}),
    nics: o.nics,
    nsg: o.nsg,
    publicIp: o.publicIp,
  });
  const osDiskId = vmRes.storageProfile?.osDisk?.managedDisk?.id;
  if (osDiskId) {
    const d = diskAccess(conn, osDiskId);
    await fillDisk(d.url, { credential: d.credential, bytes: OS_IMAGE_BYTES });
  }
  console.log(vmRes.id);
}

function registerWorkload(sandbox: Command): void {
  sandbox
    .command('workload <vmId>')
    .description('write to all disks of a sandbox VM at a given rate')
    .requiredOption('--rate <rate>', 'write rate, e.g. 5MiB/s')
    .requiredOption('--duration <duration>', 'how long, e.g. 60s')
    .addOption(new Option('--pattern <pattern>', 'write pattern').choices(['random', 'sequential', 'hotset', 'trim', 'encrypt']).default('random'))
    .addOption(dirOption())
    .action(workload);
}

async function workload(vmId: string, o: { rate: string; duration: string; pattern: WorkloadPattern; dir: string }): Promise<void> {
  const rateBytesPerSec = parseRate(o.rate);
  const durationMs = parseDuration(o.duration);
  const conn = connectSandbox(o.dir);
  const { disks, location } = await vmDisks(conn, vmId);
  const access = disks.map((d) => diskAccess(conn, d.id));
  const controller = new AbortController();
  const stop = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const r = await runWorkload({
      diskBlobUrls: access.map((a) => a.url),
      credential: access[0]!.credential,
      rateBytesPerSec,
      durationMs,
      pattern: o.pattern,
      signal: controller.signal,
    }).catch((err: unknown) => {
      // The VM's region went down (`sandbox outage`): the VM stops, and so does its workload.
      if ((err as { code?: unknown }).code !== REGION_DOWN_CODE) throw err;
      process.stderr.write(`workload stopped: region ${location} is down (sandbox outage)\n`);
      process.exitCode = 1;
      return undefined;
    });
    if (!r) return;
    const mib = (n: number): string => (n / 1024 ** 2).toFixed(1);
    console.log(
      `wrote ${mib(r.bytesWritten)} MiB (${r.writes} writes), cleared ${mib(r.bytesCleared)} MiB in ${(r.elapsedMs / 1000).toFixed(1)} s to ${disks
        .map((d) => d.label)
        .join(', ')}`,
    );
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

function registerDiskHash(sandbox: Command): void {
  sandbox
    .command('disk-hash <id>')
    .description('sha256 of a managed disk or snapshot; for a VM one line per disk: os <sha256>, lun<N> <sha256>')
    .addOption(dirOption())
    .action(diskHash);
}

async function diskHash(id: string, o: { dir: string }): Promise<void> {
  const conn = connectSandbox(o.dir);
  const hash = (diskId: string): Promise<string> => {
    const d = diskAccess(conn, diskId);
    return hashDisk(d.url, { credential: d.credential });
  };
  const parts = parseResourceId(id);
  const type = parts ? `${parts.ns}/${parts.types.join('/')}`.toLowerCase() : '';
  if (type === 'microsoft.compute/virtualmachines') {
    for (const d of (await vmDisks(conn, id)).disks) console.log(`${d.label} ${await hash(d.id)}`);
    return;
  }
  if (!/^microsoft\.compute\/(disks|snapshots|restorepointcollections\/restorepoints\/diskrestorepoints)$/.test(type)) {
    throw new Error(`not a VM, managed disk, snapshot or disk restore point id: ${id}`);
  }
  const c = armClients(conn).compute;
  // The resource must exist in ARM (a 404 here is the user's answer).
  if (parts!.types.length === 1) {
    if (type.endsWith('disks')) await c.disks.get(parts!.rg, parts!.names[0]!);
    else await c.snapshots.get(parts!.rg, parts!.names[0]!);
  } else {
    await c.diskRestorePoint.get(parts!.rg, parts!.names[0]!, parts!.names[1]!, parts!.names[2]!);
  }
  console.log(await hash(id));
}

/** Disks of a VM in DESIGN order: OS disk, then data disks by LUN; and the VM's location. */
async function vmDisks(conn: SandboxConnection, vmId: string): Promise<{ disks: { label: string; id: string }[]; location: string }> {
  const parts = parseResourceId(vmId);
  if (!parts || `${parts.ns}/${parts.types.join('/')}`.toLowerCase() !== 'microsoft.compute/virtualmachines') {
    throw new Error(`not a virtual machine id: ${vmId}`);
  }
  const vm = await armClients(conn).compute.virtualMachines.get(parts.rg, parts.names[0]!);
  const sp = vm.storageProfile!;
  const disks = [
    { label: 'os', id: sp.osDisk!.managedDisk!.id! },
    ...[...(sp.dataDisks ?? [])].sort((a, b) => a.lun - b.lun).map((d) => ({ label: `lun${d.lun}`, id: d.managedDisk!.id! })),
  ];
  return { disks, location: vm.location };
}

/** `sandbox outage REGION` / `sandbox restore REGION`: one line each; usage errors (no REGION, no sandbox) one line, exit 2. */
function registerOutage(sandbox: Command): void {
  const command = (name: string, description: string, run: (conn: SandboxConnection, region: string) => Promise<string>): void => {
    sandbox
      .command(`${name} <region>`)
      .description(description)
      .addOption(dirOption())
      .exitOverride((e: CommanderError): never => process.exit(e.exitCode === 0 ? 0 : 2))
      .action(async (region: string, o: { dir: string }) => console.log(await run(outageConnection(o.dir), region).catch(noSandbox)));
  };
  command('outage', 'take a region of the running sandbox down: ARM requests on its resources fail, its storage accounts, disks and VMs stop answering', async (conn, region) => {
    const outage = await startOutage(conn, region);
    return `region ${outage.region} is down (sandbox outage): ARM requests on its resources fail, its storage and VMs do not answer`;
  });
  command('restore', 'bring a region of the running sandbox back after `sandbox outage`, its data unchanged', async (conn, region) =>
    (await endOutage(conn, region)) ? `region ${regionName(region)} is back` : `region ${regionName(region)} was not down`,
  );
}

/** The running sandbox of `dir`, or exit 2 with one line. */
function outageConnection(dir: string): SandboxConnection {
  let conn: SandboxConnection;
  try {
    conn = connectSandbox(dir);
  } catch (err) {
    return noSandbox(err);
  }
  if (conn.state && !isAlive(conn.state.pid)) return noSandbox(new Error(`no sandbox running in ${conn.dir} (pid ${conn.state.pid} is gone)`));
  return conn;
}

function noSandbox(err: unknown): never {
  const cause = (err as { cause?: { code?: string } }).cause?.code;
  const message = cause === 'ECONNREFUSED' ? 'no sandbox running: its ARM endpoint refuses connections' : (err as Error).message;
  process.stderr.write(`${message.split('\n')[0]}\n`);
  process.exit(2);
}

/** `sandbox arm-stats [--reset]`: JSON of the ARM requests counted (arm/stats.ts); no sandbox: one line, exit 2. */
function registerArmStats(sandbox: Command): void {
  sandbox
    .command('arm-stats')
    .description('print JSON: ARM reads, writes, deletes and throttled (429) answers, by operation and by client (User-Agent)')
    .option('--reset', 'start counting again after printing', false)
    .addOption(dirOption())
    .exitOverride((e: CommanderError): never => process.exit(e.exitCode === 0 ? 0 : 2))
    .action(async (o: { reset: boolean; dir: string }) => {
      const stats = await armStats(outageConnection(o.dir), { reset: o.reset }).catch(noSandbox);
      console.log(JSON.stringify(stats, null, 2));
    });
}
