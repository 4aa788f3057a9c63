/** The step list of a FailoverRequest (status.steps): which steps a request takes and their progress. */
import type { FailoverRequest, FailoverStep } from '../api/types.ts';

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

/** Re-protect, after commit: the original VM stops for good, then the VM replicates back, seeded from it. */
export const REPROTECT_STEPS: readonly ReprotectStepName[] = ['DeallocateSourceVirtualMachine', 'CreateReverseNetworkMapping', 'CreateReverseReplicatedVM', 'WaitForReverseInitialSync'];

export interface StepOptions {
  /** A failback: the VM to create takes the place of the ReplicatedVM's seed (the original VM). */
  replacesVirtualMachine?: boolean;
}

/** The failover procedure for a request, in order. */
export function failoverStepsFor(spec: FailoverRequest['spec'], options: StepOptions = {}): FailoverStepName[] {
  const steps: FailoverStepName[] = [];
  if (spec.type === 'Planned') steps.push('ShutdownSource');
  if (spec.type === 'Planned' || spec.recoveryPoint === 'Latest') steps.push('FinalSync');
  steps.push('SelectRecoveryPoint', 'CreateDisks');
  if (options.replacesVirtualMachine && spec.type !== 'Test') steps.push('ReplaceVirtualMachine');
  steps.push('CreateNetworkInterfaces', 'CreateVirtualMachine', 'StartVirtualMachine');
  return steps;
}

/** Every step a request shows in status.steps: the failover, then re-protect when asked for. */
export function stepsFor(spec: FailoverRequest['spec'], options: StepOptions = {}): StepName[] {
  return [...failoverStepsFor(spec, options), ...(spec.reprotect && spec.type !== 'Test' ? REPROTECT_STEPS : [])];
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

  /** The first step not yet done (of `among`, if given), if any. */
  next<T extends StepName>(among?: readonly T[]): T | undefined {
    return this.steps.find((s) => s.state !== 'Succeeded' && s.state !== 'Skipped' && (!among || among.includes(s.name as T)))?.name as T | undefined;
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
