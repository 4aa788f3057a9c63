/**
 * What every controller of the operator shares: one typed client and one informer (list+watch cache) per
 * kind, one ARM client set and one event recorder. Controllers and reconcilers read from these caches;
 * a controller reads the object it reconciles from the API server only while its cache may still predate
 * the last reconcile's writes (src/runtime/controller.ts).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { DrillSchedule, FailoverRequest, NetworkMapping, RecoveryPlan, RecoveryPoint, ReplicatedVM, ReplicationPolicy } from '../api/types.ts';
import { AzureClients, type AzureConfig } from '../azure/clients.ts';
import { classifyAzureError } from '../azure/errors.ts';
import { perNamespaceClients, type CredentialFor } from '../azure/namespace-clients.ts';
import { KubeJobClient, type JobClient } from '../kube/jobs.ts';
import { CustomResourceClient, keyOf, refOf, type CustomObject, type ObjectReader, type ObjectRef } from '../kube/custom-resources.ts';
import type { EventRecorder } from '../runtime/events.ts';
import { Informer } from '../runtime/informer.ts';
import { RetryableError, TerminalError } from '../runtime/reconcile-errors.ts';
import type { BackoffOptions } from '../runtime/workqueue.ts';
import { namespaceScopes, type NamespaceScopes, type Tenancy } from './tenancy.ts';

export interface OperatorCache {
  kubeConfig: KubeConfig;
  az: AzureClients;
  /** The configuration the ARM clients were made from (the ARM budget policies are checked against). */
  azureConfig: AzureConfig;
  events: EventRecorder;
  clients: {
    policies: CustomResourceClient<ReplicationPolicy>;
    mappings: CustomResourceClient<NetworkMapping>;
    vms: CustomResourceClient<ReplicatedVM>;
    recoveryPoints: CustomResourceClient<RecoveryPoint>;
    failovers: CustomResourceClient<FailoverRequest>;
    drillSchedules: CustomResourceClient<DrillSchedule>;
    plans: CustomResourceClient<RecoveryPlan>;
    /** batch/v1 Jobs (a recovery plan's actions). */
    jobs: JobClient;
  };
  informers: {
    policies: Informer<ReplicationPolicy>;
    mappings: Informer<NetworkMapping>;
    vms: Informer<ReplicatedVM>;
    failovers: Informer<FailoverRequest>;
    drillSchedules: Informer<DrillSchedule>;
    plans: Informer<RecoveryPlan>;
  };
  /** Namespaced tenancy: each namespace's Azure scopes (tenancy.ts); absent in cluster tenancy. */
  scopes?: NamespaceScopes;
  /** Options every controller takes. */
  controllerOptions: { events: EventRecorder; workers?: number; resyncMs?: number; backoff?: BackoffOptions; classifyError: (error: unknown) => string };
}

function informerFor<T extends CustomObject>(kubeConfig: KubeConfig, client: CustomResourceClient<T>, namespace?: string): Informer<T> {
  return new Informer<T>(kubeConfig, client.path(namespace), async () => (await client.list(namespace)) as never);
}

export function buildOperatorCache(options: { kubeConfig: KubeConfig; azure: AzureConfig; events: EventRecorder; namespace?: string; workers?: number; resyncMs?: number; backoff?: BackoffOptions; tenancy?: Tenancy; credentialFor?: CredentialFor }): OperatorCache {
  const { kubeConfig, namespace } = options;
  const scopes = options.tenancy === 'namespaced' ? namespaceScopes(kubeConfig) : undefined;
  // Namespaced tenancy: a namespace may name its own Azure identity, used for its objects (namespace-clients.ts).
  const az = scopes ? perNamespaceClients(options.azure, { followOperations: true }, (ns) => scopes.clientIdOf(ns), options.credentialFor) : new AzureClients(options.azure, { followOperations: true });
  const clients = {
    policies: new CustomResourceClient<ReplicationPolicy>(kubeConfig, 'ReplicationPolicy'),
    mappings: new CustomResourceClient<NetworkMapping>(kubeConfig, 'NetworkMapping'),
    vms: new CustomResourceClient<ReplicatedVM>(kubeConfig, 'ReplicatedVM'),
    recoveryPoints: new CustomResourceClient<RecoveryPoint>(kubeConfig, 'RecoveryPoint'),
    failovers: new CustomResourceClient<FailoverRequest>(kubeConfig, 'FailoverRequest'),
    drillSchedules: new CustomResourceClient<DrillSchedule>(kubeConfig, 'DrillSchedule'),
    plans: new CustomResourceClient<RecoveryPlan>(kubeConfig, 'RecoveryPlan'),
  };
  return {
    kubeConfig,
    az,
    azureConfig: options.azure,
    events: options.events,
    clients: { ...clients, jobs: new KubeJobClient(kubeConfig) },
    informers: {
      policies: informerFor(kubeConfig, clients.policies, namespace),
      mappings: informerFor(kubeConfig, clients.mappings, namespace),
      vms: informerFor(kubeConfig, clients.vms, namespace),
      failovers: informerFor(kubeConfig, clients.failovers, namespace),
      drillSchedules: informerFor(kubeConfig, clients.drillSchedules, namespace),
      plans: informerFor(kubeConfig, clients.plans, namespace),
    },
    ...(scopes ? { scopes } : {}),
    controllerOptions: { events: options.events, workers: options.workers, resyncMs: options.resyncMs, ...(options.backoff ? { backoff: options.backoff } : {}), classifyError: classifyForMetrics },
  };
}

/** The class of an error for the error metrics: that of the Azure error behind a reconcile error. */
function classifyForMetrics(error: unknown): string {
  const cause = error instanceof TerminalError || error instanceof RetryableError ? (error.cause ?? error) : error;
  return classifyAzureError(cause).class;
}

/** The queue key of an object (namespace/name). */
export function keyFor(object: CustomObject): string {
  return keyOf(refOf(object));
}


/** Reads of one kind from its informer's cache, shaped like the client's get (a copy: callers may modify it). */
export function cachedReader<T extends CustomObject>(informer: Informer<T>): ObjectReader<T> {
  return {
    get: async (ref: ObjectRef) => {
      const cached = informer.get(ref.name, ref.namespace);
      return cached && structuredClone(cached);
    },
  };
}
