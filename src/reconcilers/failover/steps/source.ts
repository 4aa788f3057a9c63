/**
 * The steps that deal with the source VM before anything is created in the target region:
 * ShutdownSource (Planned: the source is powered off, so no write is lost) and FinalSync (the datapath
 * is asked, through an annotation, to capture and seal what is left, and its answer is awaited). A Test
 * never runs them: it never touches the source or replication.
 *
 * The source region may be down — that is what failover is for — so neither step may hang on it:
 * - every call into the source region has its own short deadline (`--source-probe-timeout`). A region
 *   that does not answer (5xx, a dropped connection, a timeout; not a refusal, a 404 or throttling) fails
 *   a Planned failover at once with SourceRegionUnavailable: it needs the source to shut down and
 *   replicate its last changes, so the person is told to use an Unplanned failover instead;
 * - FinalSync waits for the datapath's answer for a bounded time from the step's start
 *   (spec.finalSyncTimeout, else `--final-sync-timeout`). After it, or on a Failed answer, an Unplanned
 *   failover goes on from the newest sealed point (SelectRecoveryPoint records which and why); a Planned
 *   one fails (FinalSyncTimedOut, FinalSyncFailed): it promised no data loss, so it never falls back.
 */
import { SOURCE_REGION_UNAVAILABLE_CONDITION, SYNC_NOW_ANNOTATION } from '../../../api/contract.ts';
import { classifyAzureError, isAzureNotFound } from '../../../azure/errors.ts';
import { powerState, startPowerOff, type CallOptions } from '../../../azure/failover-resources.ts';
import { done, POLL_MS, stalled, waiting, type Step } from '../../../runtime/step.ts';
import { formatDuration, parseDuration } from '../../../util/duration.ts';
import type { FailoverPass, ProcedurePass } from '../state.ts';

/** The condition type (and the refusal's reason) of a source region that does not answer: src/api/contract.ts. */
export const SOURCE_REGION_UNAVAILABLE = SOURCE_REGION_UNAVAILABLE_CONDITION;

export const PLANNED_NEEDS_SOURCE = 'a planned failover needs the source VM to shut down and replicate its last changes: use an Unplanned failover';

/** The options of one call into the source region: its own deadline, the SDK's retries included. */
export function sourceCall({ deps }: FailoverPass): CallOptions {
  return { abortSignal: AbortSignal.timeout(deps.options.sourceProbeTimeoutMs) };
}

/**
 * What an error of a call into the source region says about the region: undefined when it answered (a
 * refusal, a 404, throttling: the caller handles those), else why it did not (5xx, 408, a dropped
 * connection, the call's deadline).
 */
export function sourceRegionSilence({ deps }: FailoverPass, error: unknown): string | undefined {
  const c = classifyAzureError(error);
  if (c.class !== 'retryable' || (c.statusCode !== undefined && c.statusCode < 500 && c.statusCode !== 408)) return undefined;
  if (c.code === 'AbortError' || c.code === 'TimeoutError') return `no answer within ${formatDuration(deps.options.sourceProbeTimeoutMs)}`;
  return [c.statusCode, c.code].filter(Boolean).join(' ') + (c.message ? `: ${c.message}` : '');
}

export async function shutdownSource(pass: ProcedurePass): Promise<Step> {
  const { deps, fo, vm } = pass;
  const sourceId = vm.spec.sourceVirtualMachineId;
  try {
    const state = await powerState(deps.az, sourceId, sourceCall(pass));
    if (state === 'stopped' || state === 'deallocated') return done(`source VM is ${state}`);
    if (fo.spec.shutdownSource === false) {
      return stalled('SourceStillRunning', 'shutdownSource is false but the source VM is running: stop it first, or a planned failover could lose writes');
    }
    if (state !== 'stopping') await startPowerOff(deps.az, sourceId, sourceCall(pass));
    return waiting('PoweringOffSource', 'powering off the source VM');
  } catch (error) {
    if (isAzureNotFound(error)) return stalled('SourceVirtualMachineNotFound', `the source VM ${sourceId} does not exist: ${PLANNED_NEEDS_SOURCE}`);
    const silence = sourceRegionSilence(pass, error);
    if (silence) return stalled(SOURCE_REGION_UNAVAILABLE, `the source region does not answer (${silence}): ${PLANNED_NEEDS_SOURCE}`);
    throw error;
  }
}

/** How long FinalSync waits for the datapath: spec.finalSyncTimeout, else the operator's setting. */
function finalSyncTimeoutMs({ deps, fo }: FailoverPass): number {
  return fo.spec.finalSyncTimeout ? parseDuration(fo.spec.finalSyncTimeout) : deps.options.finalSyncTimeoutMs;
}

/** The datapath's answer to this request's sync-now, if it answered this request. */
function syncAnswer({ fo, vm }: ProcedurePass) {
  const answer = vm.status?.replication?.syncNow;
  return answer && answer.token === (fo.metadata.uid ?? fo.metadata.name) ? answer : undefined;
}

/**
 * Why the final sync of this request sealed no point — its Failed answer, or its deadline passed — or
 * undefined while it may still.
 */
export function finalSyncShortfall(pass: ProcedurePass, now = Date.now()): string | undefined {
  const answer = syncAnswer(pass);
  if (answer?.state === 'Succeeded') return undefined;
  if (answer?.state === 'Failed') return `final sync failed (${answer.message ?? 'no reason given'})`;
  const limit = finalSyncTimeoutMs(pass);
  const started = Date.parse(pass.steps.get('FinalSync').startTime ?? '');
  if (Number.isNaN(started) || now < started + limit) return undefined;
  return `final sync did not finish within ${formatDuration(limit)} (source region unreachable?)`;
}

/** Asks the datapath to capture and seal now (annotation), and waits for its answer, for a bounded time. */
export async function finalSync(pass: ProcedurePass): Promise<Step> {
  const { deps, fo, vm, namespace } = pass;
  const token = fo.metadata.uid ?? fo.metadata.name ?? '';
  if (vm.metadata.annotations?.[SYNC_NOW_ANNOTATION] !== token) {
    await deps.vms.mergePatch({ namespace, name: vm.metadata.name ?? '' }, { metadata: { annotations: { [SYNC_NOW_ANNOTATION]: token } } });
    return waiting('FinalSync', 'asked the datapath to capture and seal the final changes');
  }
  const answer = syncAnswer(pass);
  if (answer?.state === 'Succeeded') return done(`sealed ${answer.recoveryPointName}`);
  const now = Date.now();
  const shortfall = finalSyncShortfall(pass, now);
  if (!shortfall) {
    const limit = finalSyncTimeoutMs(pass);
    const left = Date.parse(pass.steps.get('FinalSync').startTime ?? new Date(now).toISOString()) + limit - now;
    return waiting('FinalSync', `${answer?.message ?? 'waiting for the datapath to seal the final recovery point'} (for at most ${formatDuration(limit)})`, Math.max(100, Math.min(left, POLL_MS)));
  }
  if (fo.spec.type === 'Unplanned') return done(`${shortfall}; using the newest sealed point`);
  const reason = answer?.state === 'Failed' ? 'FinalSyncFailed' : 'FinalSyncTimedOut';
  return stalled(reason, `${shortfall}: a planned failover never falls back to an older point; retry when the datapath can reach the source, or use an Unplanned failover`);
}
