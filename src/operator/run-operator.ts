/**
 * The operator process: the shared cache (one ARM client set, one informer per kind), one controller per
 * user-written kind (src/controllers/), all under leader election, with health and metrics endpoints and
 * graceful shutdown.
 */
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { AzureConfig } from '../azure/clients.ts';
import { failoverRequestController } from '../controllers/failover-request.ts';
import { networkMappingController } from '../controllers/network-mapping.ts';
import { exportFleetMetrics } from '../controllers/fleet-metrics.ts';
import { buildOperatorCache } from '../controllers/operator-cache.ts';
import { recoveryPlanController } from '../controllers/recovery-plan.ts';
import { replicatedVmController } from '../controllers/replicated-vm.ts';
import { replicationPolicyController } from '../controllers/replication-policy.ts';
import type { CustomObject } from '../kube/custom-resources.ts';
import type { FailoverOptions } from '../reconcilers/failover/reconciler.ts';
import { KubeEventRecorder } from '../runtime/events.ts';
import type { Informer } from '../runtime/informer.ts';
import { Manager } from '../runtime/manager.ts';
import { createLogger } from '../util/logger.ts';

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
  const cache = buildOperatorCache({ kubeConfig, azure: options.azure, events, namespace: options.namespace, workers: options.workers, resyncMs: options.resyncMs });
  exportFleetMetrics(cache.informers);
  const controllers = [replicationPolicyController(cache), networkMappingController(cache), replicatedVmController(cache), failoverRequestController(cache, options.failover), recoveryPlanController(cache)];

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
  return manager;
}
