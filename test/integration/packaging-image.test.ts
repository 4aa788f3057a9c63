// The container image, proven without a Docker engine: the Dockerfile's stages are run by
// test/support/packaging-dockerfile.ts (COPY, RUN npm ci / tsc, ... into directories standing for each
// stage's root), then the final stage is checked (production dependencies only, non-root, entrypoint) and
// its entrypoint started with Node 24: `--help`, and the operator itself as the chart's service account
// against the test control plane, writing nothing outside /tmp. The sandbox (workspace package
// @site-recovery/sandbox, a development tool) is not in the image, and its commands say so in one line.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReplicationPolicy } from '../../src/api/types.ts';
import { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { defaultCacheDir } from '../../sandbox/src/kube/binaries.ts';
import { PACKAGING_TOOLS_TIMEOUT_MS, REPO_ROOT, ensurePackagingTools, runCommand } from '../support/helm.ts';
import { chartServiceAccountKubeConfig, writeKubeConfig } from '../support/helm-rbac.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';
import { hostBuildEnv, stageDockerfile, type StagedImage } from '../support/packaging-dockerfile.ts';
import { ensureGoTool } from '../support/go-tool.ts';
import { krewRelease } from '../../scripts/krew-plugin.ts';

const pkg = JSON.parse(await fs.readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

const lock = JSON.parse(await fs.readFile(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };

let image: StagedImage;
let outDir: string;
const children = new Set<ChildProcess>();

/** The image's path `p` inside the staged root. */
const inImage = (p: string) => path.join(image.root, p);

/** The entrypoint with `args`, as the container runtime would start it: Node 24 for `node`, paths mapped into the image. */
function entrypointCommand(args: string[]): [string, string[]] {
  const [exe, ...rest] = [...image.entrypoint, ...args];
  if (exe !== 'node') throw new Error(`entrypoint starts ${exe}, expected node`);
  return [process.execPath, rest.map((a) => (a.startsWith('/') ? inImage(a) : a))];
}

/** The image's environment, with its HOME (/tmp) on a fresh directory standing for the pod's emptyDir. */
async function imageEnv(extra: Record<string, string> = {}): Promise<NodeJS.ProcessEnv> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sro-image-tmp-'));
  const env: NodeJS.ProcessEnv = { PATH: path.dirname(process.execPath) };
  for (const [k, v] of Object.entries(image.env)) env[k] = v.startsWith('/tmp') ? path.join(tmp, v.slice('/tmp'.length)) : v;
  return { ...env, TMPDIR: tmp, ...extra };
}

/** Every file of the staged root with its size and mtime: a run must leave this unchanged (read-only root). */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await fs.readdir(dir, { recursive: true, withFileTypes: true })) {
    const full = path.join(entry.parentPath, entry.name);
    const stat = await fs.lstat(full);
    out.set(path.relative(dir, full), `${stat.size}:${stat.mtimeMs}`);
  }
  return out;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

beforeAll(async () => {
  expect(process.versions.node.split('.')[0], `tests must run on Node 24 (${process.execPath})`).toBe('24');
  outDir = await fs.mkdtemp(path.join(os.tmpdir(), 'sro-image-'));
  const tools = ensurePackagingTools(); // the chart's RBAC is rendered with helm below
  image = await stageDockerfile({
    dockerfile: path.join(REPO_ROOT, 'Dockerfile'),
    context: REPO_ROOT,
    outDir,
    cacheDir: path.join(defaultCacheDir(), 'docker-build-cache'),
    nodeBinDir: path.dirname(process.execPath),
    // How this machine reaches the npm registry (proxy, CA, ~/.npmrc), as a builder would be configured.
    buildEnv: hostBuildEnv(process.env, await fs.access(path.join(os.homedir(), '.npmrc')).then(() => path.join(os.homedir(), '.npmrc'), () => undefined)),
  });
  await tools;
}, PACKAGING_TOOLS_TIMEOUT_MS);

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  if (outDir) await fs.rm(outDir, { recursive: true, force: true });
});

describe('kubectl plugin', () => {
  it('installs with Krew from its release archive and manifest, and runs as `kubectl siterecovery`', async () => {
    const krew = await ensureGoTool({ name: 'krew', pinned: 'sigs.k8s.io/krew', mainPackage: 'sigs.k8s.io/krew/cmd/krew', description: 'Krew, the kubectl plugin manager' });
    const release = krewRelease({ appDir: inImage('/app'), version: 'v0.1.0', outDir: path.join(outDir, 'krew-release') });
    const krewRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'sro-krew-'));
    // The user's PATH: Node 24 and the system's tools, nothing of this checkout.
    const env = { PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`, HOME: krewRoot, KREW_ROOT: krewRoot };
    try {
      const installed = await runCommand(krew, ['install', `--manifest=${release.manifest}`, `--archive=${release.archive}`], { env });
      expect(installed.code, installed.stderr).toBe(0);
      const help = await runCommand(path.join(krewRoot, 'bin', 'kubectl-siterecovery'), ['--help'], { env });
      expect(help.code, help.stderr).toBe(0);
      expect(help.stdout).toMatch(/^Usage: kubectl siterecovery /m);
      for (const command of ['failover', 'commit', 'cleanup', 'reprotect', 'sync-now', 'status', 'points', 'drill', 'check']) expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
      // A manifest whose checksum does not match the archive is refused.
      const tampered = path.join(outDir, 'krew-release', 'tampered.yaml');
      await fs.writeFile(tampered, (await fs.readFile(release.manifest, 'utf8')).replaceAll(release.sha256, '0'.repeat(64)));
      const refused = await runCommand(krew, ['install', `--manifest=${tampered}`, `--archive=${release.archive}`], { env: { ...env, KREW_ROOT: await fs.mkdtemp(path.join(os.tmpdir(), 'sro-krew-')) } });
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/checksum|sha256/i);
    } finally {
      await fs.rm(krewRoot, { recursive: true, force: true });
    }
  }, 300_000);
});

describe('container image (Dockerfile staged without Docker)', () => {
  it('holds the compiled CLI, package.json and production dependencies only', async () => {
    expect(image.workdir).toBe('/app');
    await fs.access(inImage('/app/bin/site-recovery.js'));
    await fs.access(inImage('/app/dist/cli/main.js'));
    expect(JSON.parse(await fs.readFile(inImage('/app/package.json'), 'utf8'))).toMatchObject({ name: 'site-recovery-operator', type: 'module' });
    for (const dep of Object.keys(pkg.dependencies)) await fs.access(inImage(`/app/node_modules/${dep}/package.json`));
    // Every package the lockfile marks dev-only is absent (a dev dependency that a production one also needs,
    // such as @types/node, is not dev-only), in particular the toolchain and the `node` binary package.
    const devOnly = Object.entries(lock.packages).filter(([p, e]) => p.startsWith('node_modules/') && e.dev).map(([p]) => p);
    expect(devOnly).toEqual(expect.arrayContaining(['node_modules/node', 'node_modules/typescript', 'node_modules/vitest', 'node_modules/eslint', 'node_modules/azurite']));
    for (const p of devOnly) {
      await expect(fs.access(inImage(`/app/${p}`)), `dev-only package ${p} must not be in the image`).rejects.toThrow();
    }
    const top = (await fs.readdir(inImage('/app'))).sort();
    expect(top).toEqual(['bin', 'dist', 'node_modules', 'package.json']);
    // Compiled JavaScript only: no TypeScript sources or tests.
    const files = (await fs.readdir(inImage('/app/dist'), { recursive: true })).map(String);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files.some((f) => f.includes('test'))).toBe(false);
  });

  it('holds no sandbox code: no workspace link, none of its dependencies, nothing compiled from it', async () => {
    const sandboxOnly = ['@site-recovery/sandbox', '@site-recovery', 'node-forge', 'ajv', 'azurite', '@aws-sdk/crc64-nvme'];
    for (const p of sandboxOnly) {
      // lstat: a workspace link to a sandbox/ the image lacks dangles, and must not be there either.
      await expect(fs.lstat(inImage(`/app/node_modules/${p}`)), `${p} must not be in the image`).rejects.toThrow();
    }
    const dist = (await fs.readdir(inImage('/app/dist'), { recursive: true })).map(String);
    expect(dist.filter((f) => /(^|\/)sandbox(\/|$)/.test(f))).toEqual([]);
    await expect(fs.access(inImage('/app/sandbox'))).rejects.toThrow();
    // The compiled CLI names the package only as the plugin it may load, and imports nothing of it.
    for (const f of dist.filter((f) => f.endsWith('.js'))) {
      expect(await fs.readFile(inImage(`/app/dist/${f}`), 'utf8'), f).not.toMatch(/from ['"][^'"]*sandbox[^'"]*['"]/);
    }
  });

  it('refuses `sandbox …` and `start` with one line and exit code 2, and does not list them in --help', async () => {
    for (const args of [['sandbox', 'up'], ['sandbox', 'down', '--dir', '/tmp/x'], ['start']]) {
      const [cmd, argv] = entrypointCommand(args);
      const r = await runCommand(cmd, argv, { cwd: inImage(image.workdir), env: await imageEnv() });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(
        'site-recovery: the sandbox is a development tool and is not part of this installation; run it from a development checkout (npm ci && npm run site-recovery -- sandbox up)\n',
      );
    }
    const [cmd, argv] = entrypointCommand(['--help']);
    const help = await runCommand(cmd, argv, { cwd: inImage(image.workdir), env: await imageEnv() });
    expect(help.stdout).not.toMatch(/^\s+(sandbox|start)\b/m);
  });

  it('runs as a non-root user with the entrypoint `node /app/bin/site-recovery.js`', () => {
    expect(image.user).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
    expect(image.user).toBe('65532:65532');
    expect(image.entrypoint).toEqual(['node', '/app/bin/site-recovery.js']);
    expect(image.cmd).toEqual(['--help']);
    expect(image.env).toMatchObject({ NODE_ENV: 'production', HOME: '/tmp' });
    expect(Object.values(image.env).filter((v) => v.startsWith('/') && !v.startsWith('/tmp'))).toEqual([]);
    expect(image.exposed).toEqual(['8080']);
  });

  it('answers --help for the CLI, the operator and the datapath with Node 24, writing nothing to the root filesystem', async () => {
    const before = await snapshot(image.root);
    const help = async (args: string[]) => {
      const [cmd, argv] = entrypointCommand(args);
      const r = await runCommand(cmd, argv, { cwd: inImage(image.workdir), env: await imageEnv() });
      expect(r.code, r.stderr).toBe(0);
      return r.stdout;
    };
    const main = await help(image.cmd);
    expect(main).toContain('operator');
    expect(main).toContain('datapath');
    expect(await help(['operator', '--help'])).toMatch(/--metrics-port[\s\S]*--leader-election-namespace/);
    expect(await help(['datapath', '--help'])).toContain('--metrics-port');
    expect(await snapshot(image.root)).toEqual(before);
  });

  it('runs the operator as the chart\'s service account: leader, ready, reconciling; graceful on SIGTERM', async () => {
    const admin = testKubeConfig();
    const ns = await createTestNamespace(admin, 'pkg-image');
    const kubeconfig = await writeKubeConfig(await chartServiceAccountKubeConfig(admin, 'operator', ns));
    const port = await freePort();
    const before = await snapshot(image.root);
    const [cmd, argv] = entrypointCommand(['operator', `--kubeconfig=${kubeconfig}`, `--namespace=${ns}`, `--metrics-port=${port}`]);
    const env = await imageEnv({
      POD_NAME: 'site-recovery-operator-0',
      POD_NAMESPACE: ns,
      AZURE_SUBSCRIPTION_ID: '00000000-0000-0000-0000-000000000000',
      AZURE_RESOURCE_MANAGER_ENDPOINT: 'https://127.0.0.1:9',
      SITE_RECOVERY_ACCESS_TOKEN: 'unused',
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
    });
    const child = spawn(cmd, argv, { cwd: inImage(image.workdir), env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-20_000)));
    child.stderr.on('data', (b: Buffer) => (output = (output + b.toString()).slice(-20_000)));
    // A failed wait shows what the process said.
    const withOutput = (wait: Promise<void>) => wait.catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\noperator output:\n${output}`, { cause: error });
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => (children.delete(child), resolve(code))));

    const readyz = async () => {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`);
        return `${res.status} ${await res.text()}`;
      } catch {
        return 'down';
      }
    };
    await withOutput(expect.poll(readyz, { timeout: 60_000, interval: 200 }).toBe('200 ok (leader)'));
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toContain('site_recovery_leader 1');
    const leases = admin.makeApiClient(CoordinationV1Api);
    expect((await leases.readNamespacedLease({ namespace: ns, name: 'site-recovery-operator' })).spec?.holderIdentity).toBe('site-recovery-operator-0');

    // A ReplicationPolicy needs no Azure: the operator adds its finalizer and reports Ready.
    const policies = new CustomResourceClient<ReplicationPolicy>(admin, 'ReplicationPolicy');
    await policies.create(ns, { metadata: { name: 'standard' }, spec: { recoveryPointInterval: '5m', retention: '24h' } } as never);
    await withOutput(
      expect
        .poll(async () => {
          const p = await policies.get({ namespace: ns, name: 'standard' });
          return { finalizers: p?.metadata.finalizers, ready: p?.status?.conditions?.find((c) => c.type === 'Ready')?.status };
        }, { timeout: 30_000, interval: 200 })
        .toEqual({ finalizers: ['siterecovery.io/finalizer'], ready: 'True' }),
    );

    child.kill('SIGTERM');
    expect(await exited, output).toBe(0);
    expect((await leases.readNamespacedLease({ namespace: ns, name: 'site-recovery-operator' })).spec?.holderIdentity).toBeFalsy();
    expect(output).not.toMatch(/EACCES|EROFS|Cannot find (module|package)/);
    expect(await snapshot(image.root)).toEqual(before);
  });
});
