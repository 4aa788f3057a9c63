/**
 * Background verification of sealed recovery points, per ReplicatedVM, on a budget: the policy's
 * spec.verification.pointsPerDay (default 1; 0 turns it off) points a day, evenly spaced. One pass:
 *
 *   observe  the VM's running verification (in memory), else its points and when the last was verified;
 *   decide   record a finished verification / wait for a running one / wait until the next is due /
 *            start one on the newest point not yet verified;
 *   act      start it in the background (verify-point.ts: storage checksums of the replica snapshot
 *            against the ones capture recorded; minutes for a large disk, so no worker waits on it);
 *   record   status.verified on the RecoveryPoint; the RecoveryPointVerified condition on the VM (False,
 *            reason VerificationFailed naming the point, disk and offset, or VerificationError, while any
 *            retained point failed; else True); an event (Warning unless it passed); the fleet gauge reads
 *            the condition for the alert.
 *
 * A point without a checksum record (sealed by an older datapath) is skipped, in memory, not reported.
 * Both writes go through server-side apply under the verifier's field manager, which owns exactly these
 * (src/api/contract.ts), so they never fight the operator's or the datapath's status writes. A restarted
 * operator has lost its running verifications and starts them again (they are read-only towards the point).
 * At most MAX_RUNNING verifications run at once in the whole operator.
 */
import type { TokenCredential } from '@azure/core-auth';
import { POINT_VERIFIED_CONDITION, REPLICATED_VM_LABEL } from '../../api/contract.ts';
import type { PointVerification, RecoveryPoint, ReplicatedVM, ReplicationPolicy } from '../../api/types.ts';
import type { CustomResourceClient, ObjectReader } from '../../kube/custom-resources.ts';
import { BackgroundTasks } from '../../runtime/background-tasks.ts';
import { setCondition, type ConditionInput } from '../../runtime/conditions.ts';
import type { ReconcileContext, ReconcileResult, Reconciler } from '../../runtime/controller.ts';
import { applyStatus } from '../../runtime/status-writer.ts';
import { NoChecksumRecord, verifyPoint } from './verify-point.ts';

const DAY_MS = 24 * 3600_000;
const DEFAULT_POINTS_PER_DAY = 1;
const POLL_MS = 2_000;
const BUSY_RETRY_MS = 30_000;
export const MAX_RUNNING = 2;

export interface PointVerificationDeps {
  vms: CustomResourceClient<ReplicatedVM>;
  points: CustomResourceClient<RecoveryPoint>;
  policies: ObjectReader<ReplicationPolicy>;
  credential: TokenCredential;
  /** Verifies one point (default verify-point.ts with `credential`). */
  verify?: (point: RecoveryPoint, signal: AbortSignal) => Promise<PointVerification>;
  now?: () => Date;
}

export class PointVerificationReconciler implements Reconciler<ReplicatedVM> {
  private readonly deps: PointVerificationDeps;
  private readonly tasks = new BackgroundTasks<PointVerification>();
  /** The point each VM's running verification checks, by VM key. */
  private readonly checking = new Map<string, string>();
  /** Points without a checksum record (sealed before the datapath wrote them), by task key: never picked. */
  private readonly unverifiable = new Set<string>();
  /** When each VM's newest point was verified (ms; 0: never), as last listed or recorded. */
  private readonly lastVerified = new Map<string, number>();

  constructor(deps: PointVerificationDeps) {
    this.deps = deps;
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  async reconcile(vm: ReplicatedVM, ctx: ReconcileContext): Promise<ReconcileResult | void> {
    const key = `${vm.metadata.namespace}/${vm.metadata.name}`;
    const perDay = await this.pointsPerDay(vm);
    const running = this.checking.get(key);
    if (running !== undefined && (perDay === 0 || vm.metadata.deletionTimestamp)) return this.drop(key);
    if (running !== undefined) return this.follow(vm, key, running, ctx);
    if (perDay === 0 || vm.metadata.deletionTimestamp) return undefined;
    const period = DAY_MS / perDay;
    // Known not due (a new point wakes the VM): no need to list its points.
    const due = this.lastVerified.has(key) ? (this.lastVerified.get(key) ?? 0) + period - this.now().getTime() : 0;
    if (due > 0) return { requeueAfterMs: due };
    const points = (await this.deps.points.list(vm.metadata.namespace, `${REPLICATED_VM_LABEL}=${vm.metadata.name}`)).items;
    const last = Math.max(0, ...points.map((p) => Date.parse(p.status?.verified?.time ?? '') || 0));
    this.lastVerified.set(key, last);
    const wait = last + period - this.now().getTime();
    if (wait > 0) return { requeueAfterMs: wait };
    // Nothing to verify yet: the next point sealed (a status update of the VM) wakes it.
    const pick = newestUnverified(points.filter((p) => !this.unverifiable.has(taskKey(key, p.metadata.name ?? ''))));
    if (!pick) return undefined;
    if (this.tasks.running >= MAX_RUNNING) return { requeueAfterMs: BUSY_RETRY_MS };
    this.checking.set(key, pick.metadata.name ?? '');
    ctx.log.info('verifying recovery point', { vm: key, recoveryPoint: pick.metadata.name });
    this.start(key, pick);
    return { requeueAfterMs: POLL_MS };
  }

  private async pointsPerDay(vm: ReplicatedVM): Promise<number> {
    const policy = await this.deps.policies.get({ namespace: vm.metadata.namespace ?? 'default', name: vm.spec.policyRef.name });
    return policy?.spec.verification?.pointsPerDay ?? DEFAULT_POINTS_PER_DAY;
  }

  private start(key: string, point: RecoveryPoint): void {
    const verify = this.deps.verify ?? ((p: RecoveryPoint, signal: AbortSignal) => verifyPoint(this.deps.credential, p, signal, () => this.now()));
    this.tasks.poll(taskKey(key, point.metadata.name ?? ''), (signal) => verify(point, signal));
  }

  private drop(key: string): undefined {
    this.tasks.forget(taskKey(key, this.checking.get(key) ?? ''));
    this.checking.delete(key);
    return undefined;
  }

  /** A running verification: wait for it, then record its result. */
  private async follow(vm: ReplicatedVM, key: string, pointName: string, ctx: ReconcileContext): Promise<ReconcileResult> {
    const result = this.tasks.poll(taskKey(key, pointName), () => Promise.reject(new Error('restarted')));
    if (!result) return { requeueAfterMs: POLL_MS };
    if (!result.ok && result.error instanceof NoChecksumRecord) {
      // Sealed before the datapath recorded checksums: not verifiable, not a failure; the next one is taken.
      ctx.log.info('recovery point has no checksum record; skipped', { vm: key, recoveryPoint: pointName });
      this.unverifiable.add(taskKey(key, pointName));
      this.drop(key);
      return { requeueAfterMs: 1 };
    }
    const verified: PointVerification = result.ok ? result.value : { time: this.now().toISOString(), method: 'CycleChecksums', result: 'Error', message: errorText(result.error) };
    // Recorded before the task is dropped: a write that fails is made again by the retry.
    await this.record(vm, pointName, verified, ctx);
    this.drop(key);
    this.lastVerified.set(key, Date.parse(verified.time));
    return { requeueAfterMs: 1 };
  }

  private async record(vm: ReplicatedVM, pointName: string, verified: PointVerification, ctx: ReconcileContext): Promise<void> {
    const namespace = vm.metadata.namespace ?? 'default';
    const point = await this.deps.points.get({ namespace, name: pointName });
    // A point pruned while it was verified: nothing to mark; the next pass picks another.
    if (point) await applyStatus(this.deps.points, point, { verified }, 'verifier');
    const points = (await this.deps.points.list(namespace, `${REPLICATED_VM_LABEL}=${vm.metadata.name}`)).items.map((p) => (p.metadata.name === pointName ? { ...p, status: { ...p.status, verified } } : p));
    const condition = conditionOf(points);
    if (condition) await applyStatus(this.deps.vms, vm, { conditions: setCondition(vm.status?.conditions, condition, vm.metadata.generation) }, 'verifier');
    const text = `recovery point ${pointName} ${verified.result === 'Passed' ? 'verified' : verified.result === 'Failed' ? 'FAILED verification' : 'could not be verified'} (${verified.method}): ${verified.message ?? ''}`;
    ctx.events.record(vm, verified.result === 'Passed' ? 'Normal' : 'Warning', REASON[verified.result], text);
    ctx.log[verified.result === 'Passed' ? 'info' : 'warn'](text, { vm: `${namespace}/${vm.metadata.name}` });
  }
}

const REASON: Record<PointVerification['result'], string> = { Passed: 'RecoveryPointVerified', Failed: 'VerificationFailed', Error: 'VerificationError' };

const taskKey = (vmKey: string, point: string) => `${vmKey}/${point}`;

/** The newest point (by cycle, then time) never verified. */
function newestUnverified(points: readonly RecoveryPoint[]): RecoveryPoint | undefined {
  const order = (p: RecoveryPoint) => [p.spec.cycle ?? 0, Date.parse(p.spec.time) || 0] as const;
  return points
    .filter((p) => !p.status?.verified && !p.metadata.deletionTimestamp)
    .sort((a, b) => order(b)[0] - order(a)[0] || order(b)[1] - order(a)[1])[0];
}

/**
 * The VM's condition from its retained points: False while any of them failed (or could not be verified;
 * the newest such is named) — a failover to it would not give the data back — else True naming the newest
 * point that passed. Undefined while none was verified.
 */
function conditionOf(points: readonly RecoveryPoint[]): ConditionInput | undefined {
  const verified = points.filter((p) => p.status?.verified).sort((a, b) => (b.spec.cycle ?? 0) - (a.spec.cycle ?? 0));
  const bad = verified.find((p) => p.status?.verified?.result !== 'Passed');
  const v = (bad ?? verified[0])?.status?.verified;
  if (!v) return undefined;
  const name = (bad ?? verified[0])?.metadata.name;
  if (v.result === 'Passed') return { type: POINT_VERIFIED_CONDITION, status: 'True', reason: 'Passed', message: `recovery point ${name} verified at ${v.time} (${v.method}): ${v.message ?? ''}` };
  if (v.result === 'Failed') return { type: POINT_VERIFIED_CONDITION, status: 'False', reason: 'VerificationFailed', message: `recovery point ${name} differs from the checksums recorded at capture on disk ${v.disk} at offset ${v.offset}: ${v.message ?? ''}` };
  return { type: POINT_VERIFIED_CONDITION, status: 'False', reason: 'VerificationError', message: `recovery point ${name} could not be verified: ${v.message ?? ''}` };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
