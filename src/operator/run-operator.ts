/**
 * The operator process: one ARM client set, one informer per kind, one controller per user-written kind,
 * all under leader election, with health and metrics endpoints and graceful shutdown.
 */
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { FailoverRequest, NetworkMapping, RecoveryPoint, ReplicatedVM, ReplicationPolicy } from '../api/types.ts';
import { AzureClients, type AzureConfig } from '../azure/clients.ts';
import { classifyAzureError } from '../azure/errors.ts';
import { Controller } from '../runtime/controller.ts';
import { KubeEventRecorder } from '../runtime/events.ts';
import { Informer } from '../runtime/informer.ts';
import { Manager } from '../runtime/manager.ts';
import { CustomResourceClient, type CustomObject } from '../kube/custom-resources.ts';
import { FailoverRequestReconciler } from '../reconcilers/failover/reconciler.ts';
import { NetworkMappingReconciler } from '../reconcilers/network-mapping.ts';
import { ReplicatedVmReconciler } from '../reconcilers/replicated-vm.ts';
import { ReplicationPolicyReconciler } from '../reconcilers/replication-policy.ts';
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
  /** Drift resync period. */
  resyncMs?: number;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export function defaultIdentity(): string {
  return process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
}

function informerFor<T extends CustomObject>(kubeConfig: KubeConfig, client: CustomResourceClient<T>, namespace?: string): Informer<T> {
  return new Informer<T>(kubeConfig, client.path(namespace), async () => (await client.list(namespace)) as never);
}

export function buildOperator(options: OperatorOptions): Manager {
  const { kubeConfig } = options;
  const identity = options.identity ?? defaultIdentity();
  const az = new AzureClients(options.azure);
  const events = new KubeEventRecorder(kubeConfig, 'site-recovery-operator', identity);

  const policies = new CustomResourceClient<ReplicationPolicy>(kubeConfig, 'ReplicationPolicy');
  const mappings = new CustomResourceClient<NetworkMapping>(kubeConfig, 'NetworkMapping');
  const vms = new CustomResourceClient<ReplicatedVM>(kubeConfig, 'ReplicatedVM');
  const recoveryPoints = new CustomResourceClient<RecoveryPoint>(kubeConfig, 'RecoveryPoint');
  const failovers = new CustomResourceClient<FailoverRequest>(kubeConfig, 'FailoverRequest');

  const policyInformer = informerFor(kubeConfig, policies, options.namespace);
  const mappingInformer = informerFor(kubeConfig, mappings, options.namespace);
  const vmInformer = informerFor(kubeConfig, vms, options.namespace);
  const failoverInformer = informerFor(kubeConfig, failovers, options.namespace);
  const vmsIn = (namespace: string) => vmInformer.list(namespace);

  const common = { events, workers: options.workers, resyncMs: options.resyncMs, classifyError: (e: unknown) => classifyAzureError(e).class };
  const policyController = new Controller<ReplicationPolicy>({ kind: 'ReplicationPolicy', client: policies, informer: policyInformer, reconciler: new ReplicationPolicyReconciler(policies, vmsIn), ...common });
  const mappingController = new Controller<NetworkMapping>({ kind: 'NetworkMapping', client: mappings, informer: mappingInformer, reconciler: new NetworkMappingReconciler(mappings, az, vmsIn), ...common });
  const vmController = new Controller<ReplicatedVM>({
    kind: 'ReplicatedVM',
    client: vms,
    informer: vmInformer,
    reconciler: new ReplicatedVmReconciler({ vms, policies, mappings, recoveryPoints, az, listAllVms: () => vmInformer.list(), listFailovers: (ns) => failoverInformer.list(ns) }),
    ...common,
  });
  const failoverController = new Controller<FailoverRequest>({
    kind: 'FailoverRequest',
    client: failovers,
    informer: failoverInformer,
    reconciler: new FailoverRequestReconciler({ failovers, vms, mappings, points: recoveryPoints, az, listFailovers: (ns) => failoverInformer.list(ns) }),
    ...common,
  });

  // A VM's policy or mapping changing (or appearing) wakes the VM; a VM changing wakes what it references.
  const vmKeysUsing = (field: 'policyRef' | 'networkMappingRef') => (o: CustomObject) =>
    vmInformer.list(o.metadata.namespace).filter((vm) => vm.spec[field].name === o.metadata.name).map((vm) => `${vm.metadata.namespace}/${vm.metadata.name}`);
  vmController.watchRelated(policyInformer, vmKeysUsing('policyRef'));
  vmController.watchRelated(mappingInformer, vmKeysUsing('networkMappingRef'));
  policyController.watchRelated(vmInformer, (vm) => [`${vm.metadata.namespace}/${vm.spec.policyRef.name}`]);
  mappingController.watchRelated(vmInformer, (vm) => [`${vm.metadata.namespace}/${vm.spec.networkMappingRef.name}`]);
  // A failover moves its VM's phase; the VM's status (the datapath's sync-now answer) moves the failover on.
  vmController.watchRelated(failoverInformer, (fo) => [`${fo.metadata.namespace}/${fo.spec.replicatedVMName}`]);
  failoverController.watchRelated(vmInformer, (vm) =>
    failoverInformer
      .list(vm.metadata.namespace)
      .filter((fo) => fo.spec.replicatedVMName === vm.metadata.name && ['Pending', 'Running', undefined].includes(fo.status?.phase))
      .map((fo) => `${fo.metadata.namespace}/${fo.metadata.name}`),
  );

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
  for (const informer of [policyInformer, mappingInformer, vmInformer, failoverInformer]) manager.addInformer(informer as Informer<CustomObject>);
  for (const controller of [policyController, mappingController, vmController, failoverController]) manager.addController(controller as never);
  return manager;
}
