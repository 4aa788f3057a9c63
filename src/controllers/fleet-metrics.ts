/**
 * What the alerts need from the operator's view of the fleet, read from its informer caches at scrape
 * time (no timer, no extra API call):
 *
 * - `site_recovery_replicatedvm_protected`: 1 per ReplicatedVM that has finished its initial sync and is
 *   replicating, so "protected but no RPO series" (the datapath is down or has dropped the VM) is an
 *   alert, not silence;
 * - `site_recovery_replicatedvm_rpo_threshold_seconds`: each VM's warning and critical thresholds from
 *   its ReplicationPolicy, so the RPO alerts follow the policy instead of one chart-wide number;
 * - `site_recovery_failover_failed`: 1 per FailoverRequest that ended Failed.
 *
 * Only the leader's caches are filled; the alerts take the maximum over the operator's replicas.
 */
import { Gauge } from 'prom-client';
import { policyTimes, type PolicyTimes } from '../api/policy-times.ts';
import type { FailoverRequest, ReplicatedVM, ReplicationPolicy } from '../api/types.ts';
import type { Informer } from '../runtime/informer.ts';
import { registry } from '../runtime/metrics.ts';

/** Phases in which the datapath replicates a VM and exports its RPO. */
const REPLICATING_PHASES = new Set(['Protected']);

export interface FleetSources {
  vms: Pick<Informer<ReplicatedVM>, 'list'>;
  policies: Pick<Informer<ReplicationPolicy>, 'get'>;
  failovers: Pick<Informer<FailoverRequest>, 'list'>;
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
      this.set({ namespace: fo.metadata.namespace ?? '', name: fo.metadata.name, replicated_vm: fo.spec.replicatedVMName, type: fo.spec.type }, 1);
    }
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
