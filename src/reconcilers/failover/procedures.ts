/**
 * The procedures of a FailoverRequest, each readable top to bottom:
 *
 *   failover   Planned:   ShutdownSource, then FinalSync (the datapath captures and seals what is left:
 *                         no data loss);
 *              Latest:    FinalSync without shutting anything down (lowest RPO);
 *              then       SelectRecoveryPoint, CreateDisks (imported from the point's replica snapshots),
 *                         [ReplaceVirtualMachine, a failback only], CreateNetworkInterfaces (mapped subnet,
 *                         the source private IP when free, else the next free one), CreateVirtualMachine,
 *                         StartVirtualMachine; RTO recorded.
 *   re-protect (after commit) DeallocateSourceVirtualMachine, CreateReverseNetworkMapping,
 *                         CreateReverseReplicatedVM, WaitForReverseInitialSync.
 *   test cleanup           the VM, then its network interfaces, then their public IP addresses, then its disks.
 *
 * and which function runs each step (`steps/*.ts`).
 */
import type { FailoverRequest } from '../../api/types.ts';
import type { Step } from '../../runtime/step.ts';
import type { ProcedurePass } from './state.ts';
import type { FailoverStepName, ReprotectStepName, StepName } from './step-log.ts';
import { createDisks } from './steps/disks.ts';
import { createNetworkInterfaces } from './steps/network-interfaces.ts';
import { selectRecoveryPoint } from './steps/recovery-point.ts';
import { createReverseMapping, createReverseVm, deallocateSource, reverseInitialSync } from './steps/reprotect.ts';
import { finalSync, shutdownSource } from './steps/source.ts';
import { createVirtualMachine, replaceSeedVm, startTargetVm } from './steps/virtual-machine.ts';

export interface ProcedureOptions {
  /** A failback: the VM to create takes the place of the ReplicatedVM's seed (the original VM). */
  replacesVirtualMachine?: boolean;
}

/** The failover procedure for a request, in order. */
export function failoverStepsFor(spec: FailoverRequest['spec'], options: ProcedureOptions = {}): FailoverStepName[] {
  const real = spec.type !== 'Test';
  return [
    ...(spec.type === 'Planned' ? (['ShutdownSource'] as const) : []),
    ...(spec.type === 'Planned' || spec.recoveryPoint === 'Latest' ? (['FinalSync'] as const) : []),
    'SelectRecoveryPoint',
    'CreateDisks',
    ...(options.replacesVirtualMachine && real ? (['ReplaceVirtualMachine'] as const) : []),
    'CreateNetworkInterfaces',
    'CreateVirtualMachine',
    'StartVirtualMachine',
  ];
}

/** Re-protect, after commit: the original VM stops for good, then the VM replicates back, seeded from it. */
export const REPROTECT_STEPS: readonly ReprotectStepName[] = ['DeallocateSourceVirtualMachine', 'CreateReverseNetworkMapping', 'CreateReverseReplicatedVM', 'WaitForReverseInitialSync'];

/** Every step a request shows in status.steps: the failover, then re-protect when asked for. */
export function stepsFor(spec: FailoverRequest['spec'], options: ProcedureOptions = {}): StepName[] {
  return [...failoverStepsFor(spec, options), ...(spec.reprotect && spec.type !== 'Test' ? REPROTECT_STEPS : [])];
}

/** Test cleanup: what goes first (a VM holds its NICs and disks until it is gone, a NIC its public IP addresses). */
export const CLEANUP_ORDER = ['VirtualMachine', 'NetworkInterface', 'PublicIpAddress', 'Disk'] as const;

export const STEP_RUNNERS: { readonly [N in StepName]: (pass: ProcedurePass) => Promise<Step> } = {
  ShutdownSource: shutdownSource,
  FinalSync: finalSync,
  SelectRecoveryPoint: selectRecoveryPoint,
  CreateDisks: createDisks,
  ReplaceVirtualMachine: replaceSeedVm,
  CreateNetworkInterfaces: createNetworkInterfaces,
  CreateVirtualMachine: createVirtualMachine,
  StartVirtualMachine: startTargetVm,
  DeallocateSourceVirtualMachine: deallocateSource,
  CreateReverseNetworkMapping: createReverseMapping,
  CreateReverseReplicatedVM: createReverseVm,
  WaitForReverseInitialSync: reverseInitialSync,
};
