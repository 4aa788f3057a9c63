/**
 * The DrillSchedule controller.
 * Watches: DrillSchedules (spec, the run-now annotation; not its own status writes); the FailoverRequests
 * its runs create (labelled siterecovery.io/drill-schedule), so a run moves on as soon as its failover
 * succeeds, fails or is gone. The probe Job is polled while a run waits for it (a run is rare; a cluster-
 * wide Job informer would cache every Job of the cluster).
 * Drives: DrillScheduleReconciler.
 */
import type { DrillSchedule } from '../api/types.ts';
import { jobClient } from '../kube/jobs.ts';
import { DrillScheduleReconciler } from '../reconcilers/drill-schedule/reconciler.ts';
import { DRILL_SCHEDULE_LABEL } from '../reconcilers/drill-schedule/probe-job.ts';
import { Verifications } from '../reconcilers/drill-schedule/verification.ts';
import { Controller } from '../runtime/controller.ts';
import type { OperatorCache } from './operator-cache.ts';
import { onlyStatusChanged } from './predicates.ts';

export function drillScheduleController(cache: OperatorCache): Controller<DrillSchedule> {
  const { clients, informers } = cache;
  const controller = new Controller<DrillSchedule>({
    kind: 'DrillSchedule',
    client: clients.drillSchedules,
    informer: informers.drillSchedules,
    reconciler: new DrillScheduleReconciler({
      schedules: clients.drillSchedules,
      failovers: clients.failovers,
      points: clients.recoveryPoints,
      jobs: jobClient(cache.kubeConfig),
      az: cache.az,
      verifications: new Verifications(cache.az),
    }),
    ignoreUpdate: onlyStatusChanged,
    ...cache.controllerOptions,
  });
  controller.watchRelated(informers.failovers, (fo) => {
    const schedule = fo.metadata.labels?.[DRILL_SCHEDULE_LABEL];
    return schedule ? [`${fo.metadata.namespace}/${schedule}`] : [];
  });
  return controller;
}
