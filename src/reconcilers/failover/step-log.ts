/**
 * status.steps of a FailoverRequest: the names of the steps a request can take, and the log of their
 * progress (state, start and completion times, message) that the engine keeps and that a restarted
 * operator resumes from.
 */
import type { FailoverStep } from '../../api/types.ts';

export type FailoverStepName =
  | 'ShutdownSource'
  | 'FinalSync'
  | 'SelectRecoveryPoint'
  | 'CreateDisks'
  | 'ReplaceVirtualMachine'
  | 'CreateNetworkInterfaces'
  | 'CreateVirtualMachine'
  | 'StartVirtualMachine';

export type ReprotectStepName = 'DeallocateSourceVirtualMachine' | 'CreateReverseNetworkMapping' | 'CreateReverseReplicatedVM' | 'WaitForReverseInitialSync';

export type StepName = FailoverStepName | ReprotectStepName;

export class StepLog {
  private readonly steps: FailoverStep[];

  /** The log of the steps `names`, carrying over what `existing` (status.steps) recorded of each. */
  constructor(names: readonly StepName[], existing: readonly FailoverStep[] | undefined) {
    this.steps = names.map((name) => ({ ...(existing?.find((s) => s.name === name) ?? { name, state: 'Pending' as const }) }));
  }

  get(name: StepName): FailoverStep {
    return this.steps.find((s) => s.name === name) as FailoverStep;
  }

  has(name: StepName): boolean {
    return this.steps.some((s) => s.name === name);
  }

  /** The first step not yet done (of `among`, if given), if any. */
  next<T extends StepName>(among?: readonly T[]): T | undefined {
    return this.steps.find((s) => s.state !== 'Succeeded' && s.state !== 'Skipped' && (!among || among.includes(s.name as T)))?.name as T | undefined;
  }

  /** The step under way, if any. */
  current(): FailoverStep | undefined {
    return this.steps.find((s) => s.state === 'Running');
  }

  running(name: StepName, message: string | undefined, now = new Date()): void {
    const step = this.get(name);
    step.state = 'Running';
    step.startTime ??= now.toISOString();
    if (message !== undefined) step.message = message;
  }

  succeeded(name: StepName, message: string | undefined, now = new Date()): void {
    this.end(name, 'Succeeded', message, now);
  }

  failed(name: StepName, message: string, now = new Date()): void {
    this.end(name, 'Failed', message, now);
  }

  list(): FailoverStep[] {
    return this.steps.map((s) => ({ ...s }));
  }

  private end(name: StepName, state: 'Succeeded' | 'Failed', message: string | undefined, now: Date): void {
    const step = this.get(name);
    step.startTime ??= now.toISOString();
    step.state = state;
    step.completionTime = now.toISOString();
    if (message !== undefined) step.message = message;
  }
}
