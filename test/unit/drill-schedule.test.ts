// When a DrillSchedule runs (src/reconcilers/drill-schedule/schedule.ts): five-field cron in a time zone,
// the run-now annotation, missed runs started once, suspend; and the probe Job made for a run.
import { describe, expect, it } from 'vitest';
import type { DrillSchedule } from '../../src/api/types.ts';
import { probeJob, probeOutcome } from '../../src/reconcilers/drill-schedule/probe-job.ts';
import { cronOf, dueRun, RUN_NOW_ANNOTATION } from '../../src/reconcilers/drill-schedule/schedule.ts';
import { runIdAt } from '../../src/reconcilers/drill-schedule/reconciler.ts';

const schedule = (spec: Partial<DrillSchedule['spec']> = {}, status: DrillSchedule['status'] = {}, annotations: Record<string, string> = {}): DrillSchedule =>
  ({ metadata: { namespace: 'a', name: 'weekly', uid: 'u-1', creationTimestamp: '2026-11-30T12:00:00Z', annotations }, spec: { schedule: '0 3 * * 0', target: { replicatedVMName: 'db-1' }, ...spec }, status }) as unknown as DrillSchedule;

function cron(ds: DrillSchedule) {
  const c = cronOf(ds.spec);
  if ('error' in c) throw new Error(c.error);
  return c;
}

describe('drill schedule', () => {
  it('refuses a sixth field, an out-of-range value and an unknown time zone, with the reason', () => {
    expect(cronOf({ schedule: '0 3 * * 0 1', target: { replicatedVMName: 'x' } })).toMatchObject({ error: expect.stringContaining('5 parts') });
    expect(cronOf({ schedule: '61 3 * * 0', target: { replicatedVMName: 'x' } })).toMatchObject({ error: expect.stringContaining('minute') });
    expect(cronOf({ schedule: '0 3 * * 0', timeZone: 'Nowhere/Land', target: { replicatedVMName: 'x' } })).toMatchObject({ error: expect.stringContaining('Nowhere/Land') });
  });

  it('is due at the first cron time after creation (in its time zone), not before', () => {
    const ds = schedule({ timeZone: 'Europe/Berlin' });
    expect(dueRun(ds, cron(ds), new Date('2026-12-06T01:59:00Z'))).toBeUndefined();
    expect(dueRun(ds, cron(ds), new Date('2026-12-06T02:00:00Z'))).toEqual({ trigger: 'Schedule', scheduledAt: new Date('2026-12-06T02:00:00Z') });
  });

  it('starts runs missed while the operator was down once, for the newest cron time', () => {
    const ds = schedule({}, { lastScheduleTime: '2026-12-06T03:00:00Z' });
    expect(dueRun(ds, cron(ds), new Date('2026-12-27T04:00:00Z'))).toEqual({ trigger: 'Schedule', scheduledAt: new Date('2026-12-27T03:00:00Z') });
    expect(dueRun(ds, cron(ds), new Date('2026-12-13T02:59:59Z'))).toBeUndefined();
  });

  it('run-now: a new annotation value starts a run, also when suspended; an answered one does not', () => {
    const suspended = schedule({ suspend: true }, { runNowHandled: 'a' }, { [RUN_NOW_ANNOTATION]: 'b' });
    expect(dueRun(suspended, cron(suspended), new Date('2026-12-27T04:00:00Z'))).toEqual({ trigger: 'RunNow' });
    const answered = schedule({ suspend: true }, { runNowHandled: 'b' }, { [RUN_NOW_ANNOTATION]: 'b' });
    expect(dueRun(answered, cron(answered), new Date('2026-12-27T04:00:00Z'))).toBeUndefined();
  });

  it('a run id is its UTC start, usable in names', () => {
    expect(runIdAt(new Date('2026-12-03T15:45:07.123Z'))).toBe('20261203t154507');
  });

  it('the probe Job: the template with the run labels, an owner, the test VMs in every container, the outcome from its conditions', () => {
    const ds = schedule({ probe: { job: { metadata: { labels: { team: 'dr' } }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'a', image: 'x', env: [{ name: 'KEEP', value: '1' }, { name: 'SITE_RECOVERY_TARGET_VM_IPS', value: 'old' }] }, { name: 'b', image: 'y' }] } } } } } });
    const job = probeJob(ds, 'weekly-r1', { runId: 'r1', recoveryPointName: 'db-1-000007', vmIds: ['/vm/1'], ips: ['10.0.0.4'] });
    expect(job.metadata).toMatchObject({ name: 'weekly-r1', labels: { team: 'dr', 'siterecovery.io/drill-schedule': 'weekly', 'siterecovery.io/drill-run': 'r1' }, ownerReferences: [{ kind: 'DrillSchedule', name: 'weekly', uid: 'u-1' }] });
    const envOf = (i: number) => Object.fromEntries((job.spec?.template.spec?.containers[i]?.env ?? []).map((e) => [e.name, e.value]));
    expect(envOf(0)).toEqual({ KEEP: '1', SITE_RECOVERY_TARGET_VM_IDS: '/vm/1', SITE_RECOVERY_TARGET_VM_IPS: '10.0.0.4', SITE_RECOVERY_DRILL_SCHEDULE: 'weekly', SITE_RECOVERY_RECOVERY_POINT: 'db-1-000007' });
    expect(envOf(1).SITE_RECOVERY_TARGET_VM_IPS).toBe('10.0.0.4');
    expect(probeOutcome(job)).toEqual({ done: false });
    expect(probeOutcome({ ...job, status: { conditions: [{ type: 'Complete', status: 'True' }] } })).toEqual({ done: true, pass: true, message: 'probe Job weekly-r1 completed' });
    expect(probeOutcome({ ...job, status: { conditions: [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded', message: 'too slow' }] } })).toEqual({ done: true, pass: false, message: 'probe Job weekly-r1 failed (DeadlineExceeded): too slow' });
  });
});
