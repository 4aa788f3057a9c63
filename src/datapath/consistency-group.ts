/**
 * Multi-VM consistency groups on the replica that owns them (ReplicatedVM spec.consistencyGroup).
 *
 *   ownership   a group's VMs are owned together: rendezvous hashing by the group's key instead of the
 *               VM's uid (ownershipKey), so one replica runs every member's worker;
 *   group cycle the members' capture loops meet here instead of each following its own timer: the first
 *               member due opens a gathering and wakes the others; once every member of the group with an
 *               open session arrived (or `gatherMs` passed: a member still busy with its previous cycles
 *               misses this one), all are released together with one group cycle number; each checks
 *               for an earlier attempt's restore point (which also opens its connection to ARM), and the
 *               creations start together once every member is ready (READY_WAIT_MS at most); each reports its restore point's time (or its failure), and when
 *               all did, every member learns the cycle's stamp: the number, how many members it holds and
 *               the skew (latest minus earliest restore point time). The member commits the stamp with its
 *               cycle (journal.ts) and its RecoveryPoint carries it (group-point.ts).
 *
 * Quiesce (group-quiesce.ts): when every member released has spec.quiesce and one of them is due an
 * application-consistent point (the policy's appConsistentInterval), the members' preFreeze commands run
 * before the release, and their thaw commands once every member reported its restore point; the cycle is
 * then AppConsistent for all. A preFreeze that fails thaws the others at once: the cycle is crash-consistent.
 *
 * Physics: each member's restore point is crash-consistent across its own disks, but the members' restore
 * points are separate ARM operations on separate VMs: they are time-aligned within the reported skew, not
 * one crash instant across VMs.
 *
 * Group cycle numbers continue from the highest any member's journal recorded, so they survive a handover
 * to another replica. Whether every member sealed a group cycle is decided where it is used
 * (src/reconcilers/failover/group-cycle.ts): a member that missed one makes it incomplete.
 */
import type { ReplicatedVM } from '../api/types.ts';
import { createLogger } from '../util/logger.ts';
import { freezeAll, thawAll, type CommandRunner, type QuiesceMember } from './group-quiesce.ts';

const log = createLogger('datapath');

/** How long a released member that is ready to create its restore point waits for the others. */
export const READY_WAIT_MS = 3000;

/** What groups its members' cycles: recorded with a member's cycle and on its RecoveryPoint. */
export interface GroupStamp {
  group: string;
  cycle: number;
  /** Members whose restore point is part of the cycle. */
  members: number;
  /** Latest minus earliest restore point time of those members, in milliseconds. */
  skewMs: number;
}

/** The rendezvous key of a VM: its group's when it has one (one replica owns the whole group), else its uid. */
export function ownershipKey(vm: ReplicatedVM): string {
  const group = vm.spec.consistencyGroup;
  return group ? `consistency-group/${vm.metadata.namespace ?? ''}/${group}` : (vm.metadata.uid ?? '');
}

/** A member's worker, as the group sees it while the worker's session is open. */
export interface GroupMemberHandle {
  /** namespace/name of the ReplicatedVM. */
  readonly key: string;
  /** The group the VM names now (read at every gathering, so leaving the group takes effect at once). */
  group(): string | undefined;
  namespace(): string;
  /** The newest group cycle this member's journal recorded. */
  lastGroupCycle(): number;
  /** Asks the member's capture loop to look again (a gathering opened). */
  wake(): void;
  /** The member's quiesce commands (spec.quiesce), if it has any. */
  quiesce(): QuiesceMember | undefined;
  /** Whether the member is due an application-consistent point. */
  appDue(): boolean;
  /** Reports a problem of the group on the member's object (a Warning event). */
  warn(reason: string, message: string): void;
}

/** One released group cycle: members report their restore point, then all learn the stamp. */
export class GroupTurn {
  readonly group: string;
  readonly cycle: number;
  /** AppConsistent when the members were frozen, CrashConsistent when quiescing failed, else undefined. */
  readonly consistency: 'AppConsistent' | 'CrashConsistent' | undefined;
  private readonly waiting: Set<string>;
  /** Members not yet about to create their restore point (see ready). */
  private readonly unready: Set<string>;
  private readonly allReady: Promise<void>;
  private onAllReady!: () => void;
  private readonly times = new Map<string, number>();
  private readonly done: Promise<GroupStamp>;
  private resolve!: (stamp: GroupStamp) => void;

  constructor(group: string, cycle: number, members: Iterable<string>, consistency?: 'AppConsistent' | 'CrashConsistent') {
    this.group = group;
    this.cycle = cycle;
    this.consistency = consistency;
    this.waiting = new Set(members);
    this.unready = new Set(this.waiting);
    this.done = new Promise((resolve) => (this.resolve = resolve));
    this.allReady = new Promise((resolve) => (this.onAllReady = resolve));
    this.check();
  }

  /**
   * The member is about to create its restore point (its connection to ARM is open, its checks done):
   * resolves once every member is, or after `READY_WAIT_MS`, so the creations start together instead of
   * spread over the members' preparations.
   */
  ready(member: string): Promise<void> {
    this.markReady(member);
    return Promise.race([this.allReady, new Promise<void>((resolve) => setTimeout(resolve, READY_WAIT_MS).unref())]);
  }

  private markReady(member: string): void {
    if (this.unready.delete(member) && this.unready.size === 0) this.onAllReady();
  }

  /** The member's restore point of this cycle was taken at `time` (ISO). */
  taken(member: string, time: string): void {
    this.markReady(member);
    if (!this.waiting.delete(member)) return;
    this.times.set(member, Date.parse(time));
    this.check();
  }

  /** The member will not have a restore point of this cycle (its capture failed or stopped). */
  failed(member: string): void {
    this.markReady(member);
    if (this.waiting.delete(member)) this.check();
  }

  /** Resolves once every released member reported. */
  settled(): Promise<GroupStamp> {
    return this.done;
  }

  /** The stamp, once every released member reported; rejects when `signal` aborts first. */
  stamp(signal: AbortSignal): Promise<GroupStamp> {
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      void this.done.then((stamp) => {
        signal.removeEventListener('abort', onAbort);
        resolve(stamp);
      });
    });
  }

  private check(): void {
    if (this.unready.size === 0) this.onAllReady();
    if (this.waiting.size > 0) return;
    const times = [...this.times.values()];
    const skewMs = times.length ? Math.max(...times) - Math.min(...times) : 0;
    this.resolve({ group: this.group, cycle: this.cycle, members: times.length, skewMs });
  }
}

interface Gathering {
  cycle: number;
  arrived: Map<string, (turn: GroupTurn) => void>;
  timer: NodeJS.Timeout;
}

/** One group on this replica: when its next cycle is due, and the gathering of its members. */
export class GroupCoordinator {
  /** namespace/group */
  readonly key: string;
  readonly group: string;
  private readonly registry: GroupRegistry;
  private gathering: Gathering | undefined;
  private lastRelease = 0;
  private lastIssued = 0;

  constructor(key: string, group: string, registry: GroupRegistry) {
    this.key = key;
    this.group = group;
    this.registry = registry;
  }

  /** Milliseconds until the group's next cycle is due: 0 while a gathering is open. */
  delayMs(intervalMs: number): number {
    if (this.gathering || this.lastRelease === 0) return 0;
    return this.lastRelease + intervalMs - Date.now();
  }

  /** Waits until the group cycle this member joins is released; its turn says which cycle it is. */
  arrive(member: GroupMemberHandle, gatherMs: number, signal: AbortSignal): Promise<GroupTurn> {
    const gathering = this.gathering ?? this.open(gatherMs);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        gathering.arrived.delete(member.key);
        reject(signal.reason);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      gathering.arrived.set(member.key, (turn) => {
        signal.removeEventListener('abort', onAbort);
        resolve(turn);
      });
      if (this.members().every((m) => gathering.arrived.has(m.key))) void this.release();
    });
  }

  /** The members of the group with an open session on this replica now. */
  members(): GroupMemberHandle[] {
    return this.registry.membersOf(this.key);
  }

  private open(gatherMs: number): Gathering {
    const members = this.members();
    const cycle = Math.max(this.lastIssued, ...members.map((m) => m.lastGroupCycle())) + 1;
    const timer = setTimeout(() => void this.release(), gatherMs);
    timer.unref();
    const gathering: Gathering = { cycle, arrived: new Map(), timer };
    this.gathering = gathering;
    for (const m of members) m.wake();
    return gathering;
  }

  private async release(): Promise<void> {
    const gathering = this.gathering;
    if (!gathering) return;
    this.gathering = undefined;
    clearTimeout(gathering.timer);
    if (gathering.arrived.size === 0) return;
    this.lastIssued = gathering.cycle;
    this.lastRelease = Date.now();
    const released = this.members().filter((m) => gathering.arrived.has(m.key));
    const { consistency, frozen } = await this.quiesce(released, gathering.cycle);
    const turn = new GroupTurn(this.group, gathering.cycle, gathering.arrived.keys(), consistency);
    if (frozen.length) void turn.settled().then(() => this.thaw(released, frozen));
    for (const release of gathering.arrived.values()) release(turn);
  }

  /** Freezes the released members when all can be and one is due an application-consistent point. */
  private async quiesce(released: GroupMemberHandle[], cycle: number): Promise<{ consistency?: 'AppConsistent' | 'CrashConsistent'; frozen: QuiesceMember[] }> {
    const runner = this.registry.runner;
    const members = released.map((m) => m.quiesce());
    if (!runner || released.length === 0 || !released.some((m) => m.appDue())) return { frozen: [] };
    if (members.some((m) => !m)) return { frozen: [] };
    const { frozen, failure } = await freezeAll(runner, members as QuiesceMember[], new AbortController().signal);
    if (failure === undefined) {
      log.info('group frozen', { group: this.key, groupCycle: cycle, members: frozen.length });
      return { consistency: 'AppConsistent', frozen };
    }
    log.warn('quiescing the group failed: this group cycle is crash-consistent', { group: this.key, groupCycle: cycle, error: failure });
    for (const m of released) m.warn('QuiesceFailed', `group ${this.group} cycle ${cycle} is crash-consistent: ${failure}`);
    return { consistency: 'CrashConsistent', frozen: [] };
  }

  private async thaw(released: GroupMemberHandle[], frozen: QuiesceMember[]): Promise<void> {
    const failures = await thawAll(this.registry.runner!, frozen, new AbortController().signal);
    if (!failures.length) return;
    log.warn('thawing the group failed', { group: this.key, error: failures.join('; ') });
    for (const m of released) m.warn('ThawFailed', `group ${this.group}: ${failures.join('; ')}`);
  }
}

/** The groups of this replica and the member sessions open here. */
export class GroupRegistry {
  /** Runs the members' quiesce commands (absent: groups are never quiesced). */
  readonly runner: CommandRunner | undefined;
  private readonly handles = new Set<GroupMemberHandle>();
  private readonly coordinators = new Map<string, GroupCoordinator>();

  constructor(runner?: CommandRunner) {
    this.runner = runner;
  }

  /** Registers a member's open session; the returned function unregisters it. */
  join(handle: GroupMemberHandle): () => void {
    this.handles.add(handle);
    return () => this.handles.delete(handle);
  }

  /** The coordinator of the group `vm` names now, or undefined when it names none. */
  coordinatorOf(vm: ReplicatedVM): GroupCoordinator | undefined {
    const group = vm.spec.consistencyGroup;
    if (!group) return undefined;
    const key = `${vm.metadata.namespace ?? ''}/${group}`;
    let coordinator = this.coordinators.get(key);
    if (!coordinator) {
      coordinator = new GroupCoordinator(key, group, this);
      this.coordinators.set(key, coordinator);
    }
    return coordinator;
  }

  membersOf(key: string): GroupMemberHandle[] {
    return [...this.handles].filter((h) => `${h.namespace()}/${h.group() ?? ''}` === key);
  }
}
