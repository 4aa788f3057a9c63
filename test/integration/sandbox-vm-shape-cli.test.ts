// `site-recovery sandbox vm create` with the shape options of DESIGN.md §6 (--size, --security-type, --tags,
// --zone, --nics, --nsg, --disk-size in MiB or GiB) and `sandbox arm get ID`, as a user runs them against `sandbox
// up` (without the Kubernetes control plane). The VM is read back through the official SDK and through
// `arm get`, whose output is ARM's own JSON (properties nested under `properties`, not the SDK's model).
// Usage errors are refused with a message and a non-zero exit.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { armClients, connectSandbox } from '../../sandbox/src/client.ts';

const run = promisify(execFile);
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- ARM's JSON, read field by field
type ArmJson = Record<string, any>;
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const node = path.join(repo, 'node_modules/.bin/node');
const main = path.join(repo, 'src/cli/main.ts');

let tmp: string;
let dir: string;
let exited: Promise<number | null>;

const cli = async (...args: string[]): Promise<string[]> => {
  const { stdout } = await run(node, [main, 'sandbox', ...args, '--dir', dir], { cwd: tmp, maxBuffer: 1 << 22 });
  return stdout.trim().split('\n');
};

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sandbox-vmshape-'));
  dir = path.join(tmp, 'sb');
  const child = spawn(node, [main, 'sandbox', 'up', '--dir', dir, '--no-kube'], { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmp });
  exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = readline.createInterface({ input: child.stdout });
  await new Promise<void>((resolve, reject) => {
    lines.on('line', (l) => {
      if (l.startsWith('sandbox ready')) resolve();
    });
    void exited.then((code) => reject(new Error(`sandbox up exited (${code}): ${stderr.slice(-2000)}`)));
  });
});

afterAll(async () => {
  if (dir) await cli('down').catch(() => undefined);
  await exited;
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('sandbox vm create with a shape, and arm get', () => {
  it('creates a Trusted Launch VM with its size, tags, zone, NICs with an NSG and MiB-sized data disks; arm get prints ARM\'s JSON', async () => {
    const out = await cli('vm', 'create', 'tl1', '-g', 'rg-shape', '-l', 'westeurope', '--disks', '2', '--disk-size', '64MiB', '--os-disk-size', '1GiB',
      '--size', 'Standard_D4s_v5', '--security-type', 'TrustedLaunch', '--tags', 'app=web,env=prod', '--zone', '2', '--nics', '2', '--nsg');
    const vmId = out[out.length - 1]!;
    expect(vmId).toMatch(/\/resourceGroups\/rg-shape\/providers\/Microsoft\.Compute\/virtualMachines\/tl1$/);

    const c = armClients(connectSandbox(dir));
    const vm = await c.compute.virtualMachines.get('rg-shape', 'tl1');
    expect(vm.hardwareProfile?.vmSize).toBe('Standard_D4s_v5');
    expect(vm.securityProfile).toEqual({ securityType: 'TrustedLaunch', uefiSettings: { secureBootEnabled: true, vTpmEnabled: true } });
    expect(vm.tags).toEqual({ app: 'web', env: 'prod' });
    expect(vm.zones).toEqual(['2']);
    expect(vm.networkProfile?.networkInterfaces?.map((n) => [n.id?.split('/').pop(), n.primary])).toEqual([['tl1-nic', true], ['tl1-nic2', false]]);
    for (const nic of ['tl1-nic', 'tl1-nic2']) {
      expect((await c.network.networkInterfaces.get('rg-shape', nic)).networkSecurityGroup?.id).toMatch(/\/networkSecurityGroups\/tl1-nsg$/);
    }
    const data = await Promise.all((vm.storageProfile?.dataDisks ?? []).map((d) => c.compute.disks.get('rg-shape', d.name!)));
    expect(data.map((d) => [d.diskSizeBytes, d.zones])).toEqual([[64 * 1024 * 1024, ['2']], [64 * 1024 * 1024, ['2']]]);
    const osDisk = await c.compute.disks.get('rg-shape', vm.storageProfile!.osDisk!.name!);
    expect([osDisk.hyperVGeneration, osDisk.securityProfile?.securityType]).toEqual(['V2', 'TrustedLaunch']);
    expect((await c.compute.virtualMachines.instanceView('rg-shape', 'tl1')).hyperVGeneration).toBe('V2');

    const raw = JSON.parse((await cli('arm', 'get', vmId)).join('\n')) as ArmJson;
    expect(raw.id).toBe(vmId);
    expect(raw.tags).toEqual({ app: 'web', env: 'prod' });
    expect(raw.zones).toEqual(['2']);
    expect(raw.properties.hardwareProfile.vmSize).toBe('Standard_D4s_v5');
    expect(raw.properties.securityProfile.securityType).toBe('TrustedLaunch');
    expect(raw.securityProfile).toBeUndefined();
    const disk = JSON.parse((await cli('arm', 'get', osDisk.id!)).join('\n')) as ArmJson;
    expect(disk.properties.hyperVGeneration).toBe('V2');
    const group = JSON.parse((await cli('arm', 'get', vmId.split('/providers/')[0]!)).join('\n')) as ArmJson;
    expect(group.name).toBe('rg-shape');
  });

  it('refuses a bad security type, malformed tags and a disk size that is not whole MiB', async () => {
    const refuse = (option: string, value: string) =>
      expect(cli('vm', 'create', 'bad', '-g', 'rg-bad', '-l', 'westeurope', option, value)).rejects.toMatchObject({ stderr: expect.stringContaining(option) });
    await refuse('--security-type', 'ConfidentialVM');
    await refuse('--tags', 'novalue');
    await refuse('--disk-size', '1000');
    await refuse('--zone', '4');
    const c = armClients(connectSandbox(dir));
    const vms = [];
    for await (const v of c.compute.virtualMachines.listAll()) vms.push(v.name);
    expect(vms).not.toContain('bad');
  });

  it('arm get of a resource that does not exist fails with ARM\'s error', async () => {
    const conn = connectSandbox(dir);
    const id = `/subscriptions/${conn.subscriptionId}/resourceGroups/rg-shape/providers/Microsoft.Compute/virtualMachines/nope`;
    await expect(cli('arm', 'get', id)).rejects.toMatchObject({ stderr: expect.stringContaining('ResourceNotFound') });
  });
});
