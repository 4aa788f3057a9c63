// Plain REST calls to the API server with a KubeConfig's credentials, and a generic server-side apply.
//
// Why not KubernetesObjectApi.patch: @kubernetes/client-node serializes objects of built-in kinds through
// its generated models, which only know the camelCase property names. A CRD read from YAML carries
// `x-kubernetes-validations`, `x-kubernetes-preserve-unknown-fields`, ... and those keys are silently
// dropped, so the CRD is installed without its CEL rules. Sending the manifest as is avoids that.
import https from 'node:https';
import { ApiException } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path and query, e.g. `/apis/apps/v1/namespaces/x/deployments?limit=1`. */
  path: string;
  body?: unknown;
  contentType?: string;
}

/** Sends one request; resolves with the parsed JSON body, rejects with ApiException for non-2xx. */
export async function kubeRequest<T = unknown>(kc: KubeConfig, req: KubeRequest): Promise<T> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/+$/, '') + req.path);
  const opts: https.RequestOptions = { method: req.method, headers: { Accept: 'application/json' } };
  await kc.applyToHTTPSOptions(opts);
  const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
  if (payload) {
    opts.headers = { ...opts.headers, 'Content-Type': req.contentType ?? 'application/json', 'Content-Length': payload.length };
  }
  return new Promise<T>((resolve, reject) => {
    const r = https.request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          try {
            resolve((text ? JSON.parse(text) : undefined) as T);
          } catch (err) {
            reject(err as Error);
          }
          return;
        }
        const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(v)]));
        reject(new ApiException(status, `${req.method} ${req.path}: HTTP ${status}`, text, headers));
      });
    });
    r.on('error', reject);
    r.end(payload);
  });
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

const discoveryCache = new WeakMap<KubeConfig, Map<string, Promise<ApiResource[]>>>();

/** The resource (plural name, scope) that serves `kind` in `apiVersion`, from API discovery. */
export async function resourceFor(kc: KubeConfig, apiVersion: string, kind: string): Promise<ApiResource> {
  let byGv = discoveryCache.get(kc);
  if (!byGv) discoveryCache.set(kc, (byGv = new Map()));
  const lookup = async (fresh: boolean): Promise<ApiResource | undefined> => {
    let list = byGv.get(apiVersion);
    if (!list || fresh) {
      const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      list = kubeRequest<{ resources: ApiResource[] }>(kc, { method: 'GET', path }).then((r) => r.resources);
      byGv.set(apiVersion, list);
      list.catch(() => byGv.delete(apiVersion));
    }
    return (await list).find((r) => r.kind === kind && !r.name.includes('/'));
  };
  // A cached list may predate a CRD installed since: look again once before giving up.
  const found = (await lookup(false).catch(() => undefined)) ?? (await lookup(true));
  if (!found) throw new Error(`the API server does not serve ${kind} in ${apiVersion}`);
  return found;
}

export interface ApplyOptions {
  fieldManager: string;
  /** Take over fields owned by other managers (default true). */
  force?: boolean;
  dryRun?: boolean;
  /** Namespace for namespaced objects whose manifest names none (default `default`). */
  namespace?: string;
}

/** Server-side apply of a manifest exactly as given (no client-side model conversion). */
export async function serverSideApply<T extends KubernetesObject = KubernetesObject>(
  kc: KubeConfig,
  object: KubernetesObject,
  opts: ApplyOptions,
): Promise<T> {
  const { apiVersion, kind, metadata } = object;
  if (!apiVersion || !kind || !metadata?.name) throw new Error('object needs apiVersion, kind and metadata.name');
  const resource = await resourceFor(kc, apiVersion, kind);
  const namespace = metadata.namespace ?? opts.namespace ?? 'default';
  const path = [
    apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`,
    ...(resource.namespaced ? ['namespaces', encodeURIComponent(namespace)] : []),
    resource.name,
    encodeURIComponent(metadata.name),
  ].join('/');
  const query = new URLSearchParams({ fieldManager: opts.fieldManager, force: String(opts.force ?? true) });
  if (opts.dryRun) query.set('dryRun', 'All');
  const body = resource.namespaced ? { ...object, metadata: { ...metadata, namespace } } : object;
  return kubeRequest<T>(kc, { method: 'PATCH', path: `${path}?${query}`, body, contentType: 'application/apply-patch+yaml' });
}
