// The local control plane of test/support/global-setup.ts is a real Kubernetes API server: version,
// CRDs (schema, status subresource), RBAC, and the project's own CRDs and example manifests.
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  AuthenticationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
  VersionApi,
} from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { installCrds } from '../../sandbox/src/kube/crds.ts';
import {
  createTestNamespace,
  impersonate,
  rejection,
  serviceAccountKubeConfig,
  serviceAccountUsername,
  testKubeConfig,
} from '../support/kube.ts';

let kc: KubeConfig;
let ns: string;

beforeAll(async () => {
  kc = testKubeConfig();
  ns = await createTestNamespace(kc, 'controlplane');
});

describe('control plane', () => {
  it('answers /version with the pinned Kubernetes release', async () => {
    const version = await kc.makeApiClient(VersionApi).getCode();
    const pinned = inject('kubeVersion');
    if (pinned === '') return; // existing cluster: any version
    expect(version.gitVersion).toBe(pinned);
    const [, major, minor] = /^v(\d+)\.(\d+)\./.exec(pinned)!;
    expect(version.major).toBe(major);
    expect(version.minor).toBe(minor);
  });

  it('authenticates the admin client certificate as system:masters', async () => {
    const review = await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    if (inject('kubeVersion') !== '') expect(review.status?.userInfo?.groups).toContain('system:masters');
  });
});

const GROUP = 'cptest.site-recovery.example';
const WIDGET_CRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.${GROUP}
spec:
  group: ${GROUP}
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget, listKind: WidgetList }
  versions:
    - name: v1
      served: true
      storage: true
      subresources: { status: {} }
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [size]
              properties:
                size: { type: integer, minimum: 1 }
                mode: { type: string }
              x-kubernetes-validations:
                - rule: "self.size <= 10 || (has(self.mode) && self.mode == 'large')"
                  message: size above 10 needs mode large
            status:
              type: object
              properties:
                phase: { type: string }
`;

describe('custom resources', () => {
  const widgets = { group: GROUP, version: 'v1', plural: 'widgets' };
  let custom: CustomObjectsApi;

  beforeAll(async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'cp-crd-'));
    try {
      await fsp.writeFile(path.join(dir, 'widget.yaml'), WIDGET_CRD);
      await fsp.writeFile(path.join(dir, 'not-a-crd.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n');
      expect(await installCrds(kc, dir)).toEqual([`widgets.${GROUP}`]);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
    custom = kc.makeApiClient(CustomObjectsApi);
  });

  it('installs a CRD that becomes Established and is served', async () => {
    const list = (await custom.listNamespacedCustomObject({ ...widgets, namespace: ns })) as { items: unknown[] };
    expect(list.items).toEqual([]);
  });

  it('validates custom resources against the schema and CEL rules', async () => {
    const body = (spec: object): object => ({
      apiVersion: `${GROUP}/v1`,
      kind: 'Widget',
      metadata: { generateName: 'bad-' },
      spec,
    });
    const minimum = await rejection(custom.createNamespacedCustomObject({ ...widgets, namespace: ns, body: body({ size: 0 }) }));
    expect(minimum.code).toBe(422);
    expect(minimum.message).toContain('spec.size');
    const cel = await rejection(custom.createNamespacedCustomObject({ ...widgets, namespace: ns, body: body({ size: 11 }) }));
    expect(cel.code).toBe(422);
    expect(cel.message).toContain('size above 10 needs mode large');
  });

  it('keeps spec and status apart through the status subresource', async () => {
    const name = 'w1';
    const created = (await custom.createNamespacedCustomObject({
      ...widgets,
      namespace: ns,
      body: { apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name }, spec: { size: 2 }, status: { phase: 'ignored' } },
    })) as { metadata: { generation: number }; status?: unknown };
    expect(created.status).toBeUndefined(); // status is dropped on create when the subresource is enabled

    const withStatus = (await custom.replaceNamespacedCustomObjectStatus({
      ...widgets,
      namespace: ns,
      name,
      body: { ...created, spec: { size: 9 }, status: { phase: 'Ready' } },
    })) as { spec: { size: number }; status: { phase: string }; metadata: { generation: number } };
    expect(withStatus.status.phase).toBe('Ready');
    expect(withStatus.spec.size).toBe(2); // spec changes through /status are ignored
    expect(withStatus.metadata.generation).toBe(created.metadata.generation); // status writes don't bump generation

    const updated = (await custom.replaceNamespacedCustomObject({
      ...widgets,
      namespace: ns,
      name,
      body: { ...withStatus, spec: { size: 3 }, status: { phase: 'Lost' } },
    })) as { spec: { size: number }; status: { phase: string }; metadata: { generation: number } };
    expect(updated.spec.size).toBe(3);
    expect(updated.status.phase).toBe('Ready'); // status changes through the main resource are ignored
    expect(updated.metadata.generation).toBe(created.metadata.generation + 1);
  });
});

describe('RBAC', () => {
  const sa = 'reader';
  let otherNs: string;

  beforeAll(async () => {
    otherNs = await createTestNamespace(kc, 'controlplane-other');
    const core = kc.makeApiClient(CoreV1Api);
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: sa } } });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'settings' }, data: { a: '1' } } });
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: 'configmap-reader' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'reader-reads-configmaps' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'configmap-reader' },
        subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
      },
    });
  });

  async function expectRoleEnforced(as: KubeConfig): Promise<void> {
    const core = as.makeApiClient(CoreV1Api);
    const list = await core.listNamespacedConfigMap({ namespace: ns });
    expect(list.items.map((c) => c.metadata?.name)).toContain('settings');
    expect((await core.readNamespacedConfigMap({ namespace: ns, name: 'settings' })).data).toEqual({ a: '1' });

    const create = await rejection(core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'nope' } } }));
    expect(create.code).toBe(403);
    expect(create.message).toContain(serviceAccountUsername(ns, sa));
    expect((await rejection(core.listNamespacedSecret({ namespace: ns }))).code).toBe(403);
    expect((await rejection(core.listNamespacedConfigMap({ namespace: otherNs }))).code).toBe(403);
  }

  it('impersonating the service account allows what its Role grants and nothing else', async () => {
    const as = impersonate(kc, serviceAccountUsername(ns, sa));
    const review = await as.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).toBe(serviceAccountUsername(ns, sa));
    expect(review.status?.userInfo?.groups).toContain(`system:serviceaccounts:${ns}`);
    await expectRoleEnforced(as);
  });

  it('a TokenRequest token of the service account gets the same permissions', async () => {
    const as = await serviceAccountKubeConfig(kc, ns, sa);
    const review = await as.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).toBe(serviceAccountUsername(ns, sa));
    await expectRoleEnforced(as);
  });
});
