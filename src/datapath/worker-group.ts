/**
 * A member's side of its consistency group (consistency-group.ts), as the capture loop uses it: the
 * session registers the member while it is open; when the group's next cycle is due replaces the VM's own
 * timer; a capture first joins the group cycle (whose quiesce, if any, decides the cycle's consistency),
 * reports its restore point's time (or that it has none), and waits for the cycle's stamp before
 * committing it with the cycle.
 */
import type { GroupStamp, GroupTurn } from './consistency-group.ts';
import type { JournalState } from './journal.ts';
import type { Session, VmContext } from './worker-context.ts';

const DEFAULT_GATHER_MS = 10_000;

/** Registers the member's open session with its replica's groups; returns the function that unregisters it. */
export function registerGroupMember(ctx: VmContext, session: Session): () => void {
  const groups = ctx.deps.groups;
  if (!groups) return () => undefined;
  return groups.join({
    key: `${ctx.vm.metadata.namespace}/${ctx.vm.metadata.name}`,
    group: () => ctx.vm.spec.consistencyGroup,
    namespace: () => ctx.vm.metadata.namespace ?? '',
    lastGroupCycle: () => session.journal.state.groupCycle ?? 0,
    wake: () => ctx.captureWake.notify(),
    quiesce: () => {
      const q = ctx.vm.spec.quiesce;
      return q ? { key: `${ctx.vm.metadata.namespace}/${ctx.vm.metadata.name}`, vmId: ctx.vm.spec.sourceVirtualMachineId, preFreeze: q.preFreeze, thaw: q.thaw } : undefined;
    },
    appDue: () => appConsistentDue(ctx, session.journal.state),
    warn: (reason, message) => ctx.deps.events.record(ctx.vm, 'Warning', reason, message),
  });
}

/** Whether the policy's application-consistent cadence asks for such a point now. */
export function appConsistentDue(ctx: VmContext, state: Readonly<JournalState>): boolean {
  const { appConsistentIntervalMs } = ctx.times;
  if (appConsistentIntervalMs === undefined) return false;
  return !state.lastAppConsistentCapture || Date.now() - Date.parse(state.lastAppConsistentCapture) >= appConsistentIntervalMs;
}

/** Milliseconds until the member's group cycle is due, or undefined when the VM is in no group. */
export function groupDelay(ctx: VmContext): number | undefined {
  return ctx.deps.groups?.coordinatorOf(ctx.vm)?.delayMs(ctx.intervalMs);
}

/** A member's place in one released group cycle. */
export interface GroupCapture {
  turn: GroupTurn;
  /** The member is about to create its restore point: waits for the others (GroupTurn.ready). */
  ready(): Promise<void>;
  /** The member's restore point was taken at `time`. */
  taken(time: string): void;
  /** The capture ends without a restore point (harmless once taken). */
  settle(): void;
  stamp(): Promise<GroupStamp>;
}

/** Waits for the group cycle this capture belongs to; undefined when the VM is in no group. */
export async function joinGroupCycle(ctx: VmContext, session: Session): Promise<GroupCapture | undefined> {
  const coordinator = ctx.deps.groups?.coordinatorOf(ctx.vm);
  if (!coordinator) return undefined;
  const key = `${ctx.vm.metadata.namespace}/${ctx.vm.metadata.name}`;
  const gatherMs = Math.min(ctx.deps.config.groupGatherMs ?? DEFAULT_GATHER_MS, ctx.intervalMs / 2);
  const handle = coordinator.members().find((m) => m.key === key);
  if (!handle) return undefined; // no session registered (cannot happen while capturing); capture alone
  const turn = await coordinator.arrive(handle, gatherMs, session.signal);
  ctx.log.debug('group cycle released', { group: turn.group, groupCycle: turn.cycle });
  return {
    turn,
    ready: () => turn.ready(key),
    taken: (time) => turn.taken(key, time),
    settle: () => turn.failed(key),
    stamp: () => turn.stamp(session.signal),
  };
}
