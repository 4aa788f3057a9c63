/**
 * The steps of one drill run, each a function of the run as status.currentRun records it:
 *
 *   FailingOver  create the run's Test FailoverRequest (deterministic name, so a retried create is the
 *                same request) and follow it until Succeeded (RPO and RTO recorded) or Failed; for a
 *                plan target, a plan FailoverRequest, which makes one per member;
 *   Verifying    the failed-over disks against the recovery point (verification.ts, in the background),
 *                every member's for a plan;
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
import type { Verifications, VerifyTarget } from './verification.ts';

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
      targetVirtualMachineIds: testVmIds(fo),
    },
  };
}

/** The test VMs a run's failover made: the VM's, or every member's of a plan failover. */
function testVmIds(fo: FailoverRequest): string[] {
  const status = fo.status ?? {};
  if (fo.spec.recoveryPlanName) return (status.members ?? []).flatMap((m) => (m.targetVirtualMachineId ? [m.targetVirtualMachineId] : []));
  return status.targetVirtualMachineId ? [status.targetVirtualMachineId] : [];
}

/** What a schedule drills, for messages: the VM, or "plan <name>". */
export function drillTarget(ds: DrillSchedule): string {
  return ds.spec.target.recoveryPlanName ? `plan ${ds.spec.target.recoveryPlanName}` : (ds.spec.target.replicatedVMName ?? '');
}

async function createFailover(deps: DrillDeps, ds: DrillSchedule, name: string, runId: string): Promise<void> {
  try {
    await deps.failovers.create(namespaceOf(ds), {
      metadata: { name, labels: { [DRILL_SCHEDULE_LABEL]: String(ds.metadata.name), [DRILL_RUN_LABEL]: runId }, ownerReferences: [ownerOf(ds)] },
      spec: ds.spec.target.recoveryPlanName ? { recoveryPlanName: ds.spec.target.recoveryPlanName, type: 'Test' } : { replicatedVMName: ds.spec.target.replicatedVMName, type: 'Test' },
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
  const targets = fo.spec.recoveryPlanName ? await planTargets(deps, ns, fo) : await vmTarget(deps, ns, fo, run.recoveryPointName);
  if ('error' in targets) return failed(run, targets.error);
  const key = verificationKey(ds, run.id);
  const result = deps.verifications.poll(key, method, targets);
  if (!result) return { run, requeueAfterMs: VERIFY_POLL_MS };
  deps.verifications.forget(key);
  const next = { ...run, verifiedBytes: result.verifiedBytes, message: result.message };
  return result.pass ? { run: { ...next, step: 'Probing' } } : failed(next, `verification failed: ${result.message}`);
}

type Targets = VerifyTarget[] | { error: string };

async function vmTarget(deps: DrillDeps, namespace: string, fo: FailoverRequest, pointName: string | undefined): Promise<Targets> {
  const point = pointName ? await deps.points.get({ namespace, name: pointName }) : undefined;
  return point ? [{ fo, point }] : { error: `RecoveryPoint ${pointName ?? '(none)'} is gone: nothing to verify against` };
}

/** Every member of a plan failover: its own FailoverRequest and the point it used. */
async function planTargets(deps: DrillDeps, namespace: string, plan: FailoverRequest): Promise<Targets> {
  const targets: VerifyTarget[] = [];
  for (const m of plan.status?.members ?? []) {
    const fo = m.failoverRequestName ? await deps.failovers.get({ namespace, name: m.failoverRequestName }) : undefined;
    if (!fo) return { error: `the FailoverRequest of plan member ${m.replicatedVMName} is gone` };
    const point = m.recoveryPoint ? await deps.points.get({ namespace, name: m.recoveryPoint }) : undefined;
    if (!point) return { error: `RecoveryPoint ${m.recoveryPoint ?? '(none)'} of plan member ${m.replicatedVMName} is gone: nothing to verify against` };
    targets.push({ fo, point, member: m.replicatedVMName });
  }
  return targets.length ? targets : { error: `plan failover ${plan.metadata.name} reports no members` };
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

/** The private IPs of the test VM's NICs, as the FailoverRequest recorded them (a plan's: every member's). */
async function targetIps(az: AzureClients, namespace: string, failovers: CustomResourceClient<FailoverRequest>, name: string): Promise<string[]> {
  const fo = await failovers.get({ namespace, name });
  if (fo?.spec.recoveryPlanName) {
    const ips: string[] = [];
    for (const m of fo.status?.members ?? []) if (m.failoverRequestName) ips.push(...(await targetIps(az, namespace, failovers, m.failoverRequestName)));
    return ips;
  }
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
