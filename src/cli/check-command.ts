/**
 * `site-recovery check`: is the installation working? The CRDs of every siterecovery.io kind are served,
 * and an operator replica holds the leader Lease and renews it. The chart's `helm test` hook runs it in a
 * pod with the operator's service account; a person can run it with their kubeconfig. Exit 0 when both
 * hold, 1 with one line per problem otherwise.
 */
import { CoordinationV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { Command } from 'commander';
import { GROUP, RESOURCES, VERSION } from '../api/types.ts';
import { kubeErrorMessage } from '../kube/errors.ts';
import { loadKubeConfig } from './process.ts';
import { namespaceName } from './options.ts';

/** A lease renewed longer ago than its duration plus this margin has no live holder. */
const RENEW_MARGIN_MS = 5_000;

/** The siterecovery.io kinds the API server does not serve ([] when all are). */
export async function unservedKinds(kubeConfig: KubeConfig): Promise<string[]> {
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  // A group no CRD defines is not found at all: none of its kinds is served.
  const served = await api.getAPIResources({ group: GROUP, version: VERSION }).catch((e: unknown) => {
    if ((e as { code?: number }).code === 404) return { resources: [] };
    throw e;
  });
  const plurals = new Set(served.resources.map((r) => r.name));
  return Object.values(RESOURCES).filter((r) => !plurals.has(r.plural)).map((r) => r.kind);
}

/** Why the Lease has no live holder, or undefined when one renews it. */
export async function leaseProblem(kubeConfig: KubeConfig, namespace: string, name: string, now = Date.now()): Promise<string | undefined> {
  const lease = await kubeConfig.makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace, name });
  const holder = lease.spec?.holderIdentity;
  if (!holder) return `Lease ${namespace}/${name} has no holder: no operator replica leads`;
  const renewed = lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : 0;
  const durationMs = (lease.spec?.leaseDurationSeconds ?? 15) * 1000;
  if (now - renewed > durationMs + RENEW_MARGIN_MS) return `Lease ${namespace}/${name} held by ${holder} was last renewed ${Math.round((now - renewed) / 1000)}s ago (duration ${durationMs / 1000}s): its holder is gone`;
  return undefined;
}

export function registerCheckCommand(program: Command): void {
  program
    .command('check')
    .description('Check the installation: the siterecovery.io CRDs are served and an operator replica leads')
    .option('--kubeconfig <path>', 'kubeconfig file (default: KUBECONFIG, in-cluster, ~/.kube/config)')
    .option('--lease-namespace <ns>', "namespace of the operator's leader Lease (default: POD_NAMESPACE, else site-recovery-system)", namespaceName, process.env.POD_NAMESPACE || 'site-recovery-system')
    .option('--lease-name <name>', "name of the operator's leader Lease", 'site-recovery-operator')
    .option('--no-lease', 'skip the Lease check (an operator run without leader election)')
    .action(async (o: { kubeconfig?: string; leaseNamespace: string; leaseName: string; lease: boolean }) => {
      const kubeConfig = loadKubeConfig(o.kubeconfig);
      const problems: string[] = [];
      const missing = await unservedKinds(kubeConfig).catch((e: unknown) => {
        problems.push(`discovery of ${GROUP}/${VERSION} failed: ${kubeErrorMessage(e)}`);
        return [];
      });
      if (missing.length > 0) problems.push(`the API server does not serve ${GROUP}/${VERSION} ${missing.join(', ')}: install the CRDs`);
      if (o.lease) {
        const lease = await leaseProblem(kubeConfig, o.leaseNamespace, o.leaseName).catch((e: unknown) => `Lease ${o.leaseNamespace}/${o.leaseName}: ${kubeErrorMessage(e)}`);
        if (lease) problems.push(lease);
      }
      if (problems.length > 0) throw new Error(problems.join('; '));
      const leading = o.lease ? `; an operator replica leads (Lease ${o.leaseNamespace}/${o.leaseName})` : '';
      process.stdout.write(`ok: ${Object.keys(RESOURCES).length} siterecovery.io kinds served${leading}\n`);
    });
}
