/** The step list of a FailoverRequest (status.steps): which steps a request takes and their progress. */
import type { FailoverRequest, FailoverStep } from '../api/types.ts';

export type StepName =
  | 'ShutdownSource'
  | 'FinalSync'
  | 'SelectRecoveryPoint'
  | 'CreateDisks'
  | 'CreateNetworkInterfaces'
  | 'CreateVirtualMachine'
  | 'StartVirtualMachine';

/** The procedure for a request, in order. */
export function stepsFor(spec: FailoverRequest['spec']): StepName[] {
  const steps: StepName[] = [];
  if (spec.type === 'Planned') steps.push('ShutdownSource');
  if (spec.type === 'Planned' || spec.recoveryPoint === 'Latest') steps.push('FinalSync');
  steps.push('SelectRecoveryPoint', 'CreateDisks', 'CreateNetworkInterfaces', 'CreateVirtualMachine', 'StartVirtualMachine');
  return steps;
}

export class StepLog {
  private readonly steps: FailoverStep[];

  constructor(names: StepName[], existing: readonly FailoverStep[] | undefined) {
    this.steps = names.map((name) => existing?.find((s) => s.name === name) ?? { name, state: 'Pending' });
  }

  get(name: StepName): FailoverStep {
    return this.steps.find((s) => s.name === name) as FailoverStep;
  }

  isDone(name: StepName): boolean {
    const state = this.get(name).state;
    return state === 'Succeeded' || state === 'Skipped';
  }

  /** The first step not yet done, if any. */
  next(): StepName | undefined {
    return this.steps.find((s) => s.state !== 'Succeeded' && s.state !== 'Skipped')?.name as StepName | undefined;
  }

  running(name: StepName, message: string | undefined, now = new Date()): void {
    const step = this.get(name);
    step.state = 'Running';
    step.startTime ??= now.toISOString();
    if (message !== undefined) step.message = message;
  }

  succeeded(name: StepName, message: string | undefined, now = new Date()): void {
    const step = this.get(name);
    step.startTime ??= now.toISOString();
    step.state = 'Succeeded';
    step.completionTime = now.toISOString();
    if (message !== undefined) step.message = message;
  }

  failed(name: StepName, message: string, now = new Date()): void {
    const step = this.get(name);
    step.startTime ??= now.toISOString();
    step.state = 'Failed';
    step.completionTime = now.toISOString();
    step.message = message;
  }

  list(): FailoverStep[] {
    return this.steps.map((s) => ({ ...s }));
  }
}
