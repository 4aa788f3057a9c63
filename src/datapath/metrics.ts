/** Prometheus metrics of the datapath, in the process's one registry (served on /metrics). */
import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from '../runtime/metrics.ts';

const vmLabels = ['namespace', 'name'] as const;

/** Per-VM values read at scrape time (RPO moves every second; no timer keeps it current). */
export interface RpoSource {
  namespace: string;
  name: string;
  rpoSeconds: () => number | undefined;
}
export const rpoSources = new Map<string, RpoSource>();

export const rpoSeconds = new Gauge({
  name: 'site_recovery_datapath_rpo_seconds',
  help: 'Seconds since the capture time of the newest sealed recovery point, per replicated VM owned by this replica.',
  labelNames: vmLabels,
  registers: [registry],
  collect() {
    this.reset();
    for (const source of rpoSources.values()) {
      const value = source.rpoSeconds();
      if (value !== undefined) this.set({ namespace: source.namespace, name: source.name }, value);
    }
  },
});

export const sourceRegionUnavailable = new Gauge({
  name: 'site_recovery_datapath_source_region_unavailable',
  help: '1 while the source region of a replicated VM does not answer its captures (the SourceRegionUnavailable condition), else 0.',
  labelNames: vmLabels,
  registers: [registry],
});

export const churnAnomalies = new Counter({
  name: 'site_recovery_datapath_churn_anomalies_total',
  help: 'Churn anomalies detected (a cycle changing far more than the VM\'s baseline: ReplicationPolicy spec.churnAnomaly).',
  labelNames: vmLabels,
  registers: [registry],
});

export const initialSyncs = new Gauge({
  name: 'site_recovery_datapath_initial_syncs',
  help: 'VMs of this replica running their initial sync (state="running", at most --initial-sync-concurrency) and waiting for their turn (state="waiting").',
  labelNames: ['state'] as const,
  registers: [registry],
});

export const capturedBytes = new Counter({
  name: 'site_recovery_datapath_captured_bytes_total',
  help: 'Bytes copied from source disk restore points into the cache.',
  labelNames: vmLabels,
  registers: [registry],
});

export const appliedBytes = new Counter({
  name: 'site_recovery_datapath_applied_bytes_total',
  help: 'Bytes written from the cache to replica page blobs.',
  labelNames: vmLabels,
  registers: [registry],
});

export const backlogBytes = new Gauge({
  name: 'site_recovery_datapath_backlog_bytes',
  help: 'Bytes captured into the cache and not yet applied.',
  labelNames: vmLabels,
  registers: [registry],
});

export const backlogCycles = new Gauge({
  name: 'site_recovery_datapath_backlog_cycles',
  help: 'Cycles captured into the cache and not yet applied.',
  labelNames: vmLabels,
  registers: [registry],
});

export const initialSyncPercent = new Gauge({
  name: 'site_recovery_datapath_initial_sync_percent',
  help: 'Progress of the initial sync, per replicated VM.',
  labelNames: vmLabels,
  registers: [registry],
});

export const cycleDuration = new Histogram({
  name: 'site_recovery_datapath_cycle_duration_seconds',
  help: 'Time spent per cycle and stage (capture, apply, seal).',
  labelNames: ['stage'] as const,
  buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900],
  registers: [registry],
});

export const datapathErrors = new Counter({
  name: 'site_recovery_datapath_errors_total',
  help: 'Failures, by stage (acquire, capture, apply, seal, prune, cleanup, status) and kind (fence, cache, azure, other).',
  labelNames: ['stage', 'kind'] as const,
  registers: [registry],
});

export const resyncs = new Counter({
  name: 'site_recovery_datapath_resyncs_total',
  help: 'Disks sent back to a full copy because cache data was missing or corrupt or the replica blob was lost.',
  labelNames: vmLabels,
  registers: [registry],
});

export const sealedPoints = new Counter({
  name: 'site_recovery_datapath_recovery_points_sealed_total',
  help: 'Recovery points sealed.',
  labelNames: vmLabels,
  registers: [registry],
});

export const rebuiltPoints = new Counter({
  name: 'site_recovery_datapath_recovery_points_rebuilt_total',
  help: 'RecoveryPoint objects rebuilt from the replica snapshots in target storage (a new cluster, lost objects).',
  labelNames: vmLabels,
  registers: [registry],
});

export const ownedVms = new Gauge({
  name: 'site_recovery_datapath_owned_vms',
  help: 'Replicated VMs this replica owns.',
  registers: [registry],
});

export const cycleStretch = new Gauge({
  name: 'site_recovery_datapath_cycle_stretch',
  help: 'How much this replica stretches its VMs\' recovery point intervals to stay within its share of the ARM budget (1: not at all; pacing.ts).',
  registers: [registry],
});

export const liveMembers = new Gauge({
  name: 'site_recovery_datapath_members',
  help: 'Live datapath replicas this replica sees (itself included).',
  registers: [registry],
});

/** Drops a VM's series when this replica stops owning it. */
export function forgetVm(namespace: string, name: string): void {
  const labels = { namespace, name };
  for (const metric of [capturedBytes, appliedBytes, backlogBytes, backlogCycles, initialSyncPercent, resyncs, sealedPoints, rebuiltPoints, sourceRegionUnavailable, churnAnomalies]) {
    metric.remove(labels);
  }
  rpoSources.delete(`${namespace}/${name}`);
}

export const seedComparedBytes = new Counter({
  name: 'site_recovery_datapath_seed_compared_bytes_total',
  help: 'Bytes of seeded disks (re-protect) compared with their seed: found equal by checksums storage computed in each region (method="checksum"), or read through the datapath and compared (method="read").',
  labelNames: ['method'] as const,
  registers: [registry],
});
