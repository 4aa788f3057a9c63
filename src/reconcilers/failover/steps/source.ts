/**
 * The steps that deal with the source VM before anything is created in the target region:
 * ShutdownSource (Planned: the source is powered off, so no write is lost) and FinalSync (the datapath
 * is asked, through an annotation, to capture and seal what is left, and its answer is awaited). A Test
 * never runs them: it never touches the source or replication.
 */
import { SYNC_NOW_ANNOTATION } from '../../../api/contract.ts';
import { powerState, startPowerOff } from '../../../azure/failover-resources.ts';
import { done, stalled, waiting, type Step } from '../../../runtime/step.ts';
import type { ProcedurePass } from '../state.ts';

export async function shutdownSource({ deps, fo, vm }: ProcedurePass): Promise<Step> {
  const state = await powerState(deps.az, vm.spec.sourceVirtualMachineId);
  if (state === 'stopped' || state === 'deallocated') return done(`source VM is ${state}`);
  if (fo.spec.shutdownSource === false) {
    return stalled('SourceStillRunning', 'shutdownSource is false but the source VM is running: stop it first, or a planned failover could lose writes');
  }
  if (state !== 'stopping') await startPowerOff(deps.az, vm.spec.sourceVirtualMachineId);
  return waiting('PoweringOffSource', 'powering off the source VM');
}

/** Asks the datapath to capture and seal now (annotation), and waits for its answer. */
export async function finalSync({ deps, fo, vm, namespace }: ProcedurePass): Promise<Step> {
  const token = fo.metadata.uid ?? fo.metadata.name ?? '';
  if (vm.metadata.annotations?.[SYNC_NOW_ANNOTATION] !== token) {
    await deps.vms.mergePatch({ namespace, name: vm.metadata.name ?? '' }, { metadata: { annotations: { [SYNC_NOW_ANNOTATION]: token } } });
    return waiting('FinalSync', 'asked the datapath to capture and seal the final changes');
  }
  const answer = vm.status?.replication?.syncNow;
  if (answer?.token !== token || answer.state === 'Running') return waiting('FinalSync', answer?.message ?? 'waiting for the datapath to seal the final recovery point');
  if (answer.state === 'Failed') {
    if (fo.spec.type === 'Unplanned') return done(`final sync impossible (${answer.message ?? 'source unreachable'}); using the latest processed point`);
    return stalled('FinalSyncFailed', `the datapath could not seal the final changes: ${answer.message ?? 'no reason given'}`);
  }
  return done(`sealed ${answer.recoveryPointName}`);
}
