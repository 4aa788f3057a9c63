/**
 * The Helm chart's RBAC, applied to a test control plane, and KubeConfigs that act as the chart's service
 * accounts: run the operator or the datapath with exactly the permissions the chart grants.
 *
 *   const kc = await chartServiceAccountKubeConfig(admin, 'operator', namespace);
 *   buildOperator({ kubeConfig: kc, leaseNamespace: namespace, ... })
 *
 * Each namespace gets its own release (ClusterRoles and ClusterRoleBindings are named after it), so test
 * files running side by side never share a binding. Impersonation needs an admin KubeConfig (the test
 * control plane's has the `impersonate` verb).
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { impersonate, serviceAccountUsername } from '../../sandbox/src/kube/identity.ts';
import { REQUIRED_VALUES, helmTemplate, type Manifest } from './helm.ts';

export type ChartComponent = 'operator' | 'datapath';

export const RBAC_KINDS = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
export const FIELD_MANAGER = 'site-recovery-tests';

export interface ChartRbac {
  namespace: string;
  /** The fullname the objects were rendered with (unique per namespace). */
  fullname: string;
  serviceAccounts: Record<ChartComponent, string>;
  /** The RBAC objects as applied. */
  objects: Manifest[];
}

/** A fullname unique to the namespace (short, DNS-safe). */
export function chartFullnameFor(namespace: string): string {
  return `sro-${crypto.createHash('sha256').update(namespace).digest('hex').slice(0, 10)}`;
}

/** The chart's RBAC objects rendered for `namespace` (helm template; no cluster access). */
export async function renderChartRbac(namespace: string, values: Record<string, unknown> = {}): Promise<ChartRbac> {
  const fullname = chartFullnameFor(namespace);
  const objects = (
    await helmTemplate({ release: 'site-recovery-operator', namespace, set: REQUIRED_VALUES, values: { fullnameOverride: fullname, rbac: { aggregateToView: false, aggregateToEdit: false }, ...values } })
  ).filter((o) => RBAC_KINDS.has(o.kind));
  const sa = (component: ChartComponent) => {
    const account = objects.find((o) => o.kind === 'ServiceAccount' && o.metadata.labels?.['app.kubernetes.io/component'] === component);
    if (!account) throw new Error(`the chart renders no ServiceAccount for the ${component}`);
    return account.metadata.name;
  };
  return { namespace, fullname, serviceAccounts: { operator: sa('operator'), datapath: sa('datapath') }, objects };
}

/** Server-side applies objects (as `fieldManager`, forcing ownership), or creates them; `dryRun` validates only. */
export async function applyObjects(kc: KubeConfig, objects: KubernetesObject[], opts: { dryRun?: boolean; fieldManager?: string; create?: boolean } = {}): Promise<void> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  for (const object of objects) {
    try {
      if (opts.create) await client.create(object, undefined, opts.dryRun ? 'All' : undefined, opts.fieldManager ?? FIELD_MANAGER);
      else await client.patch(object, undefined, opts.dryRun ? 'All' : undefined, opts.fieldManager ?? FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
    } catch (error) {
      const body = (error as { body?: unknown }).body;
      const message = typeof body === 'string' ? body : JSON.stringify(body ?? (error as Error).message);
      throw new Error(`${opts.dryRun ? 'dry-run ' : ''}apply of ${object.kind} ${object.metadata?.namespace ?? ''}/${object.metadata?.name} failed: ${message}`, { cause: error });
    }
  }
}

const installed = new Map<string, Promise<ChartRbac>>();

function clusterKey(kc: KubeConfig, namespace: string): string {
  return `${kc.getCurrentCluster()?.server}|${namespace}`;
}

/** Applies the chart's RBAC for `namespace` (created if missing) once per cluster and namespace. */
export function installChartRbac(kc: KubeConfig, namespace: string): Promise<ChartRbac> {
  const key = clusterKey(kc, namespace);
  let promise = installed.get(key);
  if (!promise) {
    promise = (async () => {
      const core = kc.makeApiClient(CoreV1Api);
      await core.readNamespace({ name: namespace }).catch(async () => {
        await core.createNamespace({ body: { metadata: { name: namespace, labels: { 'site-recovery.test/namespace': 'true' } } } });
      });
      const rbac = await renderChartRbac(namespace);
      await applyObjects(kc, rbac.objects);
      return rbac;
    })();
    promise.catch(() => installed.delete(key));
    installed.set(key, promise);
  }
  return promise;
}

/**
 * A KubeConfig that impersonates the chart's ServiceAccount of `component` in `namespace`, after applying
 * the chart's RBAC there. Its Leases (leader election, datapath membership) belong in `namespace`.
 */
export async function chartServiceAccountKubeConfig(kc: KubeConfig, component: ChartComponent, namespace: string): Promise<KubeConfig> {
  const rbac = await installChartRbac(kc, namespace);
  return impersonate(kc, serviceAccountUsername(namespace, rbac.serviceAccounts[component]));
}

/** Writes a KubeConfig to a temp file (for child processes: `--kubeconfig`); returns its path. */
export async function writeKubeConfig(kc: KubeConfig, name = 'kubeconfig'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sro-kubeconfig-'));
  const file = path.join(dir, name);
  await fs.writeFile(file, kc.exportConfig(), { mode: 0o600 });
  return file;
}
