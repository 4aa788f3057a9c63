// The Argo CD manifests against the real API server with Argo CD's own CRDs installed (from its Go module):
// the root Application, the operator's Application and the DR ApplicationSet are valid Argo CD objects;
// the Application the ApplicationSet generates for the sample DR repository's directory is one too; the
// sample DR repository's objects pass the siterecovery.io CRDs' validation in the namespace that
// Application targets; and the argocd-cm customizations apply.
import fs from 'node:fs';
import path from 'node:path';
import { ApiextensionsV1Api, CoreV1Api, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { argocdCrdFiles, ARGOCD_DOWNLOAD_TIMEOUT_MS } from '../support/argocd.ts';
import { REPO_ROOT } from '../support/helm.ts';
import { applyObjects } from '../support/helm-rbac.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';

const ARGOCD = path.join(REPO_ROOT, 'deploy/argocd');
const DR_DIR = 'dr/payments';
type Manifest = KubernetesObject & { metadata: { name: string; namespace?: string }; spec?: Record<string, unknown> };
const docs = (file: string) => parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => d.toJS() as Manifest);

let kc: KubeConfig;

async function waitEstablished(name: string): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  for (;;) {
    const crd = await api.readCustomResourceDefinition({ name });
    if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return;
    await new Promise((r) => setTimeout(r, 100)); // no watch on one CRD's status for this short wait
  }
}

beforeAll(async () => {
  kc = testKubeConfig();
  const crds = (await argocdCrdFiles()).flatMap(docs);
  await applyObjects(kc, crds, { fieldManager: 'argocd-manifests-test' });
  for (const crd of crds) await waitEstablished(crd.metadata.name);
  const core = kc.makeApiClient(CoreV1Api);
  await core.readNamespace({ name: 'argocd' }).catch(() => core.createNamespace({ body: { metadata: { name: 'argocd' } } }));
}, ARGOCD_DOWNLOAD_TIMEOUT_MS);

describe('Argo CD manifests', () => {
  it('the root Application, the operator Application and the DR ApplicationSet are valid Argo CD objects', async () => {
    const objects = [...docs(path.join(ARGOCD, 'root-application.yaml')), ...fs.readdirSync(path.join(ARGOCD, 'apps')).flatMap((f) => docs(path.join(ARGOCD, 'apps', f)))];
    expect(objects.map((o) => o.kind).sort()).toEqual(['Application', 'Application', 'ApplicationSet']);
    await applyObjects(kc, objects, { dryRun: true });
    // A field Argo CD does not know is refused, so the check above has teeth.
    const [root] = objects;
    const typo = await applyObjects(kc, [{ ...root!, spec: { ...root!.spec, sourcePath: 'typo' } } as Manifest], { dryRun: true }).then(() => 'applied', (e: Error) => e.message);
    expect(typo).toMatch(/sourcePath/);
  });

  it(`the ApplicationSet's Application for ${DR_DIR} is valid, and the objects it syncs pass the siterecovery.io CRDs there`, async () => {
    const [appset] = docs(path.join(ARGOCD, 'apps/dr-applicationset.yaml')) as (Manifest & { spec: { template: { metadata: Record<string, unknown>; spec: Record<string, unknown> } } })[];
    // The git directory generator's parameters for dr/payments, put in the template as Argo CD does.
    const namespace = await createTestNamespace(kc, 'argocd-dr');
    const params: Record<string, string> = { '.path.basename': path.basename(DR_DIR), '.path.path': DR_DIR };
    const rendered = JSON.parse(JSON.stringify(appset!.spec.template).replace(/\{\{ (\.path\.\w+) \}\}/g, (_m, key: string) => params[key] ?? `<missing ${key}>`)) as { metadata: { name: string }; spec: { destination: { namespace: string } } };
    expect(JSON.stringify(rendered)).not.toMatch(/\{\{|<missing/);
    const application = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: { ...rendered.metadata, namespace: 'argocd' }, spec: rendered.spec };
    expect(application.metadata.name).toBe('dr-payments');
    await applyObjects(kc, [application as Manifest], { dryRun: true });

    const synced = fs.readdirSync(path.join(ARGOCD, 'example-dr-repo', DR_DIR)).flatMap((f) => docs(path.join(ARGOCD, 'example-dr-repo', DR_DIR, f)));
    expect(new Set(synced.map((o) => o.kind))).toEqual(new Set(['ReplicationPolicy', 'NetworkMapping', 'ReplicatedVM']));
    // Into the Application's destination namespace (here a test namespace standing for `payments`).
    expect(rendered.spec.destination.namespace).toBe('payments');
    await applyObjects(kc, synced.map((o) => ({ ...o, metadata: { ...o.metadata, namespace } })), { dryRun: true });
  });

  it('the argocd-cm health checks, actions and update filters apply as a server-side patch of argocd-cm', async () => {
    const [cm] = docs(path.join(ARGOCD, 'argocd-cm-health.yaml')) as (Manifest & { data: Record<string, string> })[];
    expect(Object.keys(cm!.data).filter((k) => k.startsWith('resource.customizations.actions.'))).toEqual(['resource.customizations.actions.siterecovery.io_FailoverRequest', 'resource.customizations.actions.siterecovery.io_ReplicatedVM']);
    await applyObjects(kc, [cm!], { fieldManager: 'site-recovery-health' });
    const stored = await kc.makeApiClient(CoreV1Api).readNamespacedConfigMap({ namespace: 'argocd', name: 'argocd-cm' });
    expect(stored.data).toEqual(cm!.data);
  });
});
