/**
 * The one way a reconciler writes status (kstatus conditions through `applyReadiness`, observedGeneration,
 * and only the fields its writer owns per `src/api/contract.ts`), with the three endings every reconciler
 * needs: record and carry on, pause (waiting, look again soon), stall (a person must act; one Warning
 * event per new reason) — and `fail`, which records an error's reason and rethrows it for the controller.
 *
 * Status goes through server-side apply under the writer's field manager, and is skipped when nothing
 * the writer owns would change, so a resync of a converged object writes nothing.
 */
import { isDeepStrictEqual } from 'node:util';
import { DATAPATH_FIELD_MANAGER, OPERATOR_FIELD_MANAGER, VERIFIER_FIELD_MANAGER, ownsCondition, statusOwnedBy, type StatusWriterName } from '../api/contract.ts';
import type { Condition } from '../api/types.ts';
import { refOf, type CustomObject, type CustomResourceClient } from '../kube/custom-resources.ts';
import { applyReadiness, setCondition, type ConditionInput, type Readiness } from './conditions.ts';
import type { ReconcileResult } from './controller.ts';
import type { EventRecorder } from './events.ts';
import { TerminalError, type RetryableError } from './reconcile-errors.ts';
import { STALLED_RECHECK_MS } from './step.ts';

type Status = Record<string, unknown> & { conditions?: Condition[] };

const FIELD_MANAGER: Record<StatusWriterName, string> = { operator: OPERATOR_FIELD_MANAGER, datapath: DATAPATH_FIELD_MANAGER, verifier: VERIFIER_FIELD_MANAGER };

/** True when applying `desired` would change nothing `writer` owns. */
export function statusUnchanged(current: Status | undefined, desired: Status, writer: StatusWriterName = 'operator'): boolean {
  const now = current ?? {};
  for (const [key, value] of Object.entries(desired)) {
    if (key === 'conditions') continue;
    if (!isDeepStrictEqual(now[key], value)) return false;
  }
  const mine = (list: Condition[] | undefined) => (list ?? []).filter((c) => ownsCondition(writer, c.type)).sort((a, b) => a.type.localeCompare(b.type));
  return isDeepStrictEqual(mine(now.conditions), mine(desired.conditions));
}

/** Applies `desired` (the writer's whole part of the status) unless it changes nothing. */
export async function applyStatus<T extends CustomObject>(client: CustomResourceClient<T>, object: T, desired: Status, writer: StatusWriterName = 'operator'): Promise<T> {
  if (statusUnchanged(object.status as Status | undefined, desired, writer)) return object;
  const conditions = (desired.conditions ?? []).filter((c) => ownsCondition(writer, c.type));
  return client.applyStatus(refOf(object), { ...desired, conditions }, FIELD_MANAGER[writer]);
}

export class StatusWriter<T extends CustomObject> {
  private readonly client: CustomResourceClient<T>;

  constructor(client: CustomResourceClient<T>) {
    this.client = client;
  }

  /**
   * Writes the operator's part of `object`'s status: what it had, overlaid with `fields`, the kstatus
   * triple from `readiness` and any further `conditions`. Updates `object` in place.
   */
  async record(object: T, readiness: Readiness, fields: object = {}, ...conditions: ConditionInput[]): Promise<void> {
    const generation = object.metadata.generation;
    let list = applyReadiness((object.status as Status | undefined)?.conditions, readiness, generation);
    for (const condition of conditions) list = setCondition(list, condition, generation);
    const status = { ...statusOwnedBy('operator', object.status as object | undefined), ...fields, observedGeneration: generation, conditions: list };
    const updated = await applyStatus(this.client, object, status);
    object.status = updated.status;
    object.metadata.resourceVersion = updated.metadata.resourceVersion;
  }

  /** Records progress that must wait, and asks to look again after `requeueAfterMs`. */
  async pause(object: T, waiting: { reason: string; message: string; requeueAfterMs?: number }, fields: object = {}): Promise<ReconcileResult> {
    await this.record(object, { state: 'progressing', reason: waiting.reason, message: waiting.message }, fields);
    return { requeueAfterMs: waiting.requeueAfterMs ?? 2_000 };
  }

  /** Records Stalled (one Warning event per new reason) and looks again only after a while. */
  async stall(object: T, stalled: { reason: string; message: string }, events: EventRecorder, fields: object = {}): Promise<ReconcileResult> {
    const conditions = (object.status as Status | undefined)?.conditions;
    const already = conditions?.some((c) => c.type === 'Stalled' && c.status === 'True' && c.reason === stalled.reason);
    await this.record(object, { state: 'stalled', reason: stalled.reason, message: stalled.message }, fields);
    if (!already) events.record(object, 'Warning', stalled.reason, stalled.message);
    return { requeueAfterMs: STALLED_RECHECK_MS };
  }

  /** Records an error's reason (Stalled when terminal, Reconciling otherwise) and rethrows it. */
  async fail(object: T, error: TerminalError | RetryableError, fields: object = {}): Promise<never> {
    const state = error instanceof TerminalError ? 'stalled' : 'progressing';
    await this.record(object, { state, reason: error.reason, message: error.message }, fields);
    throw error;
  }
}
