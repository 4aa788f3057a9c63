/**
 * Conditions in the Kubernetes API conventions, as kstatus, Argo CD and Flux read them: a list keyed by
 * type whose lastTransitionTime changes only when the status flips.
 */
import type { Condition } from '../api/types.ts';

export type ConditionStatus = Condition['status'];

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message?: string;
}

/** Returns a new list with `input` set; keeps lastTransitionTime when the status did not change. */
export function setCondition(conditions: readonly Condition[] | undefined, input: ConditionInput, generation: number | undefined, now: Date = new Date()): Condition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === input.type);
  const previous = index >= 0 ? list[index] : undefined;
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: input.message ?? '',
    lastTransitionTime: previous && previous.status === input.status ? previous.lastTransitionTime : now.toISOString(),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

export function findCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return findCondition(conditions, type)?.status === 'True';
}

/**
 * The kstatus triple for a long-lived object, from what the reconciler concluded:
 * - ready: Ready=True, Reconciling and Stalled removed;
 * - progressing: Ready=False, Reconciling=True (with the same reason);
 * - stalled: Ready=False, Stalled=True (a person must act), Reconciling removed.
 */
export type Readiness =
  | { state: 'ready'; reason: string; message?: string }
  | { state: 'progressing'; reason: string; message?: string }
  | { state: 'stalled'; reason: string; message?: string };

export function applyReadiness(conditions: readonly Condition[] | undefined, readiness: Readiness, generation: number | undefined, now: Date = new Date()): Condition[] {
  const { reason, message } = readiness;
  let list = [...(conditions ?? [])];
  switch (readiness.state) {
    case 'ready':
      list = setCondition(list, { type: 'Ready', status: 'True', reason, message }, generation, now);
      list = removeCondition(removeCondition(list, 'Reconciling'), 'Stalled');
      break;
    case 'progressing':
      list = setCondition(list, { type: 'Ready', status: 'False', reason, message }, generation, now);
      list = setCondition(list, { type: 'Reconciling', status: 'True', reason, message }, generation, now);
      list = removeCondition(list, 'Stalled');
      break;
    case 'stalled':
      list = setCondition(list, { type: 'Ready', status: 'False', reason, message }, generation, now);
      list = setCondition(list, { type: 'Stalled', status: 'True', reason, message }, generation, now);
      list = removeCondition(list, 'Reconciling');
      break;
  }
  return list;
}
