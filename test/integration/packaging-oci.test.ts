// The chart as users install it from a registry: `helm package`, `helm push` to an OCI registry (a local
// in-memory one, tools/oci-registry), then `helm pull` / `helm show` / `helm template` from the oci://
// reference give back the same chart.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CHART_DIR, PACKAGING_TOOLS_TIMEOUT_MS, REQUIRED_VALUES, ensurePackagingTools, helm, parseManifests } from '../support/helm.ts';
import { OCI_REGISTRY_BUILD_TIMEOUT_MS, startOciRegistry, type OciRegistry } from '../support/oci-registry.ts';

let registry: OciRegistry;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'packaging-oci-'));
const chart = parse(fs.readFileSync(path.join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { name: string; version: string };
const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const ok = async (args: string[], extra?: Parameters<typeof helm>[2]) => {
  const r = await helm(args, undefined, extra);
  expect(r.code, `helm ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout + r.stderr;
};

beforeAll(async () => {
  [registry] = await Promise.all([startOciRegistry(), ensurePackagingTools()]);
}, PACKAGING_TOOLS_TIMEOUT_MS + OCI_REGISTRY_BUILD_TIMEOUT_MS);

afterAll(async () => {
  await registry?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

describe('the chart in an OCI registry', () => {
  it('packages, pushes, and pulls back byte for byte; show and template work from the oci:// reference', async () => {
    await ok(['package', CHART_DIR, '--destination', work]);
    const packaged = path.join(work, `${chart.name}-${chart.version}.tgz`);
    expect(fs.existsSync(packaged)).toBe(true);

    const pushed = await ok(['push', packaged, `oci://${registry.address}/charts`, '--plain-http']);
    expect(pushed).toMatch(new RegExp(`Pushed: ${registry.address}/charts/${chart.name}:${chart.version}`));
    const reference = `oci://${registry.address}/charts/${chart.name}`;

    const pulled = path.join(work, 'pulled');
    fs.mkdirSync(pulled);
    await ok(['pull', reference, '--version', chart.version, '--plain-http', '--destination', pulled]);
    expect(sha256(path.join(pulled, `${chart.name}-${chart.version}.tgz`))).toBe(sha256(packaged));

    const shown = parse(await helm(['show', 'chart', reference, '--version', chart.version, '--plain-http']).then((r) => r.stdout)) as { name: string; version: string };
    expect(shown).toMatchObject({ name: chart.name, version: chart.version });

    const rendered = parseManifests(await ok(['template', 'sro', reference, '--version', chart.version, '--plain-http', '--namespace', 'site-recovery-system'], { set: REQUIRED_VALUES }));
    expect(rendered.filter((o) => o.kind === 'Deployment').map((o) => o.metadata.name).sort()).toEqual(['sro-site-recovery-operator', 'sro-site-recovery-operator-datapath']);

    // A version the registry does not hold is refused.
    const missing = await helm(['pull', reference, '--version', '9.9.9', '--plain-http', '--destination', pulled]);
    expect(missing.code).not.toBe(0);
  });
});
