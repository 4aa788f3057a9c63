/** Prometheus metrics of the controller runtime (prom-client, one registry per process). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'site_recovery_process_' });

export const reconcileTotal = new Counter({
  name: 'site_recovery_reconcile_total',
  help: 'Reconciles run, by kind and result (success, requeue, error).',
  labelNames: ['kind', 'result'] as const,
  registers: [registry],
});

export const reconcileErrors = new Counter({
  name: 'site_recovery_reconcile_errors_total',
  help: 'Reconciles that failed, by kind and error class (retryable, fatal, conflict, unknown).',
  labelNames: ['kind', 'class'] as const,
  registers: [registry],
});

export const reconcileDuration = new Histogram({
  name: 'site_recovery_reconcile_duration_seconds',
  help: 'Time spent in one reconcile, by kind.',
  labelNames: ['kind'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export const queueDepth = new Gauge({
  name: 'site_recovery_workqueue_depth',
  help: 'Keys waiting in the work queue, by kind.',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const queueRetries = new Counter({
  name: 'site_recovery_workqueue_retries_total',
  help: 'Keys requeued with backoff after an error, by kind.',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const isLeader = new Gauge({
  name: 'site_recovery_leader',
  help: '1 while this process holds the leader lease, else 0.',
  registers: [registry],
});

export const azureRequests = new Counter({
  name: 'site_recovery_azure_requests_total',
  help: 'Azure Resource Manager requests, by HTTP method, resource provider type and status code.',
  labelNames: ['method', 'type', 'code'] as const,
  registers: [registry],
});
