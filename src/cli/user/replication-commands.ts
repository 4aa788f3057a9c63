/**
 * `site-recovery sync-now VM [--wait]` asks the datapath to capture, apply and seal a point now (the
 * sync-now annotation of src/api/contract.ts; answered in status.replication.syncNow);
 * `status [VM]` prints the protected VMs as a table (what a person checks first: phase, initial sync,
 * RPO, health, newest point); `points VM` lists a VM's recovery points, newest first (with a SUSPECT
 * column once a churn anomaly marked some); `clear-anomaly VM [--wait]` ends a churn anomaly (the
 * clear-churn-anomaly annotation, honoured by the datapath: src/datapath/worker-churn.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { CHURN_ANOMALY_CONDITION, CLEAR_CHURN_ANOMALY_ANNOTATION, REPLICATED_VM_LABEL, SYNC_NOW_ANNOTATION } from '../../api/contract.ts';
import type { RecoveryPoint, ReplicatedVM } from '../../api/types.ts';
import { formatSeconds } from '../live-view.ts';
import { UserContext, userOptions, type UserOptions } from './context.ts';

/** Rows as left-aligned columns, header first. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')).join('\n') + '\n';
}

/** The RPO: the age of the newest sealed point (status keeps its time); none after a real failover. */
function rpo(vm: ReplicatedVM, now: number): string {
  const time = vm.status?.lastRecoveryPoint?.time;
  if (!time || vm.status?.phase === 'FailedOver') return '-';
  return formatSeconds(Math.max(0, Math.round((now - Date.parse(time)) / 1000)));
}

export function statusTable(vms: readonly ReplicatedVM[], now = Date.now()): string {
  const rows = vms.map((vm) => {
    const s = vm.status;
    const sync = s?.initialSync?.completionTime ? 'done' : s?.initialSync?.percent !== undefined ? `${s.initialSync.percent}%` : '-';
    return [vm.metadata.name ?? '', s?.phase ?? 'Pending', sync, rpo(vm, now), s?.health ?? '-', s?.lastRecoveryPoint?.name ?? '-', s?.lastRecoveryPoint?.time ?? '-'];
  });
  return table(['NAME', 'PHASE', 'INITIAL-SYNC', 'RPO', 'HEALTH', 'LAST-POINT', 'POINT-TIME'], rows);
}

export function pointsTable(points: readonly RecoveryPoint[]): string {
  const sorted = [...points].sort((a, b) => b.spec.time.localeCompare(a.spec.time));
  const suspect = sorted.some((p) => p.status?.suspect === true);
  const row = (p: RecoveryPoint) => [p.metadata.name ?? '', p.spec.time, p.spec.consistency, String(p.spec.disks.length), ...(suspect ? [p.status?.suspect ? 'yes' : '-'] : [])];
  return table(['NAME', 'TIME', 'CONSISTENCY', 'DISKS', ...(suspect ? ['SUSPECT'] : [])], sorted.map(row));
}

function registerClearAnomaly(program: Command): void {
  userOptions(program.command('clear-anomaly <vm>').description("End a ReplicatedVM's churn anomaly: new points are clean again, the baseline is learnt again"), true).action(async (vm: string, o: UserOptions) => {
    const ctx = new UserContext(o);
    const before = await ctx.need(ctx.vms, 'ReplicatedVM', vm);
    const token = randomUUID();
    await ctx.vms.mergePatch(ctx.ref(vm), { metadata: { annotations: { [CLEAR_CHURN_ANOMALY_ANNOTATION]: token } } });
    const anomaly = before.status?.churnAnomaly;
    process.stdout.write(`clear-anomaly ${token} requested for ${vm}${anomaly ? ` (anomaly of cycle ${anomaly.cycle})` : ' (no churn anomaly in force)'}\n`);
    if (!o.wait) return;
    const cleared = await ctx.wait(ctx.vms, vm, `clear-anomaly of ${vm}`, (v) => !v || (!v.status?.churnAnomaly && !v.status?.conditions?.some((c) => c.type === CHURN_ANOMALY_CONDITION && c.status === 'True')));
    if (cleared) process.stdout.write('cleared\n');
    else {
      process.stdout.write(`${vm} was deleted\n`);
      process.exitCode = 1;
    }
  });
}

function registerSyncNow(program: Command): void {
  userOptions(program.command('sync-now <vm>').description('Capture, apply and seal a recovery point of a ReplicatedVM now'), true).action(async (vm: string, o: UserOptions) => {
    const ctx = new UserContext(o);
    await ctx.need(ctx.vms, 'ReplicatedVM', vm);
    const token = randomUUID();
    await ctx.vms.mergePatch(ctx.ref(vm), { metadata: { annotations: { [SYNC_NOW_ANNOTATION]: token } } });
    process.stdout.write(`sync-now ${token} requested for ${vm}\n`);
    if (!o.wait) return;
    const answered = await ctx.wait(ctx.vms, vm, `sync-now of ${vm}`, (v) => {
      const answer = v?.status?.replication?.syncNow;
      return !v || (answer?.token === token && answer.state !== 'Running');
    });
    const answer = answered?.status?.replication?.syncNow;
    if (answer?.state === 'Succeeded') process.stdout.write(`sealed ${answer.recoveryPointName ?? ''}\n`);
    else {
      process.stdout.write(`sync-now failed: ${answer?.message ?? (answered ? 'no reason given' : `${vm} was deleted`)}\n`);
      process.exitCode = 1;
    }
  });
}

export function registerReplicationCommands(program: Command): void {
  registerSyncNow(program);
  registerClearAnomaly(program);
  userOptions(program.command('status [vm]').description('The protected VMs: phase, initial sync, RPO, health, newest recovery point')).action(async (vm: string | undefined, o: UserOptions) => {
    const ctx = new UserContext(o);
    const vms = vm ? [await ctx.need(ctx.vms, 'ReplicatedVM', vm)] : (await ctx.vms.list(ctx.namespace)).items;
    process.stdout.write(vms.length ? statusTable(vms) : `no ReplicatedVMs in namespace ${ctx.namespace}\n`);
  });
  userOptions(program.command('points <vm>').description("A ReplicatedVM's recovery points, newest first")).action(async (vm: string, o: UserOptions) => {
    const ctx = new UserContext(o);
    await ctx.need(ctx.vms, 'ReplicatedVM', vm);
    const points = (await ctx.points.list(ctx.namespace, `${REPLICATED_VM_LABEL}=${vm}`)).items.filter((p) => p.spec.replicatedVMName === vm);
    process.stdout.write(points.length ? pointsTable(points) : `no recovery points of ${vm} yet\n`);
  });
}
