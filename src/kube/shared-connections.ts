/**
 * One pool of connections to the API server per process, instead of one per request.
 *
 * @kubernetes/client-node 2.x builds a new undici Agent (a connection pool) for every API request
 * (`KubeConfig.applySecurityAuthentication` → `createDispatcher`): each request opens its own TLS
 * connection, which then idles until its keep-alive runs out. An operator enabling 1,000 ReplicatedVMs
 * makes thousands of requests: thousands of TLS handshakes (CPU on both sides) and as many idle sockets
 * and TLS sessions held in native memory (the operator's peak RSS was more than twice its V8 heap).
 *
 * `shareConnections` keeps one dispatcher per distinct set of dispatcher options (cluster, TLS material,
 * proxy): requests with the same options share its pooled keep-alive connections; a changed certificate or
 * CA (the files are read again at every request) gets a dispatcher of its own. Nothing else of the request
 * changes: headers, tokens and the TLS settings are the library's.
 */
import { createHash } from 'node:crypto';
import type { AgentOptions } from 'node:https';
import type { Cluster, KubeConfig } from '@kubernetes/client-node';

/** The library's (private) factory this wraps; the options it maps them to are public (createDispatcherOptions). */
interface DispatcherFactory {
  createDispatcher?: (cluster: Cluster | null, agentOptions: AgentOptions) => unknown;
}

const SHARED = Symbol('siteRecoverySharedConnections');

/** Makes every request made through `kubeConfig` reuse one pooled dispatcher per distinct options. Returns it. */
export function shareConnections(kubeConfig: KubeConfig): KubeConfig {
  const factory = kubeConfig as unknown as DispatcherFactory & { [SHARED]?: true };
  const create = factory.createDispatcher;
  if (typeof create !== 'function' || factory[SHARED]) return kubeConfig;
  const pools = new Map<string, unknown>();
  factory.createDispatcher = (cluster, agentOptions) => {
    const key = keyOf(kubeConfig.createDispatcherOptions(cluster, agentOptions));
    if (!pools.has(key)) pools.set(key, create.call(kubeConfig, cluster, agentOptions));
    return pools.get(key);
  };
  factory[SHARED] = true;
  return kubeConfig;
}

/** A digest of the dispatcher options, certificates and keys included (hashed as bytes). */
function keyOf(options: object): string {
  return createHash('sha256').update(JSON.stringify(options, bytesAsDigest)).digest('base64');
}

/** A JSON replacer: a Buffer (seen as `holder[key]`, before its toJSON) becomes its digest. */
function bytesAsDigest(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key];
  return Buffer.isBuffer(raw) ? createHash('sha256').update(raw).digest('base64') : value;
}
