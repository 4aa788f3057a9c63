/**
 * Per-namespace Azure identity (namespaced tenancy, issue #16): a Namespace annotated
 * `siterecovery.io/azure-client-id: <client id>` has the operator call Azure, for that namespace's objects,
 * as that workload identity instead of its own — so Azure RBAC on the identity's role assignments is a second
 * boundary beside the namespace's scopes annotation. Only cluster admins can edit a Namespace.
 *
 * In a cluster: the identity is a user-assigned managed identity (or app registration) with a federated
 * credential trusting the operator's service account; the operator exchanges its own projected service
 * account token for it (WorkloadIdentityCredential with that client id; tenant and token file from the
 * workload identity webhook's environment).
 *
 * How: one set of clients per identity (own pipeline, so the SDK's token cache and refresh never mix two
 * identities), chosen at each property access by the namespace of the reconcile running
 * (src/runtime/reconcile-scope.ts) — reconcilers keep one `az` and use it as before. Outside a reconcile, or
 * for a namespace without the annotation, the operator's own clients answer. The datapath keeps its own
 * identity.
 */
import type { TokenCredential } from '@azure/core-auth';
import { WorkloadIdentityCredential } from '@azure/identity';
import { currentNamespace } from '../runtime/reconcile-scope.ts';
import { AzureClients, type AzureConfig } from './clients.ts';

export const AZURE_CLIENT_ID_ANNOTATION = 'siterecovery.io/azure-client-id';

/** A credential for a workload identity's client id (default: WorkloadIdentityCredential). */
export type CredentialFor = (clientId: string) => TokenCredential;

export const workloadIdentityFor: CredentialFor = (clientId) => new WorkloadIdentityCredential({ clientId });

/** AzureClients that are, at each use, those of the identity of the reconcile's namespace (see the header). */
export function perNamespaceClients(
  config: AzureConfig,
  options: ConstructorParameters<typeof AzureClients>[1],
  clientIdOf: (namespace: string) => string | undefined,
  credentialFor: CredentialFor = workloadIdentityFor,
): AzureClients {
  const own = new AzureClients(config, options);
  const byClientId = new Map<string, AzureClients>();
  const current = (): AzureClients => {
    const namespace = currentNamespace();
    const clientId = namespace === undefined ? undefined : clientIdOf(namespace)?.trim();
    if (!clientId) return own;
    let clients = byClientId.get(clientId);
    if (!clients) byClientId.set(clientId, (clients = new AzureClients({ ...config, credential: credentialFor(clientId) }, options)));
    return clients;
  };
  return new Proxy(own, {
    get(_own, property) {
      const clients = current();
      const value: unknown = Reflect.get(clients, property, clients);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(clients) : value;
    },
  });
}
