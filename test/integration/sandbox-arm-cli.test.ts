// The `site-recovery sandbox` CLI as a user runs it: `up` in the foreground (without the Kubernetes
// control plane here: the control plane has its own tests), `vm create`, `disk-hash`, `down`, and a
// persisted sandbox surviving a restart. Results are checked through the official SDK clients. The package
// bin after a build (`bin/site-recovery.js` → `dist/cli/main.js`) loads the sandbox workspace and starts it too.
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { armClients, connectSandbox } from '../../sandbox/src/client.ts';
import { parseEnvFile, readSandboxState } from '../../sandbox/src/state.ts';
import { hashDisk } from '../../sandbox/src/workload/index.ts';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const node = path.join(repo, 'node_modules/.bin/node');
const main = path.join(repo, 'src/cli/main.ts');

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sandbox-cli-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** Starts `sandbox up` through the CLI script `script` and resolves once it printed its ready line. */
async function upWith(script: string, dir: string, ...args: string[]): Promise<{ child: ChildProcess; exited: Promise<number | null> }> {
  const child = spawn(node, [script, 'sandbox', 'up', '--dir', dir, '--no-kube', ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmp });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = readline.createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    lines.on('line', (l) => {
      if (l.startsWith('sandbox ready')) resolve();
    });
    void exited.then((code) => reject(new Error(`sandbox up exited (${code}): ${stderr.slice(-2000)}`)));
  });
  return { child, exited };
}

/** Starts `sandbox up` from the checkout's sources (`npm run site-recovery -- sandbox up`). */
const up = (dir: string, ...args: string[]) => upWith(main, dir, ...args);

const cli = async (...args: string[]): Promise<string[]> => {
  const { stdout } = await run(node, [main, 'sandbox', ...args], { cwd: tmp, maxBuffer: 1 << 20 });
  return stdout.trim().split('\n');
};

describe('sandbox CLI', () => {
  it('up writes the env file; vm create, disk-hash and down work against it', async () => {
    const dir = path.join(tmp, 'a');
    const { exited } = await up(dir);
    const env = parseEnvFile(await fs.readFile(path.join(dir, 'env'), 'utf8'));
    const state = readSandboxState(dir)!;
    expect(env).toMatchObject({
      AZURE_SUBSCRIPTION_ID: state.arm.subscriptionId,
      AZURE_RESOURCE_MANAGER_ENDPOINT: state.arm.endpoint,
      NODE_EXTRA_CA_CERTS: path.join(dir, 'sandbox-ca', 'ca.crt'),
      SITE_RECOVERY_STORAGE_ENDPOINT: state.storage.endpoint,
      SITE_RECOVERY_ACCESS_TOKEN: expect.stringMatching(/^ey/),
    });
    expect((await fs.stat(path.join(dir, 'state.json'))).mode & 0o777).toBe(0o600);

    const out = await cli('vm', 'create', 'web1', '--resource-group', 'rg-cli', '--location', 'westeurope', '--disks', '2', '--disk-size', '1GiB', '--os-disk-size', '1GiB', '--dir', dir);
    const vmId = out[out.length - 1]!;
    expect(vmId).toBe(`/subscriptions/${state.arm.subscriptionId}/resourceGroups/rg-cli/providers/Microsoft.Compute/virtualMachines/web1`);

    const conn = connectSandbox(dir);
    const c = armClients(conn);
    const vm = await c.compute.virtualMachines.get('rg-cli', 'web1');
    expect(vm.storageProfile?.dataDisks?.map((d) => d.lun)).toEqual([0, 1]);
    const vnet = await c.network.virtualNetworks.get('rg-cli', 'rg-cli-vnet');
    expect(vnet.addressSpace?.addressPrefixes).toEqual(['10.1.0.0/16']);
    expect(vnet.subnets?.map((s) => [s.name, s.addressPrefix])).toEqual([['default', '10.1.0.0/24']]);

    const hashes = await cli('disk-hash', vmId, '--dir', dir);
    expect(hashes.map((l) => l.split(' ')[0])).toEqual(['os', 'lun0', 'lun1']);
    const [osHash, lun0Hash] = hashes.map((l) => l.split(' ')[1]);
    expect(osHash).not.toBe(lun0Hash); // the OS disk has content, the data disks are empty

    const w = await cli('workload', vmId, '--rate', '4MiB/s', '--duration', '1s', '--pattern', 'random', '--dir', dir);
    expect(w[w.length - 1]).toMatch(/^wrote [\d.]+ MiB .* to os, lun0, lun1$/);
    const after = await cli('disk-hash', vmId, '--dir', dir);
    expect(after.map((l) => l.split(' ')[1])).not.toContain(lun0Hash);
    const [osAfter] = after.map((l) => l.split(' ')[1]);

    // The same bytes through ARM's own access path: stop the VM, grant read access, hash the SAS URL.
    await c.compute.virtualMachines.deallocate('rg-cli', 'web1', { updateIntervalInMs: 20 });
    const osName = vm.storageProfile!.osDisk!.name!;
    const sas = await c.compute.disks.grantAccess('rg-cli', osName, { access: 'Read', durationInSeconds: 300 }, { updateIntervalInMs: 20 });
    expect(await hashDisk(sas.accessSAS!)).toBe(osAfter);
    expect(await cli('disk-hash', vm.storageProfile!.osDisk!.managedDisk!.id!, '--dir', dir)).toEqual([osAfter]);
    expect(osAfter).not.toBe(osHash);

    expect(await cli('down', '--dir', dir)).toEqual(['sandbox stopped']);
    expect(await exited).toBe(0);
    await expect(fs.stat(path.join(dir, 'env'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await cli('down', '--dir', dir)).toEqual(['no sandbox running']);
  });

  it('a persisted sandbox keeps its resources, subscription and ARM port across down/up', async () => {
    const dir = path.join(tmp, 'p');
    const first = await up(dir, '--persist');
    const s1 = readSandboxState(dir)!;
    await armClients(connectSandbox(dir)).resources.resourceGroups.createOrUpdate('kept', { location: 'westeurope', tags: { v: '1' } });
    await cli('down', '--dir', dir);
    expect(await first.exited).toBe(0);

    const second = await up(dir, '--persist');
    const s2 = readSandboxState(dir)!;
    expect(s2.arm.subscriptionId).toBe(s1.arm.subscriptionId);
    expect(s2.arm.port).toBe(s1.arm.port);
    expect((await armClients(connectSandbox(dir)).resources.resourceGroups.get('kept')).tags).toEqual({ v: '1' });
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
  });

  it('runs from the package bin after a build: --help lists the sandbox, sandbox up starts it, down stops it', async () => {
    // The package as `npm run build` leaves it: bin/ beside dist/, and the checkout's node_modules, where the
    // workspace links @site-recovery/sandbox to sandbox/ (outside node_modules: Node strips its types).
    const pkg = path.join(tmp, 'built');
    await fs.mkdir(path.join(pkg, 'bin'), { recursive: true });
    await fs.copyFile(path.join(repo, 'bin/site-recovery.js'), path.join(pkg, 'bin/site-recovery.js'));
    await fs.copyFile(path.join(repo, 'package.json'), path.join(pkg, 'package.json'));
    await fs.symlink(path.join(repo, 'node_modules'), path.join(pkg, 'node_modules'));
    await run(node, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', path.join(repo, 'tsconfig.build.json'), '--outDir', path.join(pkg, 'dist')]);
    await expect(fs.access(path.join(pkg, 'dist/sandbox'))).rejects.toMatchObject({ code: 'ENOENT' });
    const bin = path.join(pkg, 'bin/site-recovery.js');

    const { stdout: help } = await run(node, [bin, '--help'], { cwd: tmp });
    expect(help).toMatch(/^ {2}sandbox\b/m);
    expect(help).toMatch(/^ {2}start\b/m);

    const dir = path.join(tmp, 'bin');
    const { exited } = await upWith(bin, dir);
    expect(parseEnvFile(await fs.readFile(path.join(dir, 'env'), 'utf8')).AZURE_SUBSCRIPTION_ID).toBe(readSandboxState(dir)!.arm.subscriptionId);
    const { stdout } = await run(node, [bin, 'sandbox', 'down', '--dir', dir], { cwd: tmp });
    expect(stdout.trim()).toBe('sandbox stopped');
    expect(await exited).toBe(0);
  });
});
