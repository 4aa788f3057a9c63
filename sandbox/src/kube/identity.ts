// KubeConfigs that act as another identity, so tests can prove what RBAC allows.
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import type { Cluster, User } from '@kubernetes/client-node';

function current(kc: KubeConfig): { cluster: Cluster; user: User } {
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  if (!cluster || !user) throw new Error('kubeconfig has no current cluster/user');
  return { cluster, user };
}

function single(cluster: Cluster, user: User, name: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [user],
    contexts: [{ name, cluster: cluster.name, user: user.name }],
    currentContext: name,
  });
  return kc;
}

/**
 * The same credentials, impersonating `username` (the `Impersonate-User` header; kubeconfig `as:`).
 * For a service account pass `system:serviceaccount:<namespace>:<name>`: the apiserver then adds the
 * groups system:serviceaccounts and system:serviceaccounts:<namespace> itself. The caller needs the
 * `impersonate` verb (the admin of a sandbox control plane has it).
 */
export function impersonate(kc: KubeConfig, username: string): KubeConfig {
  const { cluster, user } = current(kc);
  return single(cluster, { ...user, name: `${user.name}-as-${username}`, impersonateUser: username }, `as-${username}`);
}

export function serviceAccountUsername(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

/**
 * A KubeConfig that authenticates as the service account itself, with a bound token from the TokenRequest
 * API (the account must exist). Unlike impersonation this exercises real token authentication.
 */
export async function serviceAccountKubeConfig(
  kc: KubeConfig,
  namespace: string,
  name: string,
  expirationSeconds = 3600,
): Promise<KubeConfig> {
  const { cluster } = current(kc);
  const res = await kc.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds } },
  });
  const token = res.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
  const userName = serviceAccountUsername(namespace, name);
  return single(cluster, { name: userName, token }, userName);
}
