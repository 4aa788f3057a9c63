/**
 * Long-running operations the operator starts and never waits on (resources/observe.ts `startOperation`),
 * polled as Azure says, the way Azure Service Operator v2 does: the answer that starts an operation names
 * where to poll it (`Azure-AsyncOperation`, else `Location`) and how long to wait first (`Retry-After`);
 * a reconcile that finds the operation still running asks to be requeued after that wait instead of a fixed
 * one, and the next reconcile polls the operation's URL (whose answer carries the next Retry-After).
 * Nothing blocks a worker.
 *
 * ARM's contract (https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/async-operations):
 * "Azure-AsyncOperation - URL for checking the ongoing status of the operation. If your operation returns
 * this value, always use it (instead of Location) to track the status of the operation"; "Location - URL
 * for determining when an operation has completed. Use this value only when Azure-AsyncOperation isn't
 * returned"; "Retry-After - The number of seconds to wait before checking the status of the asynchronous
 * operation". The Azure-AsyncOperation URL answers 200 with `status` (Succeeded, Failed, Canceled are
 * terminal; anything else is running); the Location URL answers 202 while running, then the result.
 *
 * The record is in memory, per process: an operator restarted while an operation runs has none, and falls
 * back to observing the resource every `POLL_MS` (src/runtime/step.ts), as before.
 */
import { createPipelineRequest, type PipelinePolicy, type PipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';

export interface OperationStatus {
  running: boolean;
  /** When running: how long Azure asked to wait before the next poll (undefined: it did not say). */
  retryAfterMs?: number;
}

interface Tracked {
  url: string;
  protocol: 'azure-async' | 'location';
  /** No poll before this time (Date.now() ms): the last answer's Retry-After. */
  notBefore: number;
  retryAfterMs: number | undefined;
  started: number;
}

/** An operation not polled for this long is forgotten (its resource was never looked at again). */
const FORGET_AFTER_MS = 60 * 60_000;

const TERMINAL = new Set(['succeeded', 'failed', 'canceled', 'cancelled']);
const STARTS = new Set(['PUT', 'PATCH', 'POST', 'DELETE']);

/** Retry-After as milliseconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The resource an operation-starting request acts on: its path (a POST action's parent), lower-cased. */
export function operationTarget(request: Pick<PipelineRequest, 'url' | 'method'>): string {
  let path = new URL(request.url).pathname.replace(/\/+$/, '');
  if (request.method.toUpperCase() === 'POST') path = path.replace(/\/[^/]+$/, '');
  return path.toLowerCase();
}

const keyOf = (resourceId: string): string => resourceId.replace(/\/+$/, '').toLowerCase();

export class OperationPolls {
  private readonly ops = new Map<string, Tracked>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  /** How many operations are being followed. */
  get size(): number {
    return this.ops.size;
  }

  /** Records each answer that says an operation goes on (a pipeline policy, per call, after the retries). */
  policy(): PipelinePolicy {
    return {
      name: 'siteRecoveryOperationPolls',
      sendRequest: async (request, next) => {
        const response = await next(request);
        if (STARTS.has(request.method.toUpperCase())) this.record(operationTarget(request), response);
        return response;
      },
    };
  }

  /** Follows the operation `response` started on `resourceId`, if it says one runs on. */
  record(resourceId: string, response: PipelineResponse): void {
    const asyncUrl = response.headers.get('azure-asyncoperation');
    const location = response.status === 202 ? response.headers.get('location') : undefined;
    const url = asyncUrl ?? location;
    if (!url) return;
    const now = this.now();
    for (const [key, old] of this.ops) if (now - old.started > FORGET_AFTER_MS) this.ops.delete(key);
    const wait = retryAfterMs(response.headers.get('retry-after'), now);
    this.ops.set(keyOf(resourceId), { url, protocol: asyncUrl ? 'azure-async' : 'location', notBefore: now + (wait ?? 0), retryAfterMs: wait, started: now });
  }

  /**
   * The operation last started on `resourceId`: undefined when none is followed; running, with the wait
   * still to go, when its Retry-After has not passed (no request); else polled once through `send`.
   */
  async status(resourceId: string, send: (request: PipelineRequest) => Promise<PipelineResponse>): Promise<OperationStatus | undefined> {
    const key = keyOf(resourceId);
    const op = this.ops.get(key);
    if (!op) return undefined;
    const left = op.notBefore - this.now();
    if (left > 0) return { running: true, retryAfterMs: left };
    const response = await send(createPipelineRequest({ url: op.url, method: 'GET' }));
    if (!this.stillRunning(op, response)) {
      if (this.ops.get(key) === op) this.ops.delete(key);
      return { running: false };
    }
    const wait = retryAfterMs(response.headers.get('retry-after'), this.now()) ?? op.retryAfterMs;
    op.notBefore = this.now() + (wait ?? 0);
    return { running: true, ...(wait !== undefined ? { retryAfterMs: wait } : {}) };
  }

  /** Stops following `resourceId`'s operation (the resource is gone, or observed ready). */
  forget(resourceId: string): void {
    this.ops.delete(keyOf(resourceId));
  }

  private stillRunning(op: Tracked, response: PipelineResponse): boolean {
    if (response.status >= 400) return false; // the operation is unknown or failed: the resource's state says the rest
    if (op.protocol === 'location') return response.status === 202;
    const status = parseStatus(response.bodyAsText);
    return status !== undefined && !TERMINAL.has(status.toLowerCase());
  }
}

function parseStatus(body: string | null | undefined): string | undefined {
  try {
    const parsed = JSON.parse(body ?? '') as { status?: unknown };
    return typeof parsed.status === 'string' ? parsed.status : undefined;
  } catch {
    return undefined;
  }
}
