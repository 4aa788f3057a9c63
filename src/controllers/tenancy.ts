/**
 * The operator's tenancy mode (`--tenancy`, issue #16).
 *   cluster     (default) single-tenant: every object may use the whole subscription the operator manages;
 *               no Namespace is read.
 *   namespaced  a namespace is a tenant: its objects may use only the Azure scopes its Namespace's
 *               `siterecovery.io/azure-scopes` annotation lists (src/azure/scopes.ts). The Namespaces are
 *               read from an informer (get, list, watch on namespaces), and a change of the annotation
 *               reconciles the namespace's objects again.
 *               Optionally a namespace names its own Azure workload identity (siterecovery.io/azure-client-id):
 *               the operator then calls Azure as it for that namespace's objects (src/azure/namespace-clients.ts).
 * Only cluster admins can edit a Namespace, so a namespace editor cannot widen their own scopes.
 */
import { CoreV1Api, type KubeConfig, type V1Namespace } from '@kubernetes/client-node';
import { AZURE_CLIENT_ID_ANNOTATION } from '../azure/namespace-clients.ts';
import { AZURE_SCOPES_ANNOTATION, parseScopes, type ScopeSource, type TenantScopes } from '../azure/scopes.ts';
import type { CustomObject } from '../kube/custom-resources.ts';
import type { Controller } from '../runtime/controller.ts';
import { Informer } from '../runtime/informer.ts';

export const TENANCY_MODES = ['cluster', 'namespaced'] as const;
export type Tenancy = (typeof TENANCY_MODES)[number];

export interface NamespaceScopes extends ScopeSource {
  informer: Informer<V1Namespace>;
  /** The workload identity a namespace's objects use in Azure (its siterecovery.io/azure-client-id annotation), if any. */
  clientIdOf(namespace: string): string | undefined;
}

/** The scope source of namespaced tenancy: the Namespaces' annotations, from an informer. */
export function namespaceScopes(kubeConfig: KubeConfig): NamespaceScopes {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const informer = new Informer<V1Namespace>(kubeConfig, '/api/v1/namespaces', () => core.listNamespace());
  return {
    informer,
    scopesOf(namespace: string): TenantScopes {
      const object = informer.get(namespace);
      if (!object) return { none: `namespace ${namespace} is not known to the operator (yet)` };
      return parseScopes(namespace, object.metadata?.annotations?.[AZURE_SCOPES_ANNOTATION]);
    },
    clientIdOf(namespace: string): string | undefined {
      return informer.get(namespace)?.metadata?.annotations?.[AZURE_CLIENT_ID_ANNOTATION];
    },
  };
}

/** Reconciles every object of a namespace again when its scopes or its Azure identity annotation changes. */
export function watchScopes(informer: Informer<V1Namespace>, controller: Controller<CustomObject>, keysIn: (namespace: string) => string[]): void {
  const scopesOf = (ns: V1Namespace) => `${ns.metadata?.annotations?.[AZURE_SCOPES_ANNOTATION]} ${ns.metadata?.annotations?.[AZURE_CLIENT_ID_ANNOTATION]}`;
  informer.on('update', (ns, previous) => {
    if (previous && scopesOf(previous) === scopesOf(ns)) return;
    for (const key of keysIn(ns.metadata?.name ?? '')) controller.enqueue(key);
  });
}
