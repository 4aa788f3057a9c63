/**
 * When the source region counts as unavailable, and what a VM's status says about it (issue #14).
 *
 * The rule. Calls that only the source region answers are marked with `inSourceRegion`: restore point
 * creation, reads and removal on the source VM's collection and the grants of read access to its disk
 * restore points (ARM, RestorePoints), the reads of those SAS exports and the copies into the cache account
 * (capture), and the cache account itself (journal and fence; the cache lives in the source region). A
 * failure of such a call that says nobody answered — a 5xx, a timeout or a deadline, a reset or refused
 * connection (`classifyAzureError` retryable, without an HTTP answer or with a status of 500 and up or
 * 408) — starts a streak, or continues the current one. The streak ends when a capture succeeds, or when
 * a source-region call fails with an answer (404, 403, 400, a 409 conflict or a 429 throttle: the region
 * is up and says no, which is not an outage). The region counts as unavailable once the streak has lasted
 * half a recovery point interval (at most a minute), so one unlucky request after the SDK's retries does
 * not flip it; "since" is the start of the streak's first failed call.
 *
 * While it lasts, the ReplicatedVM carries the datapath-owned condition `SourceRegionUnavailable`
 * (status True, reason SourceRegionUnavailable, "source region <r> unreachable since <time>: <error>")
 * and `Replicating` False with the same reason; health follows the RPO thresholds of the policy (the RPO
 * keeps growing from the last sealed point), rather than turning Critical at once as for a failing
 * datapath: the alerts fire as the policy says. A failover refuses a Planned failover while the condition
 * is True (it cannot shut the source down and replicate the last changes). When captures succeed again the
 * condition turns False (reason SourceRegionAvailable); a VM that never had an outage does not carry it.
 */
import { SOURCE_REGION_UNAVAILABLE_CONDITION } from '../api/contract.ts';
import { classifyAzureError } from '../azure/errors.ts';
import { sourceCallStart, unanswered } from './source-call.ts';
import { findCondition, type ConditionInput } from '../runtime/conditions.ts';
import { errorMessage } from './errors.ts';
import * as metrics from './metrics.ts';
import type { VmContext } from './worker-context.ts';

/** A stage failed: a source-region call that nobody answered starts or continues the streak. */
export function noteSourceFailure(ctx: VmContext, error: unknown): void {
  const startedAt = sourceCallStart(error);
  if (startedAt === undefined) return;
  if (!unanswered(error)) {
    endStreak(ctx);
    return;
  }
  const c = classifyAzureError(error);
  const message = `${c.code ? `${c.code}: ` : ''}${c.message || errorMessage(error)}`.split('\n')[0] ?? '';
  ctx.sourceOutage ??= { since: startedAt, message, reported: false };
  ctx.sourceOutage.message = message;
}

/** A capture succeeded: the source region answers. */
export function noteSourceReachable(ctx: VmContext): void {
  endStreak(ctx);
}

function endStreak(ctx: VmContext): void {
  const outage = ctx.sourceOutage;
  ctx.sourceOutage = undefined;
  if (!outage?.reported) return;
  ctx.log.info('the source region answers again', { region: regionOf(ctx), since: new Date(outage.since).toISOString() });
  ctx.deps.events.record(ctx.vm, 'Normal', 'SourceRegionAvailable', `source region ${regionOf(ctx)} answers again (unreachable since ${new Date(outage.since).toISOString()})`);
}

function regionOf(ctx: VmContext): string {
  return ctx.vm.status?.sourceLocation ?? 'of the source VM';
}

/** How long a streak lasts before the region counts as unavailable: half an interval, at most a minute. */
function graceMs(ctx: VmContext): number {
  return Math.min(ctx.intervalMs / 2, 60_000);
}

/**
 * The outage as status reports it now (undefined: the region counts as available), the first report
 * logged and recorded as an event; the per-VM gauge follows.
 */
export function reportedOutage(ctx: VmContext, now = Date.now()): { since: number; message: string } | undefined {
  const outage = ctx.sourceOutage;
  const unavailable = outage !== undefined && now - outage.since >= graceMs(ctx);
  metrics.sourceRegionUnavailable.set(ctx.labels, unavailable ? 1 : 0);
  if (!outage || !unavailable) return undefined;
  if (!outage.reported) {
    outage.reported = true;
    const message = outageMessage(ctx, outage);
    ctx.log.warn('the source region is unavailable', { region: regionOf(ctx), detail: message });
    ctx.deps.events.record(ctx.vm, 'Warning', 'SourceRegionUnavailable', message.slice(0, 500));
  }
  return outage;
}

export function outageMessage(ctx: VmContext, outage: { since: number; message: string }): string {
  return `source region ${regionOf(ctx)} unreachable since ${new Date(outage.since).toISOString().replace(/\.\d{3}Z$/, 'Z')}: ${outage.message}`;
}

/**
 * The SourceRegionUnavailable condition to send: True during a reported outage, False once it is over
 * (only on a VM that already carries the condition), none otherwise.
 */
export function sourceRegionCondition(ctx: VmContext, outage: { since: number; message: string } | undefined): ConditionInput | undefined {
  if (outage) return { type: SOURCE_REGION_UNAVAILABLE_CONDITION, status: 'True', reason: 'SourceRegionUnavailable', message: outageMessage(ctx, outage) };
  if (!findCondition(ctx.vm.status?.conditions, SOURCE_REGION_UNAVAILABLE_CONDITION)) return undefined;
  return { type: SOURCE_REGION_UNAVAILABLE_CONDITION, status: 'False', reason: 'SourceRegionAvailable', message: `source region ${regionOf(ctx)} answers; captures succeed` };
}
