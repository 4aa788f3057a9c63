/** Prometheus metrics of the controller runtime (prom-client, one registry per process). */
import { readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
// prom-client's default metrics already start with process_/nodejs_: the prefix makes them
// site_recovery_process_cpu_seconds_total, site_recovery_nodejs_heap_size_used_bytes, ….
collectDefaultMetrics({ register: registry, prefix: 'site_recovery_' });

/** The package's version: package.json sits two levels up from src/runtime and from dist/runtime. */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export const buildInfo = new Gauge({
  name: 'site_recovery_build_info',
  help: 'Always 1; its labels say which version of site-recovery-operator and of Node.js this process runs.',
  labelNames: ['version', 'nodejs_version'] as const,
  registers: [registry],
});
buildInfo.set({ version: packageVersion(), nodejs_version: process.version }, 1);

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

export const armBudgetWaitSeconds = new Counter({
  name: 'site_recovery_arm_budget_wait_seconds_total',
  help: 'Seconds ARM requests waited for a token of this process\'s share of the ARM budget, by kind (reads, writes, deletes).',
  labelNames: ['kind'] as const,
  registers: [registry],
});
