/**
 * The probe of a drill run: the Job of spec.probe.job, made for one run — named after it, labelled with
 * the schedule and the run, owned by the DrillSchedule, never retried by Kubernetes beyond what the
 * template says — with what it needs to find the test VMs in every container's environment. Its outcome
 * is read from the Job's conditions (Complete or Failed), as the Job controller writes them.
 */
import type { V1Job, V1JobSpec, V1ObjectMeta } from '@kubernetes/client-node';
import type { DrillSchedule } from '../../api/types.ts';

export const DRILL_SCHEDULE_LABEL = 'siterecovery.io/drill-schedule';
export const DRILL_RUN_LABEL = 'siterecovery.io/drill-run';

export interface ProbeTarget {
  runId: string;
  recoveryPointName?: string | undefined;
  vmIds: string[];
  ips: string[];
}

/** The Job of a run (`name`), from the schedule's template, with the test VMs in its environment. */
export function probeJob(ds: DrillSchedule, name: string, target: ProbeTarget): V1Job {
  const template = (ds.spec.probe?.job ?? {}) as { metadata?: V1ObjectMeta; spec?: V1JobSpec };
  const spec = structuredClone(template.spec ?? ({} as V1JobSpec));
  const env = [
    { name: 'SITE_RECOVERY_TARGET_VM_IDS', value: target.vmIds.join(',') },
    { name: 'SITE_RECOVERY_TARGET_VM_IPS', value: target.ips.join(',') },
    { name: 'SITE_RECOVERY_DRILL_SCHEDULE', value: String(ds.metadata.name) },
    { name: 'SITE_RECOVERY_RECOVERY_POINT', value: target.recoveryPointName ?? '' },
  ];
  for (const c of spec.template?.spec?.containers ?? []) c.env = [...(c.env ?? []).filter((e) => !env.some((x) => x.name === e.name)), ...env];
  const labels = { ...template.metadata?.labels, [DRILL_SCHEDULE_LABEL]: String(ds.metadata.name), [DRILL_RUN_LABEL]: target.runId };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, labels, ...(template.metadata?.annotations ? { annotations: template.metadata.annotations } : {}), ownerReferences: [ownerOf(ds)] },
    spec,
  };
}

/** The owner reference to the schedule (garbage collection removes a run's objects with it). */
export function ownerOf(ds: DrillSchedule) {
  return { apiVersion: ds.apiVersion ?? 'siterecovery.io/v1alpha1', kind: 'DrillSchedule', name: String(ds.metadata.name), uid: String(ds.metadata.uid) };
}

export type ProbeOutcome = { done: false } | { done: true; pass: boolean; message: string };

/** Whether the Job has finished, from its Complete and Failed conditions. */
export function probeOutcome(job: V1Job): ProbeOutcome {
  const name = job.metadata?.name ?? 'probe';
  const condition = (type: string) => job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
  const failed = condition('Failed');
  if (failed) return { done: true, pass: false, message: `probe Job ${name} failed${failed.reason ? ` (${failed.reason})` : ''}${failed.message ? `: ${failed.message}` : ''}` };
  if (condition('Complete')) return { done: true, pass: true, message: `probe Job ${name} completed` };
  return { done: false };
}
