/**
 * The kubectl plugin release: `kubectl-siterecovery` as a Krew archive and its Krew manifest.
 *
 * The archive holds the same files as the container image's /app (the compiled CLI, package.json and the
 * production dependencies; build them with the Dockerfile's steps or `npm run build` and `npm ci
 * --omit=dev`) plus `kubectl-siterecovery`, a launcher that imports bin/site-recovery.js with the `node` on
 * PATH (Node 24 or later, said in the manifest's caveats), so that usage lines say `kubectl siterecovery`.
 * Krew unpacks regular files and directories only: node_modules/.bin (links the plugin does not use) is
 * left out, and any other link is stored as the file it points to. The code is JavaScript only, so one archive serves every
 * platform the manifest lists.
 *
 *   node scripts/krew-plugin.ts APP_DIR VERSION OUT_DIR [URL]
 *     writes OUT_DIR/kubectl-siterecovery-VERSION.tar.gz and OUT_DIR/siterecovery.yaml (the manifest, with
 *     the archive's sha256 and URL, by default the GitHub release asset of VERSION)
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const PLUGIN_NAME = 'siterecovery';
const LAUNCHER = 'kubectl-siterecovery';
const HOMEPAGE = 'https://github.com/site-recovery-operator/site-recovery-operator';


export interface KrewRelease {
  archive: string;
  manifest: string;
  sha256: string;
}

export function krewRelease(options: { appDir: string; version: string; outDir: string; url?: string }): KrewRelease {
  const { appDir, version, outDir } = options;
  if (!/^v\d+\.\d+\.\d+/.test(version)) throw new Error(`version ${version}: Krew wants a semantic version with a leading v (v0.1.0)`);
  for (const needed of ['bin/site-recovery.js', 'dist/cli/main.js', 'package.json', 'node_modules']) {
    if (!fs.existsSync(path.join(appDir, needed))) throw new Error(`${appDir} lacks ${needed}: build the image's /app first`);
  }
  fs.mkdirSync(outDir, { recursive: true });
  const staging = fs.mkdtempSync(path.join(outDir, '.staging-'));
  try {
    fs.cpSync(appDir, staging, { recursive: true, dereference: true, filter: (source) => path.basename(source) !== '.bin' });
    // An ES module without an extension (package.json says "type": "module"); Krew links it into its bin/.
    fs.writeFileSync(path.join(staging, LAUNCHER), "#!/usr/bin/env node\nimport './bin/site-recovery.js';\n", { mode: 0o755 });
    const archive = path.join(outDir, `${LAUNCHER}-${version}.tar.gz`);
    execFileSync('tar', ['-czf', archive, '-C', staging, '.']);
    const sha256 = createHash('sha256').update(fs.readFileSync(archive)).digest('hex');
    const url = options.url ?? `${HOMEPAGE}/releases/download/${version}/${path.basename(archive)}`;
    const manifest = path.join(outDir, `${PLUGIN_NAME}.yaml`);
    fs.writeFileSync(manifest, stringify(krewManifest(version, url, sha256)));
    return { archive, manifest, sha256 };
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

/** The Krew plugin manifest (krew.googlecontainertools.github.com/v1alpha2 Plugin). */
export function krewManifest(version: string, url: string, sha256: string): object {
  const platform = (os: string, arch: string) => ({
    selector: { matchLabels: { os, arch } },
    uri: url,
    sha256,
    bin: LAUNCHER,
    files: [{ from: '*', to: '.' }],
  });
  return {
    apiVersion: 'krew.googlecontainertools.github.com/v1alpha2',
    kind: 'Plugin',
    metadata: { name: PLUGIN_NAME },
    spec: {
      version,
      homepage: HOMEPAGE,
      shortDescription: 'Fail over, drill and inspect Azure VMs protected by site-recovery-operator',
      description: 'The site-recovery CLI as a kubectl plugin: failover, commit, cleanup, reprotect, sync-now, status, points, drill and check for the siterecovery.io objects of the cluster in the current context.',
      caveats: 'Needs Node.js 24 or later on PATH (the plugin is the same JavaScript program on every platform).',
      platforms: ['linux', 'darwin'].flatMap((os) => ['amd64', 'arm64'].map((arch) => platform(os, arch))),
    },
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [appDir, version, outDir, url] = process.argv.slice(2);
  if (!appDir || !version || !outDir) {
    process.stderr.write('usage: node scripts/krew-plugin.ts APP_DIR VERSION OUT_DIR [URL]\n');
    process.exit(2);
  }
  const release = krewRelease({ appDir, version, outDir, url });
  process.stdout.write(`${release.archive}\n${release.manifest}\nsha256 ${release.sha256}\n`);
}
