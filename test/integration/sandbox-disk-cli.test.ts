// `site-recovery sandbox disk add VM_ID [--size SIZE]` as a user runs it: against a sandbox started with
// `sandbox up --no-kube`, it attaches a new empty data disk at the VM's next free LUN and prints the disk's
// id as its last line; sizes in MiB make a disk of exactly that size, whole GiB an Empty disk; an id that is
// not a VM is refused. Results are read back through the official SDK clients.
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
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const node = path.join(repo, 'node_modules/.bin/node');
const main = path.join(repo, 'src/cli/main.ts');
const MiB = 1024 * 1024;

let tmp: string;
let dir: string;
let exited: Promise<number | null>;

const cli = async (...args: string[]): Promise<string[]> => {
  const { stdout } = await run(node, [main, 'sandbox', ...args, '--dir', dir], { cwd: tmp, maxBuffer: 1 << 20 });
  return stdout.trim().split('\n');
};

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sandbox-disk-cli-'));
  dir = path.join(tmp, 'sb');
  const child = spawn(node, [main, 'sandbox', 'up', '--dir', dir, '--no-kube'], { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmp });
  exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = readline.createInterface({ input: child.stdout });
  await new Promise<void>((resolve, reject) => {
    lines.on('line', (l) => l.startsWith('sandbox ready') && resolve());
    void exited.then((code) => reject(new Error(`sandbox up exited (${code}): ${stderr.slice(-2000)}`)));
  });
}, 120_000);

afterAll(async () => {
  await cli('down').catch(() => undefined);
  await exited;
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('sandbox disk add', () => {
  it('attaches a new data disk at the next free LUN and prints its id', async () => {
    const created = await cli('vm', 'create', 'db', '--resource-group', 'rg-disk-cli', '--location', 'westeurope', '--disks', '1', '--disk-size', '1GiB', '--os-disk-size', '1GiB');
    const vmId = created.at(-1)!;
    const c = armClients(connectSandbox(dir));

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
