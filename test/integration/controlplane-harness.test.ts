// The harness around the control plane: binary lookup and build lock, orderly stop, no orphans when the
// owning process is killed, and the explicit existing-cluster mode.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { CoreV1Api, VersionApi } from '@kubernetes/client-node';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { acquireLock, ensureBinaries, kubeVersionLdflags, pinnedVersions } from '../../sandbox/src/kube/binaries.ts';
import { startControlPlane } from '../../sandbox/src/kube/controlplane.ts';
import { parseGoMod, stagingVersion } from '../../sandbox/src/kube/gomod.ts';

const tmpDirs: string[] = [];
async function tmpDir(): Promise<string> {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'cp-harness-'));
  tmpDirs.push(d);
  return d;
}
afterAll(async () => {
  await Promise.all(tmpDirs.map((d) => fsp.rm(d, { recursive: true, force: true })));
});

/** Running (a zombie waiting to be reaped by init counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

describe('Go modules and binaries', () => {
  it('maps every staging module to the matching published version', async () => {
    expect(stagingVersion('v1.34.4')).toBe('v0.34.4');
    const gomod = await fsp.readFile(path.join(import.meta.dirname, '../../tools/controlplane/kube/go.mod'), 'utf8');
    const { kubernetes } = await pinnedVersions();
    const replaces = [...gomod.matchAll(/^\s*(k8s\.io\/\S+) => (k8s\.io\/\S+) (v\S+)$/gm)];
    expect(replaces.length).toBeGreaterThan(25);
    for (const [, from, to, version] of replaces) {
      expect(to).toBe(from);
      expect(version).toBe(stagingVersion(kubernetes));
    }
    expect(parseGoMod(gomod).requires.get('k8s.io/kubernetes')).toBe(kubernetes);
    expect(kubeVersionLdflags('v1.34.4')).toContain('-X k8s.io/component-base/version.gitMinor=34');
  });

  it('honours KUBEBUILDER_ASSETS and refuses a directory without the binaries', async () => {
    const built = await ensureBinaries({ assetsDir: '' });
    expect(['cache', 'built']).toContain(built.source);
    const assets = await tmpDir();
    await expect(ensureBinaries({ assetsDir: assets })).rejects.toThrow(/does not hold executable kube-apiserver and etcd/);
    await fsp.symlink(built.kubeApiserver, path.join(assets, 'kube-apiserver'));
    await fsp.symlink(built.etcd, path.join(assets, 'etcd'));
    expect(await ensureBinaries({ assetsDir: assets })).toMatchObject({ source: 'KUBEBUILDER_ASSETS', dir: assets });
  });

  it('lets only one process hold the build lock and takes over a stale one', async () => {
    const lock = path.join(await tmpDir(), 'x.lock');
    const releaseFirst = await acquireLock(lock, { info() {}, warn() {} } as never);
    expect(await fsp.readFile(lock, 'utf8')).toBe(`${process.pid}\n`);
    let secondHasIt = false;
    const second = acquireLock(lock, { info() {}, warn() {} } as never).then((release) => {
      secondHasIt = true;
      return release;
    });
    await new Promise((r) => setImmediate(r));
    expect(secondHasIt).toBe(false);
    await releaseFirst();
    await (await second)();
    expect(fs.existsSync(lock)).toBe(false);

    // A lock left by a process that is gone.
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => dead.once('exit', r));
    await fsp.writeFile(lock, `${dead.pid}\n`);
    const release = await acquireLock(lock, { info() {}, warn() {} } as never);
    expect(await fsp.readFile(lock, 'utf8')).toBe(`${process.pid}\n`);
    await release();
  });
});

describe.concurrent('process lifecycle', () => {
  it('stop() ends both processes and removes the temp dir', async () => {
    const cp = await startControlPlane({ crdDir: null });
    expect((await cp.kubeConfig.makeApiClient(VersionApi).getCode()).gitVersion).toBe((await pinnedVersions()).kubernetes);
    expect(fs.existsSync(cp.kubeconfigPath)).toBe(true);
    const { etcd, kubeApiserver } = cp.pids!;
    expect(alive(etcd) && alive(kubeApiserver)).toBe(true);
    await cp.stop();
    expect(alive(etcd)).toBe(false);
    expect(alive(kubeApiserver)).toBe(false);
    expect(fs.existsSync(cp.dir!)).toBe(false);
    await cp.stop(); // idempotent
  });

  it('leaves no orphans when its owner is killed with SIGKILL', async () => {
    const child = spawn(process.execPath, [path.join(import.meta.dirname, '../support/controlplane-child.ts')], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, LOG_LEVEL: 'warn' },
    });
    const exited = new Promise((r) => child.once('exit', r));
    const lines = createInterface({ input: child.stdout });
    const first = await new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`fixture exited with ${code} before starting`)));
    });
    lines.close();
    const { dir, pids } = JSON.parse(first) as { dir: string; pids: { etcd: number; kubeApiserver: number } };
    expect(alive(pids.etcd) && alive(pids.kubeApiserver) && fs.existsSync(dir)).toBe(true);

    child.kill('SIGKILL'); // no exit handler runs: only the reaper can clean up
    await exited;
    await vi.waitFor(
      () => {
        expect(alive(pids.etcd)).toBe(false);
        expect(alive(pids.kubeApiserver)).toBe(false);
        expect(fs.existsSync(dir)).toBe(false);
      },
      { timeout: 15_000, interval: 50 },
    );
  });

  it('keeps cluster state and credentials in dataDir across restarts', async () => {
    const dataDir = path.join(await tmpDir(), 'kube');
    const first = await startControlPlane({ crdDir: null, dataDir });
    try {
      await first.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'kept' } } });
    } finally {
      await first.stop();
    }
    expect(fs.existsSync(path.join(dataDir, 'etcd'))).toBe(true);
    const second = await startControlPlane({ crdDir: null, dataDir });
    try {
      expect(second.kubeconfigPath).toBe(first.kubeconfigPath);
      const ns = await second.kubeConfig.makeApiClient(CoreV1Api).readNamespace({ name: 'kept' });
      expect(ns.metadata?.name).toBe('kept');
      // Same CA and admin certificate: the first run's credentials still work against the new server.
      const oldUser = first.kubeConfig.getCurrentUser()!;
      expect(second.kubeConfig.getCurrentUser()!.certData).toBe(oldUser.certData);
    } finally {
      await second.stop();
    }
  });

  it.skipIf(inject('kubeVersion') === '')('uses an existing cluster only when asked to', async () => {
    const cp = await startControlPlane({ useExistingCluster: true, crdDir: null });
    expect(cp.existing).toBe(true);
    expect(cp.server).toBe(inject('kubeServer'));
    expect(cp.pids).toBeUndefined();
    await cp.stop(); // no-op: the cluster is not ours
    expect(await cp.kubeConfig.makeApiClient(VersionApi).getCode()).toBeTruthy();
  });
});
