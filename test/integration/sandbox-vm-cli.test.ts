// `site-recovery sandbox vm create` with the shape options of DESIGN.md §6 (--size, --security-type, --tags,
// --zone, --nics, --nsg, --public-ip, --disk-size in MiB or GiB) and `sandbox arm get ID`, as a user runs them against `sandbox
// up` (without the Kubernetes control plane). The VM is read back through the official SDK and through
// `arm get`, whose output is ARM's own JSON (properties nested under `properties`, not the SDK's model).
// Usage errors are refused with a message and a non-zero exit.
//
// `site-recovery sandbox disk add VM_ID [--size SIZE]` as a user runs it: against a sandbox started with
// `sandbox up --no-kube`, it attaches a new empty data disk at the VM's next free LUN and prints the disk's
// id as its last line; sizes in MiB make a disk of exactly that size, whole GiB an Empty disk; an id that is
// not a VM is refused. Results are read back through the official SDK clients.
// One sandbox process serves both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { armClients, connectSandbox } from '../../sandbox/src/client.ts';
import { startSandboxProcess, type SandboxProcess } from '../support/sandbox-process.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- ARM's JSON, read field by field
type ArmJson = Record<string, any>;
const MiB = 1024 * 1024;

let sandbox: SandboxProcess;
const cli = (...args: string[]) => sandbox.cli(...args);

beforeAll(async () => {
  sandbox = await startSandboxProcess('sandbox-vm-cli');
}, 120_000);

afterAll(async () => {
  await sandbox?.down();
});

describe('sandbox vm create with a shape, and arm get', () => {
  it('creates a Trusted Launch VM with its size, tags, zone, NICs with an NSG, a public IP and MiB-sized data disks; arm get prints ARM\'s JSON', async () => {
    const out = await cli('vm', 'create', 'tl1', '-g', 'rg-shape', '-l', 'westeurope', '--disks', '2', '--disk-size', '64MiB', '--os-disk-size', '1GiB',
      '--size', 'Standard_D4s_v5', '--security-type', 'TrustedLaunch', '--tags', 'app=web,env=prod', '--zone', '2', '--nics', '2', '--nsg', '--public-ip');
    const vmId = out[out.length - 1]!;
    expect(vmId).toMatch(/\/resourceGroups\/rg-shape\/providers\/Microsoft\.Compute\/virtualMachines\/tl1$/);

    const c = armClients(connectSandbox(sandbox.dir));
    const vm = await c.compute.virtualMachines.get('rg-shape', 'tl1');
    expect(vm.hardwareProfile?.vmSize).toBe('Standard_D4s_v5');
    expect(vm.securityProfile).toEqual({ securityType: 'TrustedLaunch', uefiSettings: { secureBootEnabled: true, vTpmEnabled: true } });
    expect(vm.tags).toEqual({ app: 'web', env: 'prod' });
    expect(vm.zones).toEqual(['2']);
    expect(vm.networkProfile?.networkInterfaces?.map((n) => [n.id?.split('/').pop(), n.primary])).toEqual([['tl1-nic', true], ['tl1-nic2', false]]);
    for (const nic of ['tl1-nic', 'tl1-nic2']) {
      expect((await c.network.networkInterfaces.get('rg-shape', nic)).networkSecurityGroup?.id).toMatch(/\/networkSecurityGroups\/tl1-nsg$/);
    }
    const [primaryConfig] = (await c.network.networkInterfaces.get('rg-shape', 'tl1-nic')).ipConfigurations ?? [];
    expect(primaryConfig?.publicIPAddress?.id).toMatch(/\/publicIPAddresses\/tl1-pip$/);
    expect((await c.network.networkInterfaces.get('rg-shape', 'tl1-nic2')).ipConfigurations?.[0]?.publicIPAddress).toBeUndefined();
    const pip = await c.network.publicIPAddresses.get('rg-shape', 'tl1-pip');
    expect([pip.sku?.name, pip.publicIPAllocationMethod, pip.ipConfiguration?.id]).toEqual(['Standard', 'Static', primaryConfig?.id]);
    expect(pip.ipAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
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
    const c = armClients(connectSandbox(sandbox.dir));
    const vms = [];
    for await (const v of c.compute.virtualMachines.listAll()) vms.push(v.name);
    expect(vms).not.toContain('bad');
  });

  it('arm get of a resource that does not exist fails with ARM\'s error', async () => {
    const conn = connectSandbox(sandbox.dir);
    const id = `/subscriptions/${conn.subscriptionId}/resourceGroups/rg-shape/providers/Microsoft.Compute/virtualMachines/nope`;
    await expect(cli('arm', 'get', id)).rejects.toMatchObject({ stderr: expect.stringContaining('ResourceNotFound') });
  });
});

describe('sandbox disk add', () => {
  it('attaches a new data disk at the next free LUN and prints its id', async () => {
    const created = await cli('vm', 'create', 'db', '--resource-group', 'rg-disk-cli', '--location', 'westeurope', '--disks', '1', '--disk-size', '1GiB', '--os-disk-size', '1GiB');
    const vmId = created.at(-1)!;
    const c = armClients(connectSandbox(sandbox.dir));

    const small = (await cli('disk', 'add', vmId, '--size', '64MiB')).at(-1)!;
    expect(small).toMatch(/\/resourceGroups\/rg-disk-cli\/providers\/Microsoft\.Compute\/disks\/[^/]+$/);
    const whole = (await cli('disk', 'add', vmId)).at(-1)!;

    const vm = await c.compute.virtualMachines.get('rg-disk-cli', 'db');
    expect(vm.storageProfile?.dataDisks?.map((d) => [d.lun, d.managedDisk?.id?.toLowerCase()])).toEqual([
      [0, expect.any(String)],
      [1, small.toLowerCase()],
      [2, whole.toLowerCase()],
    ]);
    const name = (id: string) => id.split('/').at(-1)!;
    expect(await c.compute.disks.get('rg-disk-cli', name(small))).toMatchObject({ diskSizeBytes: 64 * MiB, managedBy: vm.id });
    expect(await c.compute.disks.get('rg-disk-cli', name(whole))).toMatchObject({ diskSizeGB: 1, managedBy: vm.id });
  });

  it('refuses an id that is not a virtual machine', async () => {
    const nic = '/subscriptions/x/resourceGroups/rg-disk-cli/providers/Microsoft.Network/networkInterfaces/db-nic';
    await expect(cli('disk', 'add', nic)).rejects.toMatchObject({ stderr: expect.stringMatching(/not a virtual machine id/) });
  });
});
