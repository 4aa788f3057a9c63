/**
 * When a DrillSchedule runs: its five-field cron expression in its time zone (croner, in "5-part" mode so
 * a sixth field is refused; day-of-month and day-of-week combine with OR as in Vixie cron and Kubernetes
 * CronJobs), and whether a run is due now — a new value of the run-now annotation, or a cron time that
 * passed since the last scheduled run. Runs missed while the operator was down start once, not once each
 * (as a CronJob with concurrencyPolicy Forbid does).
 */
import { Cron } from 'croner';
import type { DrillSchedule } from '../../api/types.ts';

/** The annotation that starts a run at once: any value other than the last one answered. */
export const RUN_NOW_ANNOTATION = 'siterecovery.io/run-now';

export type Trigger = 'Schedule' | 'RunNow';

export interface Due {
  trigger: Trigger;
  /** Schedule: the cron time the run is for. */
  scheduledAt?: Date;
}

/** The schedule's cron, or the reason it cannot be used (shown in the Stalled condition). */
export function cronOf(spec: DrillSchedule['spec']): Cron | { error: string } {
  try {
    const cron = new Cron(spec.schedule, { mode: '5-part', timezone: spec.timeZone ?? 'UTC', paused: true });
    cron.nextRun(); // an unknown time zone shows only here
    return cron;
  } catch (error) {
    return { error: `schedule "${spec.schedule}"${spec.timeZone ? ` in ${spec.timeZone}` : ''} is not usable: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** The first cron time after `after` (null when the expression never fires again). */
export function nextRun(cron: Cron, after: Date): Date | null {
  return cron.nextRun(after);
}

/** Whether a run is due at `now`, and why. */
export function dueRun(ds: DrillSchedule, cron: Cron, now: Date): Due | undefined {
  const runNow = ds.metadata.annotations?.[RUN_NOW_ANNOTATION];
  if (runNow && runNow !== ds.status?.runNowHandled) return { trigger: 'RunNow' };
  if (ds.spec.suspend) return undefined;
  const since = new Date(ds.status?.lastScheduleTime ?? String(ds.metadata.creationTimestamp));
  const next = cron.nextRun(since);
  if (!next || next > now) return undefined;
  // The newest cron time that passed: missed runs start once.
  const latest = cron.previousRuns(1, new Date(now.getTime() + 1))[0] ?? next;
  return { trigger: 'Schedule', scheduledAt: latest > next ? latest : next };
}
