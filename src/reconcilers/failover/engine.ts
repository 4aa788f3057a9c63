/**
 * The step engine of a FailoverRequest: runs the not-done steps of a procedure in order, on one pass.
 *
 * Each step answers with the operator's one step result (`src/runtime/step.ts`):
 * - done:    the step is recorded Succeeded (with its message, times) and the next one runs;
 * - waiting: the step is recorded Running with the message, and the pass ends (requeue after the wait);
 * - stalled: the step is recorded Failed and the pass ends; the caller fails the request (or re-protect)
 *            with that reason.
 * A step may also throw: a TerminalError (a refusal of its own) or an Azure refusal (classified fatal,
 * reason AzureRequestRejected) stalls it; any other error is transient: the step is recorded Running,
 * "retrying after: …", and the error is rethrown so the work queue retries with backoff (a missing Azure role
 * action, 403 AuthorizationFailed, also becomes the Reconciling reason, naming the step and the action).
 *
 * Every step is idempotent, so resuming from status.steps after a restart runs the unfinished one again.
 */
import { classifyAzureError, reconcileErrorFor } from '../../azure/errors.ts';
import type { ConditionInput, Readiness } from '../../runtime/conditions.ts';
import { TerminalError } from '../../runtime/reconcile-errors.ts';
import { done, stalled, type Step } from '../../runtime/step.ts';
import { STEP_RUNNERS } from './procedures.ts';
import type { ProcedurePass } from './state.ts';
import type { StepName } from './step-log.ts';

/** A further condition to write with each step's progress (re-protect reports in Reprotected). */
export type ProgressCondition = (message: string) => ConditionInput | undefined;

export async function runProcedure(pass: ProcedurePass, procedure: readonly StepName[], progress: ProgressCondition = () => undefined): Promise<Step> {
  const save = (message: string, readiness?: Readiness) => {
    const condition = progress(message);
    return condition ? pass.save(readiness, condition) : pass.save(readiness);
  };
  for (let name = pass.steps.next(procedure); name; name = pass.steps.next(procedure)) {
    let outcome: Step;
    try {
      outcome = await STEP_RUNNERS[name](pass);
    } catch (error) {
      const reconcileError = reconcileErrorFor(error, name);
      if (!(reconcileError instanceof TerminalError)) {
        const retrying = `retrying after: ${classifyAzureError(error).message}`;
        pass.steps.running(name, retrying);
        // A missing role action is named in the reason, not only in the step's message (docs/security.md).
        const denied = reconcileError.reason === 'AuthorizationFailed' ? { state: 'progressing' as const, reason: reconcileError.reason, message: `${name}: ${retrying}` } : undefined;
        await save(`${name}: ${retrying}`, denied);
        throw error;
      }
      outcome = stalled(reconcileError.reason, reconcileError.message);
    }
    if (outcome.state === 'stalled') {
      pass.steps.failed(name, outcome.message);
      return outcome;
    }
    if (outcome.state === 'waiting') {
      pass.steps.running(name, outcome.message);
      await save(`${name}: ${outcome.message}`);
      return outcome;
    }
    pass.steps.succeeded(name, outcome.message);
    await save(`${name}: ${outcome.message ?? 'done'}`);
  }
  return done();
}
