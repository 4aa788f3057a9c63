/**
 * What the alerts need from the operator's view of the fleet, read from its informer caches at scrape
 * time (no timer, no extra API call):
 *
 * - `site_recovery_replicatedvm_protected`: 1 per ReplicatedVM that has finished its initial sync and is
 *   replicating, so "protected but no RPO series" (the datapath is down or has dropped the VM) is an
 *   alert, not silence;
 * - `site_recovery_replicatedvm_rpo_threshold_seconds`: each VM's warning and critical thresholds from
 *   its ReplicationPolicy, so the RPO alerts follow the policy instead of one chart-wide number;
 * - `site_recovery_failover_failed`: 1 per FailoverRequest that ended Failed;
 * - `site_recovery_replicatedvm_capacity_at_risk`: 1 per ReplicatedVM whose CapacityAtRisk condition is
 *   True (its failover size is not offered in the target region or zone, or the vCPU quota has no room);
 * - `site_recovery_replicatedvm_churn_anomaly`: 1 per ReplicatedVM whose ChurnAnomaly condition is True (the
 *   datapath saw a cycle change far above the VM's baseline; its points are suspect until cleared);
 * - `site_recovery_replicatedvm_point_verification_failed`: 1 per ReplicatedVM whose newest background
 *   verification of a recovery point failed or could not be made (condition RecoveryPointVerified=False);
 * - `site_recovery_drill_last_success_timestamp_seconds`, `site_recovery_drill_last_result` and
 *   `site_recovery_drill_schedule_created_timestamp_seconds` per DrillSchedule (with its ReplicatedVM), so
 *   "no passing drill of a VM for longer than N" is an alert — also for a schedule that never passed.
 *
 * Only the leader's caches are filled; the alerts take the maximum over the operator's replicas.
 */
import { Gauge } from 'prom-client';
import { CHURN_ANOMALY_CONDITION, POINT_VERIFIED_CONDITION } from '../api/contract.ts';
import { policyTimes, type PolicyTimes } from '../api/policy-times.ts';
import type { DrillSchedule, FailoverRequest, ReplicatedVM, ReplicationPolicy } from '../api/types.ts';
import type { Informer } from '../runtime/informer.ts';
import { registry } from '../runtime/metrics.ts';

/** Phases in which the datapath replicates a VM and exports its RPO. */
const REPLICATING_PHASES = new Set(['Protected']);

export interface FleetSources {
  vms: Pick<Informer<ReplicatedVM>, 'list'>;
  policies: Pick<Informer<ReplicationPolicy>, 'get'>;
  failovers: Pick<Informer<FailoverRequest>, 'list'>;
  drillSchedules?: Pick<Informer<DrillSchedule>, 'list'>;
}

let sources: FleetSources | undefined;

/** Serves the fleet gauges from these caches (the operator process calls it once). */
export function exportFleetMetrics(from: FleetSources): void {
  sources = from;
}

new Gauge({
  name: 'site_recovery_replicatedvm_protected',
  help: '1 per ReplicatedVM past its initial sync and replicating (phase Protected): the datapath should export its RPO.',
  labelNames: ['namespace', 'name', 'policy'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const vm of sources?.vms.list() ?? []) {
      if (!REPLICATING_PHASES.has(vm.status?.phase ?? '')) continue;
      this.set({ namespace: vm.metadata.namespace ?? '', name: vm.metadata.name, policy: vm.spec.policyRef.name }, 1);
    }
  },
});

new Gauge({
  name: 'site_recovery_replicatedvm_rpo_threshold_seconds',
  help: "A ReplicatedVM's RPO thresholds from its ReplicationPolicy, by severity (warning, critical).",
  labelNames: ['namespace', 'name', 'severity'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const vm of sources?.vms.list() ?? []) {
      const times = thresholdsOf(sources?.policies.get(vm.spec.policyRef.name, vm.metadata.namespace));
      const labels = { namespace: vm.metadata.namespace ?? '', name: vm.metadata.name };
      this.set({ ...labels, severity: 'warning' }, times.warningMs / 1000);
      this.set({ ...labels, severity: 'critical' }, times.criticalMs / 1000);
    }
  },
});

new Gauge({
  name: 'site_recovery_failover_failed',
  help: '1 per FailoverRequest that ended Failed, with its ReplicatedVM and type.',
  labelNames: ['namespace', 'name', 'replicated_vm', 'type'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const fo of sources?.failovers.list() ?? []) {
      if (fo.status?.phase !== 'Failed') continue;
      this.set({ namespace: fo.metadata.namespace ?? '', name: fo.metadata.name, replicated_vm: fo.spec.replicatedVMName ?? '', type: fo.spec.type }, 1);
    }
  },
});

new Gauge({
  name: 'site_recovery_replicatedvm_capacity_at_risk',
  help: "1 per ReplicatedVM whose CapacityAtRisk condition is True, with the condition's reason (SkuNotAvailable, QuotaExceeded).",
  labelNames: ['namespace', 'name', 'reason'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const vm of sources?.vms.list() ?? []) {
      const risk = vm.status?.conditions?.find((c) => c.type === 'CapacityAtRisk' && c.status === 'True');
      if (risk) this.set({ namespace: vm.metadata.namespace ?? '', name: vm.metadata.name ?? '', reason: risk.reason }, 1);
    }
  },
});

new Gauge({
  name: 'site_recovery_replicatedvm_churn_anomaly',
  help: '1 per ReplicatedVM whose ChurnAnomaly condition is True: a cycle changed far above its baseline (ReplicationPolicy spec.churnAnomaly), so its recovery points are suspect until the anomaly is cleared.',
  labelNames: ['namespace', 'name'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const vm of sources?.vms.list() ?? []) {
      if (vm.status?.conditions?.some((c) => c.type === CHURN_ANOMALY_CONDITION && c.status === 'True')) this.set({ namespace: vm.metadata.namespace ?? '', name: vm.metadata.name ?? '' }, 1);
    }
  },
});

new Gauge({
  name: 'site_recovery_replicatedvm_point_verification_failed',
  help: "1 per ReplicatedVM whose newest verified recovery point failed its background verification (condition RecoveryPointVerified=False), with the condition's reason (VerificationFailed, VerificationError).",
  labelNames: ['namespace', 'name', 'reason'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const vm of sources?.vms.list() ?? []) {
      const failed = vm.status?.conditions?.find((c) => c.type === POINT_VERIFIED_CONDITION && c.status === 'False');
      if (failed) this.set({ namespace: vm.metadata.namespace ?? '', name: vm.metadata.name ?? '', reason: failed.reason }, 1);
    }
  },
});

const drillLabels = ['namespace', 'name', 'replicated_vm'] as const;
const drillLabelsOf = (ds: DrillSchedule) => ({ namespace: ds.metadata.namespace ?? '', name: ds.metadata.name ?? '', replicated_vm: ds.spec.target.replicatedVMName ?? `plan/${ds.spec.target.recoveryPlanName ?? ''}` });
const seconds = (iso: string) => Date.parse(iso) / 1000;

new Gauge({
  name: 'site_recovery_drill_last_success_timestamp_seconds',
  help: 'When the newest passing run of a DrillSchedule finished (Unix time); absent until one passed.',
  labelNames: drillLabels,
  registers: [registry],
  collect() {
    this.reset();
    for (const ds of sources?.drillSchedules?.list() ?? []) {
      const passed = (ds.status?.history ?? []).find((r) => r.result === 'Passed') ?? (ds.status?.lastRun?.result === 'Passed' ? ds.status.lastRun : undefined);
      if (passed) this.set(drillLabelsOf(ds), seconds(passed.finishedAt));
    }
  },
});

new Gauge({
  name: 'site_recovery_drill_last_result',
  help: "The result of a DrillSchedule's last finished run: 1 Passed, 0 Failed; absent before its first run.",
  labelNames: drillLabels,
  registers: [registry],
  collect() {
    this.reset();
    for (const ds of sources?.drillSchedules?.list() ?? []) {
      const last = ds.status?.lastRun;
      if (last) this.set(drillLabelsOf(ds), last.result === 'Passed' ? 1 : 0);
    }
  },
});

new Gauge({
  name: 'site_recovery_drill_schedule_created_timestamp_seconds',
  help: 'When a DrillSchedule was created (Unix time): the start of "no passing drill yet".',
  labelNames: drillLabels,
  registers: [registry],
  collect() {
    this.reset();
    for (const ds of sources?.drillSchedules?.list() ?? []) this.set(drillLabelsOf(ds), seconds(String(ds.metadata.creationTimestamp)));
  },
});

/** A policy's times; one the API server let through but that does not parse counts as the API's defaults. */
function thresholdsOf(policy: ReplicationPolicy | undefined): PolicyTimes {
  try {
    return policyTimes(policy?.spec);
  } catch {
    return policyTimes(undefined);
  }
}
