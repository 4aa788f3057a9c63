// Every Prometheus metric the Helm chart's alerts and autoscalers query is one the code exports; the
// operator's fleet gauges say what the alerts need; the process metrics and build info are named once.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DrillSchedule, FailoverRequest, ReplicatedVM, ReplicationPolicy } from '../../src/api/types.ts';
import { exportFleetMetrics } from '../../src/controllers/fleet-metrics.ts';
import { promqlErrors, selectorsOf } from '../support/promql.ts';
import { registry } from '../../src/runtime/metrics.ts';
import '../../src/datapath/metrics.ts';

const chart = join(import.meta.dirname, '..', '..', 'charts', 'site-recovery-operator');

/** The sample lines of one metric in the registry's exposition, without help and type lines. */
async function samples(name: string): Promise<string[]> {
  return (await registry.metrics()).split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

describe('metric names', () => {
  it('the chart queries only metrics the operator and the datapath export', async () => {
    const exported = new Set((await registry.getMetricsAsJSON()).flatMap((m) => [m.name, `${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`]));
    const templates = readdirSync(join(chart, 'templates'), { recursive: true, encoding: 'utf8' }).filter((f) => /\.(yaml|tpl)$/.test(f));
    const files = [...templates.map((f) => join(chart, 'templates', f)), join(chart, 'values.yaml')];
    const queried = new Set(files.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/\bsite_recovery_[a-z_]+\b/g)].map((m) => m[0])));
    expect(queried.size).toBeGreaterThanOrEqual(8);
    expect([...queried].filter((name) => !exported.has(name))).toEqual([]);
  });

  it('the Grafana dashboard: every query parses as PromQL and selects metrics the code exports', async () => {
    const exported = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
    type Dashboard = { uid: string; panels: { title: string; targets: { expr: string }[] }[] };
    const dashboard = JSON.parse(readFileSync(join(chart, 'dashboards', 'site-recovery-fleet.json'), 'utf8')) as Dashboard;
    const queries = dashboard.panels.flatMap((p) => p.targets.map((t) => ({ panel: p.title, expr: t.expr.replaceAll('$namespace', '.*') })));
    expect(queries.length).toBeGreaterThan(10);
    for (const { panel, expr } of queries) {
      expect(promqlErrors(expr), panel).toEqual([]);
      const metrics = selectorsOf(expr).map((s) => s.metric).filter((m) => m.startsWith('site_recovery_'));
      expect(metrics.length, panel).toBeGreaterThan(0);
      expect(metrics.filter((m) => !exported.has(m)), panel).toEqual([]);
    }
    // What the issue asks the dashboard to show: fleet and per-VM RPO, backlog, throughput, drills, ARM throttling.
    const all = queries.map((q) => q.expr).join('\n');
    for (const metric of ['site_recovery_datapath_rpo_seconds', 'site_recovery_datapath_backlog_bytes', 'site_recovery_datapath_applied_bytes_total', 'site_recovery_failover_failed']) expect(all).toContain(metric);
    expect(all).toContain('site_recovery_azure_requests_total{code="429"}');
  });

  it('names the process metrics once (site_recovery_process_cpu_seconds_total) and exports build info', async () => {
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names).toContain('site_recovery_process_cpu_seconds_total');
    expect(names).toContain('site_recovery_nodejs_heap_size_used_bytes');
    expect(names.filter((n) => n.includes('process_process') || n.includes('process_nodejs'))).toEqual([]);
    const version = (JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
    expect(await samples('site_recovery_build_info')).toEqual([`site_recovery_build_info{version="${version}",nodejs_version="${process.version}"} 1`]);
  });
});

describe('fleet gauges, from the operator caches at scrape time', () => {
  const vm = (namespace: string, name: string, phase: string, policy = 'fast'): ReplicatedVM =>
    ({ metadata: { namespace, name }, spec: { policyRef: { name: policy } }, status: { phase } }) as unknown as ReplicatedVM;
  const policies: Record<string, ReplicationPolicy> = {
    'a/fast': { metadata: { namespace: 'a', name: 'fast' }, spec: { rpoWarningThreshold: '2m', rpoCriticalThreshold: '1h30m' } } as unknown as ReplicationPolicy,
  };
  const failover = (name: string, phase: string): FailoverRequest =>
    ({ metadata: { namespace: 'a', name }, spec: { replicatedVMName: 'web', type: 'Planned' }, status: { phase } }) as unknown as FailoverRequest;

  it('protected VMs, each VM’s policy thresholds (defaults without a policy), failed failovers', async () => {
    exportFleetMetrics({
      vms: { list: () => [vm('a', 'web', 'Protected'), vm('b', 'db', 'InitialSync', 'missing')] },
      policies: { get: (name, namespace) => policies[`${namespace}/${name}`] },
      failovers: { list: () => [failover('ok', 'Succeeded'), failover('broken', 'Failed')] },
    });
    expect(await samples('site_recovery_replicatedvm_protected')).toEqual(['site_recovery_replicatedvm_protected{namespace="a",name="web",policy="fast"} 1']);
    expect(await samples('site_recovery_replicatedvm_rpo_threshold_seconds')).toEqual([
      'site_recovery_replicatedvm_rpo_threshold_seconds{namespace="a",name="web",severity="warning"} 120',
      'site_recovery_replicatedvm_rpo_threshold_seconds{namespace="a",name="web",severity="critical"} 5400',
      'site_recovery_replicatedvm_rpo_threshold_seconds{namespace="b",name="db",severity="warning"} 900',
      'site_recovery_replicatedvm_rpo_threshold_seconds{namespace="b",name="db",severity="critical"} 3600',
    ]);
    expect(await samples('site_recovery_failover_failed')).toEqual(['site_recovery_failover_failed{namespace="a",name="broken",replicated_vm="web",type="Planned"} 1']);

    expect(await samples('site_recovery_replicatedvm_capacity_at_risk')).toEqual([]);

    // A VM that leaves the cache leaves the gauges at the next scrape.
    exportFleetMetrics({ vms: { list: () => [] }, policies: { get: () => undefined }, failovers: { list: () => [] } });
    expect(await samples('site_recovery_replicatedvm_protected')).toEqual([]);
    expect(await samples('site_recovery_failover_failed')).toEqual([]);
  });

  it('drill gauges: last success time (from history), last result, creation time; absent before a run', async () => {
    const run = (id: string, result: 'Passed' | 'Failed', finishedAt: string) => ({ id, result, startedAt: finishedAt, finishedAt });
    const schedule = (name: string, history: ReturnType<typeof run>[]): DrillSchedule =>
      ({ metadata: { namespace: 'a', name, creationTimestamp: '2026-11-01T00:00:00Z' }, spec: { schedule: '0 3 * * 0', target: { replicatedVMName: 'web' } }, status: history.length ? { lastRun: history[0], history } : {} }) as unknown as DrillSchedule;
    exportFleetMetrics({
      vms: { list: () => [] },
      policies: { get: () => undefined },
      failovers: { list: () => [] },
      drillSchedules: { list: () => [schedule('weekly', [run('3', 'Failed', '2026-11-15T03:10:00Z'), run('2', 'Passed', '2026-11-08T03:10:00Z')]), schedule('new', [])] },
    });
    const labels = (name: string) => `namespace="a",name="${name}",replicated_vm="web"`;
    expect(await samples('site_recovery_drill_last_success_timestamp_seconds')).toEqual([`site_recovery_drill_last_success_timestamp_seconds{${labels('weekly')}} ${Date.parse('2026-11-08T03:10:00Z') / 1000}`]);
    expect(await samples('site_recovery_drill_last_result')).toEqual([`site_recovery_drill_last_result{${labels('weekly')}} 0`]);
    expect(await samples('site_recovery_drill_schedule_created_timestamp_seconds')).toEqual([
      `site_recovery_drill_schedule_created_timestamp_seconds{${labels('weekly')}} ${Date.parse('2026-11-01T00:00:00Z') / 1000}`,
      `site_recovery_drill_schedule_created_timestamp_seconds{${labels('new')}} ${Date.parse('2026-11-01T00:00:00Z') / 1000}`,
    ]);
  });

  it('capacity at risk: 1 per VM whose CapacityAtRisk condition is True, with its reason', async () => {
    const withCondition = (name: string, status: string, reason: string): ReplicatedVM =>
      ({ metadata: { namespace: 'a', name }, spec: { policyRef: { name: 'fast' } }, status: { phase: 'Protected', conditions: [{ type: 'CapacityAtRisk', status, reason }] } }) as unknown as ReplicatedVM;
    exportFleetMetrics({ vms: { list: () => [withCondition('web', 'True', 'QuotaExceeded'), withCondition('db', 'False', 'CapacityAvailable')] }, policies: { get: () => undefined }, failovers: { list: () => [] } });
    expect(await samples('site_recovery_replicatedvm_capacity_at_risk')).toEqual(['site_recovery_replicatedvm_capacity_at_risk{namespace="a",name="web",reason="QuotaExceeded"} 1']);
  });

  it('churn anomaly: 1 per VM whose ChurnAnomaly condition is True', async () => {
    const withCondition = (name: string, status: string): ReplicatedVM =>
      ({ metadata: { namespace: 'a', name }, spec: { policyRef: { name: 'fast' } }, status: { phase: 'Protected', conditions: [{ type: 'ChurnAnomaly', status, reason: status === 'True' ? 'ChurnAnomaly' : 'ChurnNormal' }] } }) as unknown as ReplicatedVM;
    exportFleetMetrics({ vms: { list: () => [withCondition('web', 'True'), withCondition('db', 'False')] }, policies: { get: () => undefined }, failovers: { list: () => [] } });
    expect(await samples('site_recovery_replicatedvm_churn_anomaly')).toEqual(['site_recovery_replicatedvm_churn_anomaly{namespace="a",name="web"} 1']);
  });

  it('point verification failed: 1 per VM whose RecoveryPointVerified condition is False, with its reason', async () => {
    const withCondition = (name: string, status: string, reason: string): ReplicatedVM =>
      ({ metadata: { namespace: 'a', name }, spec: { policyRef: { name: 'fast' } }, status: { phase: 'Protected', conditions: [{ type: 'RecoveryPointVerified', status, reason }] } }) as unknown as ReplicatedVM;
    exportFleetMetrics({ vms: { list: () => [withCondition('web', 'False', 'VerificationFailed'), withCondition('db', 'True', 'Passed')] }, policies: { get: () => undefined }, failovers: { list: () => [] } });
    expect(await samples('site_recovery_replicatedvm_point_verification_failed')).toEqual(['site_recovery_replicatedvm_point_verification_failed{namespace="a",name="web",reason="VerificationFailed"} 1']);
  });

  it('a DrillSchedule of a plan is labelled replicated_vm="plan/<name>"', async () => {
    const schedule = { metadata: { namespace: 'a', name: 'shop-weekly', creationTimestamp: '2026-11-01T00:00:00Z' }, spec: { schedule: '0 3 * * 0', target: { recoveryPlanName: 'shop' } }, status: {} } as unknown as DrillSchedule;
    exportFleetMetrics({ vms: { list: () => [] }, policies: { get: () => undefined }, failovers: { list: () => [] }, drillSchedules: { list: () => [schedule] } });
    expect(await samples('site_recovery_drill_schedule_created_timestamp_seconds')).toEqual([`site_recovery_drill_schedule_created_timestamp_seconds{namespace="a",name="shop-weekly",replicated_vm="plan/shop"} ${Date.parse('2026-11-01T00:00:00Z') / 1000}`]);
  });
});
