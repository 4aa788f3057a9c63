/**
 * `site-recovery failover VM --type Test|Planned|Unplanned [--point P] [--name N] [--wait]` creates a
 * FailoverRequest, and `failover --plan PLAN --type …` one that fails a RecoveryPlan over;
 * `commit FO`, `cleanup FO` and `reprotect FO` set the request's field of that name; `approve FO ACTION`
 * approves a manual-approval action of a plan failover (the annotation siterecovery.io/approve-ACTION).
 * The operator does the work; these commands only write the request (what `kubectl` would) and, with
 * --wait, follow its status to the end: exit 0 when it succeeded, 1 when it failed.
 */
import { Option, type Command } from 'commander';
import { APPROVE_ANNOTATION_PREFIX } from '../../api/contract.ts';
import type { FailoverRequest, RecoveryPlan } from '../../api/types.ts';
import { CustomResourceClient } from '../../kube/custom-resources.ts';
import { UserContext, userOptions, type UserOptions } from './context.ts';

type FailoverType = 'Test' | 'Planned' | 'Unplanned';

const finished = (o: FailoverRequest | undefined) => !o || ['Succeeded', 'Failed', 'Committed', 'CleanedUp'].includes(o.status?.phase ?? '');

/** One line about a request: phase, the step (or plan group) under way or the reason it failed. */
export function describeFailover(fo: FailoverRequest): string {
  const s = fo.status;
  const failed = s?.conditions?.find((c) => c.type === 'Succeeded' && c.status === 'False');
  const running = s?.steps?.find((st) => st.state === 'Running');
  const group = s?.groups?.find((g) => g.phase === 'Running' || g.phase === 'WaitingForApproval');
  const planDone = fo.spec.recoveryPlanName ? `${(s?.members ?? []).filter((m) => m.targetVirtualMachineId).length}/${s?.members?.length ?? 0} VMs failed over` : '';
  const detail = failed
    ? `${failed.reason}: ${failed.message}`
    : running
      ? `${running.name}: ${running.message ?? ''}`
      : group
        ? `group ${group.name}: ${group.message ?? group.phase}`
        : planDone || (s?.targetVirtualMachineId ?? '');
  return `FailoverRequest ${fo.metadata.name}: ${s?.phase ?? 'Pending'}${detail ? ` (${detail})` : ''}`;
}

async function follow(ctx: UserContext, name: string, until: (o: FailoverRequest | undefined) => boolean, what: string): Promise<void> {
  const fo = await ctx.wait(ctx.failovers, name, what, until);
  if (!fo) throw new Error(`FailoverRequest ${name} was deleted`);
  process.stdout.write(`${describeFailover(fo)}\n`);
  if (fo.status?.phase === 'Failed') process.exitCode = 1;
}

function requestName(vm: string, type: FailoverType): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-').toLowerCase();
  return `${vm}-${type.toLowerCase()}-${stamp}`.slice(0, 253);
}

function registerFailover(program: Command): void {
  const command = userOptions(
    program
      .command('failover [vm]')
      .description('Fail a ReplicatedVM (or with --plan, a RecoveryPlan) over: creates a FailoverRequest (Test: isolated network, replication continues; Planned: no data loss; Unplanned: the source may be down)')
      .addOption(new Option('--type <type>', 'Test, Planned or Unplanned').choices(['Test', 'Planned', 'Unplanned']).makeOptionMandatory())
      .option('--plan <plan>', 'fail over every VM of this RecoveryPlan, group by group (instead of one VM)')
      .option('--point <point>', 'LatestProcessed (default), Latest, LatestAppConsistent, LatestClean or a RecoveryPoint name')
      .option('--name <name>', 'name of the FailoverRequest (default: <vm or plan>-<type>-<time>)'),
    true,
  );
  command.action(async (vm: string | undefined, o: UserOptions & { type: FailoverType; plan?: string; point?: string; name?: string }) => {
    if (Boolean(vm) === Boolean(o.plan)) command.error(`error: name one ReplicatedVM or --plan PLAN${vm ? ', not both' : ''}`);
    const ctx = new UserContext(o);
    const target = vm ? { replicatedVMName: vm } : { recoveryPlanName: o.plan as string };
    if (vm) await ctx.need(ctx.vms, 'ReplicatedVM', vm);
    else await ctx.need(new CustomResourceClient<RecoveryPlan>(ctx.kubeConfig, 'RecoveryPlan'), 'RecoveryPlan', o.plan as string);
    const subject = vm ?? (o.plan as string);
    const name = o.name ?? requestName(subject, o.type);
    await ctx.failovers.create(ctx.namespace, { metadata: { name }, spec: { ...target, type: o.type, ...(o.point ? { recoveryPoint: o.point } : {}) } });
    process.stdout.write(`FailoverRequest ${name} created (${o.type} failover of ${vm ?? `plan ${o.plan}`})\n`);
    if (o.wait) await follow(ctx, name, finished, `${o.type} failover ${name}`);
  });
}

/** `approve FO ACTION`: approves a manual-approval action of a plan failover. */
function registerApprove(program: Command): void {
  userOptions(program.command('approve <failover> <action>').description('Approve a manual-approval action of a plan failover, so the plan goes on')).action(async (name: string, action: string, o: UserOptions) => {
    const ctx = new UserContext(o);
    const fo = await ctx.need(ctx.failovers, 'FailoverRequest', name);
    if (!fo.spec.recoveryPlanName) throw new Error(`${name} fails over one VM, not a RecoveryPlan: it has no actions to approve`);
    const plan = await ctx.need(new CustomResourceClient<RecoveryPlan>(ctx.kubeConfig, 'RecoveryPlan'), 'RecoveryPlan', fo.spec.recoveryPlanName);
    const approvals = plan.spec.groups.flatMap((g) => [...(g.preActions ?? []), ...(g.postActions ?? [])]).filter((a) => a.manualApproval).map((a) => a.name);
    if (!approvals.includes(action)) throw new Error(`RecoveryPlan ${plan.metadata.name} has no manual approval named ${action}${approvals.length ? ` (it has: ${approvals.join(', ')})` : ''}`);
    await ctx.failovers.mergePatch(ctx.ref(name), { metadata: { annotations: { [APPROVE_ANNOTATION_PREFIX + action]: new Date().toISOString() } } });
    process.stdout.write(`FailoverRequest ${name}: ${action} approved\n`);
  });
}

/** `commit`, `cleanup` and `reprotect`: set one field of a request, then optionally follow it. */
function registerFlag(program: Command, field: 'commit' | 'cleanup' | 'reprotect', description: string, done: (o: FailoverRequest | undefined) => boolean): void {
  userOptions(program.command(`${field} <failover>`).description(description), true).action(async (name: string, o: UserOptions) => {
    const ctx = new UserContext(o);
    const fo = await ctx.need(ctx.failovers, 'FailoverRequest', name);
    if (field === 'cleanup' && fo.spec.type !== 'Test') throw new Error(`${name} is a ${fo.spec.type} failover: only a Test failover is cleaned up (a real failover is committed, never undone)`);
    if (field !== 'cleanup' && fo.spec.type === 'Test') throw new Error(`${name} is a Test failover: it is cleaned up, not ${field === 'commit' ? 'committed' : 're-protected'}`);
    if (field === 'reprotect' && fo.status?.phase !== 'Committed') throw new Error(`${name} is ${fo.status?.phase ?? 'Pending'}: commit it first (site-recovery commit ${name})`);
    await ctx.failovers.mergePatch(ctx.ref(name), { spec: { [field]: true } });
    process.stdout.write(`FailoverRequest ${name}: ${field} requested\n`);
    if (o.wait) await follow(ctx, name, done, `${field} of ${name}`);
  });
}

export function registerFailoverCommands(program: Command): void {
  registerFailover(program);
  registerApprove(program);
  registerFlag(program, 'commit', 'Commit a Planned or Unplanned failover (cannot be undone)', (o) => !o || ['Committed', 'Failed'].includes(o.status?.phase ?? ''));
  registerFlag(program, 'cleanup', 'Remove everything a Test failover created', (o) => !o || ['CleanedUp', 'Failed'].includes(o.status?.phase ?? ''));
  registerFlag(program, 'reprotect', 'After commit: replicate the failed-over VM back to its original region', (o) =>
    !o || o.status?.phase === 'Failed' || o.status?.conditions?.some((c) => c.type === 'Reprotected' && c.status === 'True') === true,
  );
}
