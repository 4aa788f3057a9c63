// The pure parts of a plan failover: the orchestration decision (group order, bounded parallelism,
// actions and approvals, onVMFailure Stop and Continue, times), the plan's members and refusals, the
// names it derives, and the Job an action runs as.
import { describe, expect, it } from 'vitest';
import type { FailoverRequest, PlanGroupStatus, RecoveryPlan, RecoveryPlanAction, RecoveryPlanGroup, ReplicatedVM } from '../../src/api/types.ts';
import { decidePlan, type PlanObservation, type WorkState } from '../../src/reconcilers/failover/plan-decide.ts';
import { actionJob } from '../../src/reconcilers/failover/plan-jobs.ts';
import { actionJobName, memberFailoverName, planMembers, planRefusal } from '../../src/reconcilers/failover/plan-members.ts';

const job: RecoveryPlanAction = { name: 'migrate', job: { spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', env: [{ name: 'KEEP', value: '1' }] }] } } } } };
const approval: RecoveryPlanAction = { name: 'ok', manualApproval: {} };
const groups: RecoveryPlanGroup[] = [
  { name: 'data', replicatedVMs: ['db-1', 'db-2', 'db-3'], postActions: [job] },
  { name: 'app', replicatedVMs: ['app-1'], preActions: [approval] },
];
const members = [
  { replicatedVMName: 'db-1', group: 'data', phase: 'Pending' },
  { replicatedVMName: 'db-2', group: 'data', phase: 'Pending' },
  { replicatedVMName: 'db-3', group: 'data', phase: 'Pending' },
  { replicatedVMName: 'app-1', group: 'app', phase: 'Pending' },
];

/** A decision over `vms` (member states) and `actions` (action states, by name); the rest NotStarted. */
function decide(vms: Record<string, WorkState>, actions: Record<string, WorkState> = {}, more: Partial<PlanObservation> = {}) {
  return decidePlan({
    groups,
    members,
    onVMFailure: 'Stop',
    parallelism: 2,
    member: (name) => vms[name] ?? 'NotStarted',
    action: (_group, action) => actions[action.name] ?? (action.manualApproval ? 'WaitingForApproval' : 'NotStarted'),
    previous: [],
    now: '2026-12-03T10:00:00.000Z',
    jobName: (group, action) => `fo-${group}-${action}`,
    ...more,
  });
}
const started = (d: ReturnType<typeof decide>) => d.acts.map((a) => (a.kind === 'startMember' ? a.replicatedVMName : `job:${a.action.name}`));

describe('plan failover decisions', () => {
  it('starts the first group at most `parallelism` VMs at a time, and nothing of the next group', () => {
    const d = decide({});
    expect(started(d)).toEqual(['db-1', 'db-2']);
    expect(d.outcome).toBe('Running');
    expect(d.groups.map((g) => g.phase)).toEqual(['Running', 'Pending']);
    expect(d.groups[1]?.startedAt).toBeUndefined();
    // One finished: one more starts.
    expect(started(decide({ 'db-1': 'Succeeded', 'db-2': 'Running' }))).toEqual(['db-3']);
  });

  it('runs the post Job only once every VM of the group runs, and the next group only after it succeeded', () => {
    const vmsUp = { 'db-1': 'Succeeded', 'db-2': 'Succeeded', 'db-3': 'Succeeded' } as const;
    expect(started(decide({ ...vmsUp, 'db-3': 'Running' }))).toEqual([]);
    const posting = decide(vmsUp);
    expect(started(posting)).toEqual(['job:migrate']);
    expect(posting.groups[0]?.actions).toEqual([{ name: 'migrate', stage: 'Post', phase: 'Running', jobName: 'fo-data-migrate' }]);
    expect(started(decide(vmsUp, { migrate: 'Running' }))).toEqual([]);
    // Job done: group 2 waits for its approval and starts no VM.
    const waiting = decide(vmsUp, { migrate: 'Succeeded' });
    expect(waiting.groups.map((g) => g.phase)).toEqual(['Succeeded', 'WaitingForApproval']);
    expect(waiting.groups[1]?.message).toContain('site-recovery approve FAILOVER ok');
    expect(started(waiting)).toEqual([]);
    expect(started(decide(vmsUp, { migrate: 'Succeeded', ok: 'Succeeded' }))).toEqual(['app-1']);
    const done = decide({ ...vmsUp, 'app-1': 'Succeeded' }, { migrate: 'Succeeded', ok: 'Succeeded' });
    expect(done.outcome).toBe('Succeeded');
    expect(done.failures).toEqual([]);
  });

  it('keeps the times it recorded: startedAt and completedAt are set once', () => {
    const previous: PlanGroupStatus[] = [{ name: 'data', phase: 'Running', startedAt: '2026-12-03T09:00:00.000Z' }];
    const d = decide({ 'db-1': 'Succeeded', 'db-2': 'Succeeded', 'db-3': 'Succeeded' }, { migrate: 'Succeeded' }, { previous });
    expect(d.groups[0]).toMatchObject({ startedAt: '2026-12-03T09:00:00.000Z', completedAt: '2026-12-03T10:00:00.000Z' });
    expect(d.groups[1]).toMatchObject({ startedAt: '2026-12-03T10:00:00.000Z' });
  });

  it('Stop: starts nothing after a failed VM, lets those under way finish, then fails the plan', () => {
    const failing = decide({ 'db-1': 'Failed', 'db-2': 'Running' });
    expect(started(failing)).toEqual([]);
    expect(failing.outcome).toBe('Running');
    expect(failing.groups[0]?.message).toContain('stopping after the failure of db-1');
    const stopped = decide({ 'db-1': 'Failed', 'db-2': 'Succeeded' });
    expect(stopped.outcome).toBe('Failed');
    expect(stopped.failures).toEqual(['VM db-1']);
    expect(stopped.groups.map((g) => g.phase)).toEqual(['Failed', 'Pending']);
    // A failed post Job stops it too.
    const jobFailed = decide({ 'db-1': 'Succeeded', 'db-2': 'Succeeded', 'db-3': 'Succeeded' }, { migrate: 'Failed' });
    expect(jobFailed.outcome).toBe('Failed');
    expect(jobFailed.failures).toEqual(['action migrate']);
  });

  it('Continue: records the failed VM and action, ends the group Failed, and goes on', () => {
    const d = decide({ 'db-1': 'Failed', 'db-2': 'Succeeded', 'db-3': 'Succeeded' }, { migrate: 'Failed', ok: 'Succeeded' }, { onVMFailure: 'Continue' });
    expect(d.groups.map((g) => g.phase)).toEqual(['Failed', 'Running']);
    expect(started(d)).toEqual(['app-1']);
    const end = decide({ 'db-1': 'Failed', 'db-2': 'Succeeded', 'db-3': 'Succeeded', 'app-1': 'Succeeded' }, { migrate: 'Failed', ok: 'Succeeded' }, { onVMFailure: 'Continue' });
    expect(end.outcome).toBe('Succeeded');
    expect(end.failures).toEqual(['VM db-1', 'action migrate']);
  });
});

describe('plan members and names', () => {
  const plan = (g: RecoveryPlanGroup[]): RecoveryPlan => ({ apiVersion: 'siterecovery.io/v1alpha1', kind: 'RecoveryPlan', metadata: { name: 'p' }, spec: { groups: g } });
  const vm = (name: string, labels: Record<string, string> = {}) => ({ metadata: { name, labels } }) as ReplicatedVM;

  it('takes named VMs, then those the selector matches (sorted); a VM is in its first group only', () => {
    const p = plan([
      { name: 'a', replicatedVMs: ['x'] },
      { name: 'b', replicatedVMs: ['y'], replicatedVMSelector: { matchLabels: { tier: 'web' } } },
    ]);
    const found = planMembers(p, [vm('x', { tier: 'web' }), vm('w2', { tier: 'web' }), vm('w1', { tier: 'web' }), vm('z')]);
    expect(found.map((m) => `${m.group}/${m.replicatedVMName}`)).toEqual(['a/x', 'b/y', 'b/w1', 'b/w2']);
  });

  it('refuses a VM named in two groups and two actions of one name', () => {
    expect(planRefusal(plan([{ name: 'a', replicatedVMs: ['x'] }, { name: 'b', replicatedVMs: ['x'] }]))).toContain('ReplicatedVM x is named in group a and in group b');
    expect(planRefusal(plan([{ name: 'a', replicatedVMs: ['x'], preActions: [approval] }, { name: 'b', replicatedVMs: ['y'], postActions: [approval] }]))).toContain('two actions are named ok');
    expect(planRefusal(plan(groups))).toBeUndefined();
  });

  it('derives bounded, stable names: a member request within 253 characters, a Job within 63', () => {
    expect(memberFailoverName('drill', 'db-1')).toBe('drill-db-1');
    const long = actionJobName('a'.repeat(60), 'data', 'migrate');
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toBe(actionJobName('a'.repeat(60), 'data', 'migrate'));
    expect(long).not.toBe(actionJobName('a'.repeat(60), 'data', 'migrate2'));
  });

  it('builds the Job with the group context in every container, labelled and owned by the plan request', () => {
    const fo = { apiVersion: 'siterecovery.io/v1alpha1', kind: 'FailoverRequest', metadata: { name: 'drill', namespace: 'ns', uid: 'u1' }, spec: { recoveryPlanName: 'shop', type: 'Test' } } as FailoverRequest;
    const up = [
      { replicatedVMName: 'db-1', group: 'data', phase: 'Succeeded', targetVirtualMachineId: '/vm/db-1', privateIpAddress: '10.0.0.4' },
      { replicatedVMName: 'db-2', group: 'data', phase: 'Succeeded', targetVirtualMachineId: '/vm/db-2', privateIpAddress: '10.0.0.5' },
    ];
    const built = actionJob({ planFailover: fo, group: 'data', stage: 'Post', action: job, members: up });
    expect(built.metadata).toMatchObject({ name: 'drill-data-migrate', namespace: 'ns', labels: { 'siterecovery.io/plan-failover': 'drill' }, ownerReferences: [{ kind: 'FailoverRequest', name: 'drill', uid: 'u1', controller: true }] });
    const env = Object.fromEntries((built.spec?.template.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ KEEP: '1', SITE_RECOVERY_PLAN: 'shop', SITE_RECOVERY_GROUP: 'data', SITE_RECOVERY_VMS: 'db-1 db-2', SITE_RECOVERY_VM_IDS: '/vm/db-1 /vm/db-2', SITE_RECOVERY_VM_IPS: '10.0.0.4 10.0.0.5' });
    // The plan's template is not changed.
    expect(job.job?.spec).toEqual({ template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', env: [{ name: 'KEEP', value: '1' }] }] } } });
  });
});
