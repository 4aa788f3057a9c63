/**
 * `site-recovery drill --schedule NAME [--wait]`: starts a run of a DrillSchedule now — sets its
 * siterecovery.io/run-now annotation to a new value, which the operator answers with one run (after the
 * run under way, if any) — and with --wait follows the schedule's status until that run has finished and
 * cleaned up, then prints its record (status.lastRun). The operator does the work; this only writes what
 * `kubectl annotate` would.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { DrillRun, DrillSchedule } from '../api/types.ts';
import { CustomResourceClient } from '../kube/custom-resources.ts';
import { waitForObject } from '../kube/wait-for-object.ts';
import { RUN_NOW_ANNOTATION } from '../reconcilers/drill-schedule/reconciler.ts';
import { formatBytes } from './live-view.ts';

export interface ScheduledDrillOptions {
  kubeConfig: KubeConfig;
  namespace: string;
  name: string;
  wait: boolean;
  timeoutMs: number;
  signal?: AbortSignal;
  progress?: (line: string) => void;
}

/** Starts a run; with `wait`, returns its record once it finished (undefined without `wait`). */
export async function runScheduledDrill(o: ScheduledDrillOptions): Promise<DrillRun | undefined> {
  const schedules = new CustomResourceClient<DrillSchedule>(o.kubeConfig, 'DrillSchedule');
  const ref = { namespace: o.namespace, name: o.name };
  if (!(await schedules.get(ref))) throw new Error(`DrillSchedule ${o.name} not found in namespace ${o.namespace}`);
  const value = new Date().toISOString();
  await schedules.mergePatch(ref, { metadata: { annotations: { [RUN_NOW_ANNOTATION]: value } } });
  o.progress?.(`DrillSchedule ${o.name}: run requested (${RUN_NOW_ANNOTATION}=${value})`);
  if (!o.wait) return undefined;
  let step = '';
  const done = await waitForObject(o.kubeConfig, schedules, ref, (s) => s === undefined || (s.status?.runNowHandled === value && !s.status.currentRun && Boolean(s.status.lastRun)), {
    what: `the run of DrillSchedule ${o.name}`,
    timeoutMs: o.timeoutMs,
    ...(o.signal ? { signal: o.signal } : {}),
    onUpdate: (s) => {
      const run = s?.status?.runNowHandled === value ? s.status.currentRun : undefined;
      if (run && run.step !== step) o.progress?.(`  run ${run.id}: ${(step = run.step)}`);
    },
  });
  if (!done?.status?.lastRun) throw new Error(`DrillSchedule ${o.name} was deleted`);
  return done.status.lastRun;
}

/** A finished run for a person. */
export function formatDrillRun(name: string, r: DrillRun): string {
  const rows: [string, string | undefined][] = [
    ['result', r.result],
    ['recovery point', r.recoveryPointName],
    ['RPO', r.rpoSeconds !== undefined ? `${r.rpoSeconds} s` : undefined],
    ['RTO', r.rtoSeconds !== undefined ? `${r.rtoSeconds} s` : undefined],
    ['bytes verified', r.verifiedBytes !== undefined ? formatBytes(r.verifiedBytes) : undefined],
    ['test VMs', r.targetVirtualMachineIds?.join(', ') || undefined],
    ['message', r.message],
  ];
  return [`DrillSchedule ${name}, run ${r.id} (${r.startedAt} to ${r.finishedAt})`, ...rows.filter(([, v]) => v !== undefined).map(([k, v]) => `  ${k.padEnd(16)} ${v}`), ''].join('\n');
}
