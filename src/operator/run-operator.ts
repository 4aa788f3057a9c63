/**
 * The operator process: the shared cache (one ARM client set, one informer per kind), one controller per
 * user-written kind (src/controllers/) — and in namespaced tenancy a Namespace informer — all under leader election, with health and metrics endpoints and
 * graceful shutdown.
 */
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { AzureConfig } from '../azure/clients.ts';
import type { CredentialFor } from '../azure/namespace-clients.ts';
import { drillScheduleController } from '../controllers/drill-schedule.ts';
import { pointVerificationController } from '../controllers/point-verification.ts';
import { failoverRequestController } from '../controllers/failover-request.ts';
import { networkMappingController } from '../controllers/network-mapping.ts';
import { exportFleetMetrics } from '../controllers/fleet-metrics.ts';
import { buildOperatorCache, keyFor } from '../controllers/operator-cache.ts';
import { watchScopes, type Tenancy } from '../controllers/tenancy.ts';
import { recoveryPlanController } from '../controllers/recovery-plan.ts';
import { replicatedVmController } from '../controllers/replicated-vm.ts';
import { replicationPolicyController } from '../controllers/replication-policy.ts';
import type { CustomObject } from '../kube/custom-resources.ts';
import type { FailoverOptions } from '../reconcilers/failover/reconciler.ts';
import { KubeEventRecorder } from '../runtime/events.ts';
import type { Informer } from '../runtime/informer.ts';
import { Manager } from '../runtime/manager.ts';
import { createLogger } from '../util/logger.ts';
import type { BackoffOptions } from '../runtime/workqueue.ts';

const log = createLogger('operator');

export interface OperatorOptions {
  kubeConfig: KubeConfig;
  azure: AzureConfig;
  /** Watch only this namespace (default: all namespaces). */
  namespace?: string;
  /** Namespace of the leader-election Lease; undefined disables leader election. */
  leaseNamespace?: string;
  leaseName?: string;
  identity?: string;
  /** Health/metrics port; undefined serves nothing. */
  port?: number;
  workers?: number;
  /** The drift check: how often each object is reconciled with nothing changed. Default 10 minutes. */
  resyncMs?: number;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Retries of a failed reconcile (default: 0.5 s doubling to 5 minutes, ±20%). */
  backoff?: BackoffOptions;
  /** cluster (default, single-tenant) or namespaced (each namespace bounded to its Azure scopes). */
  tenancy?: Tenancy;
  /** Namespaced tenancy: the credential of a namespace's own Azure identity, by client id (default: workload identity). */
  credentialFor?: CredentialFor;
  /** Failover settings: the final sync's deadline, the deadline of a call into the source region. */
  failover?: Partial<FailoverOptions>;
}

export function defaultIdentity(): string {
  return process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
}

export function buildOperator(options: OperatorOptions): Manager {
  const { kubeConfig } = options;
  const identity = options.identity ?? defaultIdentity();
  const events = new KubeEventRecorder(kubeConfig, 'site-recovery-operator', identity);
  const cache = buildOperatorCache({ kubeConfig, azure: options.azure, events, namespace: options.namespace, workers: options.workers, resyncMs: options.resyncMs, ...(options.backoff ? { backoff: options.backoff } : {}), tenancy: options.tenancy, ...(options.credentialFor ? { credentialFor: options.credentialFor } : {}) });
  exportFleetMetrics(cache.informers);
  const { informers } = cache;
  const kinds = [
    [replicationPolicyController(cache), informers.policies],
    [networkMappingController(cache), informers.mappings],
    [replicatedVmController(cache), informers.vms],
    [failoverRequestController(cache, options.failover), informers.failovers],
  ] as const;
  // DrillSchedules and RecoveryPlans name no Azure id: the FailoverRequests they create are checked.
  // The background verification of recovery points is a second controller of ReplicatedVMs.
  const controllers = [...kinds.map(([controller]) => controller), drillScheduleController(cache), recoveryPlanController(cache), pointVerificationController(cache)];

  const manager = new Manager({
    kubeConfig,
    identity,
    port: options.port,
    leaderElection: options.leaseNamespace
      ? { namespace: options.leaseNamespace, name: options.leaseName ?? 'site-recovery-operator', leaseDurationMs: options.leaseDurationMs, renewDeadlineMs: options.renewDeadlineMs, retryPeriodMs: options.retryPeriodMs }
      : undefined,
    onLostLeadership: () => {
      log.error('lost leadership; exiting so that a fresh process campaigns again');
      process.exitCode = 1;
      process.kill(process.pid, 'SIGTERM');
    },
  });
  for (const informer of Object.values(cache.informers)) manager.addInformer(informer as Informer<CustomObject>);
  for (const controller of controllers) manager.addController(controller as never);
  if (cache.scopes) {
    manager.addInformer(cache.scopes.informer as never);
    // Policies name no Azure id; the other kinds are checked again when their namespace's scopes change.
    for (const [controller, informer] of kinds.slice(1)) watchScopes(cache.scopes.informer, controller as never, (namespace) => informer.list(namespace).map(keyFor));
  }
  return manager;
}
