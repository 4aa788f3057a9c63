// Plain manifests for kubectl: deploy/kustomize/base is the chart's default render (kept in Git, regenerated
// by `node test/support/helm-generate.ts`), and its overlays produce the same objects as the chart
// (kustomize built from its Go module), which the API server accepts.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { PACKAGING_TOOLS_TIMEOUT_MS, ensurePackagingTools, helmTemplate, mustRun, parseManifests, type Manifest } from '../support/helm.ts';
import { BASE_NAMESPACE, BASE_RELEASE, BASE_SET, KUSTOMIZE_DIR, TOOL_LABELS, readKustomizeBase, renderKustomizeBase } from '../support/helm-generate.ts';
import { applyObjects } from '../support/helm-rbac.ts';
import { testKubeConfig } from '../support/kube.ts';

/** Objects keyed by kind/namespace/name, without the labels that only say which tool made them. */
function normalize(objects: Manifest[], opts: { dropConfigChecksum?: boolean } = {}): Map<string, Manifest> {
  const out = new Map<string, Manifest>();
  for (const object of objects) {
    const copy = structuredClone(object);
    const strip = (labels?: Record<string, string>) => TOOL_LABELS.forEach((l) => labels && delete labels[l]);
    strip(copy.metadata.labels);
    const template = (copy as { spec?: { template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } } } }).spec?.template;
    strip(template?.metadata?.labels);
    if (opts.dropConfigChecksum) delete template?.metadata?.annotations?.['checksum/config'];
    out.set(`${copy.kind}/${copy.metadata.namespace ?? ''}/${copy.metadata.name}`, copy);
  }
  return out;
}

describe('kustomize base and overlays', () => {
  let kustomize: string;

  beforeAll(async () => {
    kustomize = (await ensurePackagingTools()).kustomize;
  }, PACKAGING_TOOLS_TIMEOUT_MS);

  const build = async (overlay: string) => parseManifests(await mustRun(kustomize, ['build', path.join(KUSTOMIZE_DIR, 'overlays', overlay)]));

  it('keeps deploy/kustomize/base in step with the chart', async () => {
    const [fresh, committed] = await Promise.all([renderKustomizeBase(), readKustomizeBase()]);
    expect([...committed.keys()].sort(), 'run `node test/support/helm-generate.ts`').toEqual([...fresh.keys()].sort());
    for (const [name, content] of fresh) expect(committed.get(name), `deploy/kustomize/base/${name} is stale: run \`node test/support/helm-generate.ts\``).toBe(content);
  });

  it('overlays/default produces the objects of `helm install` with default values (plus the namespace)', async () => {
    const [kustomized, chart] = await Promise.all([build('default'), helmTemplate({ release: BASE_RELEASE, namespace: BASE_NAMESPACE, set: BASE_SET, includeCrds: true, skipTests: true })]);
    const namespaces = kustomized.filter((o) => o.kind === 'Namespace');
    expect(namespaces.map((n) => [n.metadata.name, n.metadata.labels?.['pod-security.kubernetes.io/enforce']])).toEqual([[BASE_NAMESPACE, 'restricted']]);
    const fromKustomize = normalize(kustomized.filter((o) => o.kind !== 'Namespace'));
    const fromHelm = normalize(chart);
    expect([...fromKustomize.keys()].sort()).toEqual([...fromHelm.keys()].sort());
    for (const [key, object] of fromHelm) expect(fromKustomize.get(key), key).toEqual(object);
    // The tool labels differ, as they should.
    expect(kustomized.find((o) => o.kind === 'Deployment')?.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('kustomize');
  });

  it('overlays/production-example equals the chart with the values it names', async () => {
    const [kustomized, chart] = await Promise.all([
      build('production-example'),
      helmTemplate({
        release: BASE_RELEASE,
        namespace: BASE_NAMESPACE,
        includeCrds: true,
        skipTests: true,
        values: {
          azure: { subscriptionId: '00000000-0000-0000-0000-000000000000' },
          operator: { serviceAccount: { clientId: '11111111-1111-1111-1111-111111111111' } },
          datapath: { replicas: 4, serviceAccount: { clientId: '22222222-2222-2222-2222-222222222222' } },
          logLevel: 'debug',
        },
      }),
    ]);
    // Only the ConfigMap checksum annotation differs: kustomize cannot recompute it (patching the ConfigMap
    // does not roll the pods; `kubectl rollout restart` does).
    const fromKustomize = normalize(kustomized.filter((o) => o.kind !== 'Namespace'), { dropConfigChecksum: true });
    const fromHelm = normalize(chart, { dropConfigChecksum: true });
    expect([...fromKustomize.keys()].sort()).toEqual([...fromHelm.keys()].sort());
    for (const [key, object] of fromHelm) expect(fromKustomize.get(key), key).toEqual(object);
  });

  it('is accepted by the API server (server-side dry run)', async () => {
    const kc = testKubeConfig();
    const objects = await build('default');
    // The namespace first (for real: a dry-run namespace does not exist for the objects in it).
    await applyObjects(kc, objects.filter((o) => o.kind === 'Namespace'));
    await applyObjects(kc, objects.filter((o) => o.kind !== 'Namespace'), { dryRun: true });
  });
});
