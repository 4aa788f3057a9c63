// Helpers for integration tests that talk to the control plane of test/support/global-setup.ts.
import crypto from 'node:crypto';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { inject } from 'vitest';
import { apiErrorMessage } from '../../sandbox/src/kube/crds.ts';

export { impersonate, serviceAccountKubeConfig, serviceAccountUsername } from '../../sandbox/src/kube/identity.ts';

/** Admin KubeConfig (system:masters) of the test control plane. */
export function testKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(inject('kubeconfigPath'));
  return kc;
}

/**
 * Creates a namespace with a unique name (`<prefix>-<random>`, labelled for the test run) and returns its name.
 * Call it once per test file (e.g. in beforeAll). Namespaces are not deleted: no controllers run in the
 * test control plane, so a deleted namespace would stay Terminating anyway, and the etcd data is thrown
 * away at the end of the run.
 */
export async function createTestNamespace(kc: KubeConfig, prefix = 'test'): Promise<string> {
  const base = prefix.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 50) || 'test';
  const name = `${base}-${crypto.randomBytes(4).toString('hex')}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({
    body: { metadata: { name, labels: { 'site-recovery.test/namespace': 'true' } } },
  });
  return name;
}

/** The HTTP status and Status.message of a request the API server refused; throws if it succeeded. */
export async function rejection(request: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await request;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    return { code: err.code, message: apiErrorMessage(err) };
  }
  throw new Error('expected the API server to refuse the request, but it succeeded');
}
