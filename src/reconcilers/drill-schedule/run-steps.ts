/**
 * The steps of one drill run, each a function of the run as status.currentRun records it:
 *
 *   FailingOver  create the run's Test FailoverRequest (deterministic name, so a retried create is the
 *                same request) and follow it until Succeeded (RPO and RTO recorded) or Failed;
 *   Verifying    the failed-over disks against the recovery point (verification.ts, in the background);
 *   Probing      the probe Job, if the schedule has one, until Complete or Failed;
 *   CleaningUp   delete the Job and the FailoverRequest (whose finalizer removes the test VM, NICs and
 *                disks) and wait until the request is gone — reached from every step, with the result
 *                already decided, including after a timeout.
 *
 * A step returns the run as it is now (to record) and when to look again, or `finished` once cleanup is
 * done. Nothing is kept in memory between passes but the background verification, which a restarted
 * operator starts again.
 */
import type { DrillCurrentRun, DrillSchedule, FailoverRequest, RecoveryPoint } from '../../api/types.ts';
import type { AzureClients } from '../../azure/clients.ts';
import { parseArmId } from '../../azure/arm-id.ts';
import type { VerifyMethod } from '../../azure/verify/disk-verifier.ts';
import { isConflict } from '../../kube/errors.ts';
import type { CustomResourceClient, ObjectReader } from '../../kube/custom-resources.ts';
import type { JobClient } from '../../kube/jobs.ts';
import { POLL_MS } from '../../runtime/step.ts';
import { DRILL_RUN_LABEL, DRILL_SCHEDULE_LABEL, ownerOf, probeJob, probeOutcome } from './probe-job.ts';
import type { Verifications } from './verification.ts';

export interface DrillDeps {
  schedules: CustomResourceClient<DrillSchedule>;
  failovers: CustomResourceClient<FailoverRequest>;
  points: ObjectReader<RecoveryPoint>;
  jobs: JobClient;
  az: AzureClients;
  verifications: Verifications;
  now?: () => Date;
}

export type StepOutcome = { run: DrillCurrentRun; requeueAfterMs?: number } | { finished: true };

export interface RunPass {
  deps: DrillDeps;
  ds: DrillSchedule;
  run: DrillCurrentRun;
}

/** How often a running verification is looked at. */
const VERIFY_POLL_MS = 1_000;

const namespaceOf = (ds: DrillSchedule) => ds.metadata.namespace ?? 'default';
/** The run's FailoverRequest. */
export const failoverNameOf = (ds: DrillSchedule, runId: string) => `${String(ds.metadata.name).slice(0, 200)}-${runId}`;
/** The run's probe Job (a Job name is at most 63 characters). */
export const jobNameOf = (ds: DrillSchedule, runId: string) => `${String(ds.metadata.name).slice(0, 40).replace(/[.-]+$/, '')}-${runId}`;
/** The key of the run's background verification. */
export const verificationKey = (ds: DrillSchedule, runId: string) => `${namespaceOf(ds)}/${ds.metadata.name}/${runId}`;

/** The run, failed with `message`, on its way to cleanup. */
export function failed(run: DrillCurrentRun, message: string): StepOutcome {
  return { run: { ...run, step: 'CleaningUp', result: 'Failed', message } };
}

export const RUN_STEPS: Record<DrillCurrentRun['step'], (p: RunPass) => Promise<StepOutcome>> = {
  FailingOver: failingOver,
  Verifying: verifying,
  Probing: probing,
  CleaningUp: cleaningUp,
};

async function failingOver({ deps, ds, run }: RunPass): Promise<StepOutcome> {
  const name = failoverNameOf(ds, run.id);
  const fo = await deps.failovers.get({ namespace: namespaceOf(ds), name });
  if (!fo) {
    if (run.failoverRequestName) return failed(run, `FailoverRequest ${name} was deleted during the run`);
    await createFailover(deps, ds, name, run.id);
    return { run: { ...run, failoverRequestName: name }, requeueAfterMs: POLL_MS };
  }
  const status = fo.status ?? {};
  if (status.phase === 'Failed') {
    const why = status.conditions?.find((c) => c.type === 'Succeeded');
    return failed(run, `Test failover ${name} failed${why ? `: ${why.reason}: ${why.message ?? ''}` : ''}`);
  }
  if (status.phase !== 'Succeeded') return { run, requeueAfterMs: POLL_MS };
  const requested = Date.parse(String(fo.metadata.creationTimestamp));
  return {
    run: {
      ...run,
      failoverRequestName: name,
      step: 'Verifying',
      ...(status.recoveryPointName ? { recoveryPointName: status.recoveryPointName } : {}),
      ...(status.recoveryPointTime ? { rpoSeconds: Math.max(0, Math.round((requested - Date.parse(status.recoveryPointTime)) / 1000)) } : {}),
      ...(status.rtoSeconds !== undefined ? { rtoSeconds: status.rtoSeconds } : {}),
      targetVirtualMachineIds: status.targetVirtualMachineId ? [status.targetVirtualMachineId] : [],
    },
  };
}

async function createFailover(deps: DrillDeps, ds: DrillSchedule, name: string, runId: string): Promise<void> {
  try {
    await deps.failovers.create(namespaceOf(ds), {
      metadata: { name, labels: { [DRILL_SCHEDULE_LABEL]: String(ds.metadata.name), [DRILL_RUN_LABEL]: runId }, ownerReferences: [ownerOf(ds)] },
      spec: { replicatedVMName: ds.spec.target.replicatedVMName, type: 'Test' },
    });
  } catch (error) {
    if (!isConflict(error)) throw error;
  }
}

async function verifying({ deps, ds, run }: RunPass): Promise<StepOutcome> {
  const method = (ds.spec.verify ?? 'Checksums') as VerifyMethod;
  if (method === 'None') return { run: { ...run, step: 'Probing', verifiedBytes: 0, message: 'not verified (verify: None)' } };
  const ns = namespaceOf(ds);
  const fo = await deps.failovers.get({ namespace: ns, name: failoverNameOf(ds, run.id) });
  if (!fo) return failed(run, `FailoverRequest ${failoverNameOf(ds, run.id)} was deleted during the run`);
  const point = run.recoveryPointName ? await deps.points.get({ namespace: ns, name: run.recoveryPointName }) : undefined;
  if (!point) return failed(run, `RecoveryPoint ${run.recoveryPointName ?? '(none)'} is gone: nothing to verify against`);
  const key = verificationKey(ds, run.id);
  const result = deps.verifications.poll(key, method, fo, point);
  if (!result) return { run, requeueAfterMs: VERIFY_POLL_MS };
  deps.verifications.forget(key);
  const next = { ...run, verifiedBytes: result.verifiedBytes, message: result.message };
  return result.pass ? { run: { ...next, step: 'Probing' } } : failed(next, `verification failed: ${result.message}`);
}

async function probing({ deps, ds, run }: RunPass): Promise<StepOutcome> {
  if (!ds.spec.probe) return { run: { ...run, step: 'CleaningUp', result: 'Passed' } };
  const ns = namespaceOf(ds);
  const name = jobNameOf(ds, run.id);
  const job = await deps.jobs.get(ns, name);
  if (!job) {
    if (run.jobName) return failed(run, `probe Job ${name} was deleted during the run`);
    const ips = await targetIps(deps.az, ns, deps.failovers, failoverNameOf(ds, run.id));
    await deps.jobs.create(ns, probeJob(ds, name, { runId: run.id, recoveryPointName: run.recoveryPointName, vmIds: run.targetVirtualMachineIds ?? [], ips }));
    return { run: { ...run, jobName: name }, requeueAfterMs: POLL_MS };
  }
  const outcome = probeOutcome(job);
  if (!outcome.done) return { run: { ...run, jobName: name }, requeueAfterMs: POLL_MS };
  const message = [run.message, outcome.message].filter(Boolean).join('; ');
  return outcome.pass ? { run: { ...run, jobName: name, step: 'CleaningUp', result: 'Passed', message } } : failed({ ...run, jobName: name }, message);
}

/** The private IPs of the test VM's NICs, as the FailoverRequest recorded them. */
async function targetIps(az: AzureClients, namespace: string, failovers: CustomResourceClient<FailoverRequest>, name: string): Promise<string[]> {
  const fo = await failovers.get({ namespace, name });
  const ips: string[] = [];
  for (const r of fo?.status?.targetResources ?? []) {
    if (r.kind !== 'NetworkInterface') continue;
    const { resourceGroup, name: nic } = parseArmId(r.id);
    const found = await az.network.networkInterfaces.get(resourceGroup, nic);
    for (const c of found.ipConfigurations ?? []) if (c.privateIPAddress) ips.push(c.privateIPAddress);
  }
  return ips;
}

async function cleaningUp({ deps, ds, run }: RunPass): Promise<StepOutcome> {
  const ns = namespaceOf(ds);
  deps.verifications.forget(verificationKey(ds, run.id));
  await deps.jobs.delete(ns, jobNameOf(ds, run.id));
  const ref = { namespace: ns, name: failoverNameOf(ds, run.id) };
  const fo = await deps.failovers.get(ref);
  if (!fo) return { finished: true };
  // The request's finalizer removes the test VM, its NICs and disks; it is gone once they are.
  if (!fo.metadata.deletionTimestamp) await deps.failovers.delete(ref);
  return { run, requeueAfterMs: POLL_MS };
}
