// The shared reconcile core: terminal errors are not retried, retryable ones back off, Azure errors map to
// one or the other, ignored updates enqueue nothing, and status ownership follows the API contract.
import { RestError } from '@azure/core-rest-pipeline';
import { describe, expect, it } from 'vitest';
import { ownsCondition, statusOwnedBy } from '../../src/api/contract.ts';
import { reconcileErrorFor } from '../../src/azure/errors.ts';
import type { CustomObject, CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { Controller, type Reconciler } from '../../src/runtime/controller.ts';
import type { Informer } from '../../src/runtime/informer.ts';
import { RetryableError, TerminalError } from '../../src/runtime/reconcile-errors.ts';
import { statusUnchanged } from '../../src/runtime/status-writer.ts';
import type { Condition } from '../../src/api/types.ts';

type Handler = (object: CustomObject) => void;

function fakeInformer(objects: CustomObject[]) {
  const handlers: Record<string, Handler[]> = { add: [], update: [], delete: [] };
  const informer = {
    on: (event: string, handler: Handler) => handlers[event]?.push(handler),
    list: () => objects,
  };
  return { informer: informer as unknown as Informer<CustomObject>, emit: (event: string, o: CustomObject) => handlers[event]?.forEach((h) => h(o)) };
}

const object = (name: string, generation = 1, observed?: number): CustomObject =>
  ({ apiVersion: 'siterecovery.io/v1alpha1', kind: 'ReplicatedVM', metadata: { name, namespace: 'ns', generation }, status: observed === undefined ? undefined : { observedGeneration: observed } }) as CustomObject;

/** Runs one controller with one worker until `until` holds; returns how often it reconciled. */
async function runController(reconcile: Reconciler<CustomObject>['reconcile'], until: (calls: number) => boolean, extra: { ignoreUpdate?: (o: CustomObject) => boolean } = {}) {
  const vm = object('a');
  const { informer, emit } = fakeInformer([vm]);
  const client = { get: async () => vm } as unknown as CustomResourceClient<CustomObject>;
  let calls = 0;
  let resolveDone: () => void = () => {};
  const finished = new Promise<void>((resolve) => (resolveDone = resolve));
  const controller = new Controller<CustomObject>({
    kind: 'ReplicatedVM',
    client,
    informer,
    events: { record: () => {} },
    workers: 1,
    backoff: { baseDelayMs: 5, maxDelayMs: 10, jitter: 0 },
    resyncMs: 60_000,
    reconciler: {
      reconcile: async (o, ctx) => {
        calls++;
        if (until(calls)) resolveDone();
        return reconcile(o, ctx);
      },
    },
    ...extra,
  });
  const stop = new AbortController();
  const running = controller.start(stop.signal);
  return { controller, emit, vm, finished, stop: async () => (stop.abort(), await running), calls: () => calls };
}

describe('Controller', () => {
  it('does not retry a terminal error: the key waits for the resync', async () => {
    const run = await runController(async () => {
      throw new TerminalError('AzureRequestRejected', 'bad request');
    }, (n) => n >= 1);
    await run.finished;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(run.calls()).toBe(1);
    expect(run.controller.queue.failureCount('ns/a')).toBe(0);
    await run.stop();
  });

  it('retries a retryable error with backoff until it succeeds', async () => {
    const run = await runController(async () => {
      throw new RetryableError('AzureRetrying', 'throttled');
    }, (n) => n >= 3);
    await run.finished;
    expect(run.calls()).toBeGreaterThanOrEqual(3);
    await run.stop();
  });

  it('skips updates its predicate ignores, and takes the others', async () => {
    const run = await runController(async () => undefined, () => true, { ignoreUpdate: (o) => o.metadata.generation === 1 });
    await run.finished;
    const before = run.controller.queue.length;
    run.emit('update', object('a', 1, 1));
    expect(run.controller.queue.length).toBe(before);
    run.emit('update', object('b', 2, 1));
    expect(run.controller.queue.length).toBe(before + 1);
    await run.stop();
  });
});

describe('reconcileErrorFor', () => {
  it('makes a request Azure refuses terminal, and throttling or server errors retryable', () => {
    const refused = reconcileErrorFor(new RestError('bad', { statusCode: 400, code: 'InvalidParameter' }), 'creating');
    expect(refused).toBeInstanceOf(TerminalError);
    expect(refused).toMatchObject({ reason: 'AzureRequestRejected' });
    expect(refused.message).toContain('creating: InvalidParameter');
    expect(reconcileErrorFor(new RestError('slow down', { statusCode: 429 }), 'x')).toMatchObject({ reason: 'AzureRetrying' });
    expect(reconcileErrorFor(new RestError('oops', { statusCode: 503 }), 'x')).toBeInstanceOf(RetryableError);
    expect(reconcileErrorFor(new Error('odd'), 'x')).toMatchObject({ reason: 'AzureError' });
    const terminal = new TerminalError('Mine', 'kept');
    expect(reconcileErrorFor(terminal, 'x')).toBe(terminal);
  });
});

describe('status ownership', () => {
  const status: { phase: string; rpoSeconds: number; lastRecoveryPoint: { name: string }; conditions: Condition[] } = {
    phase: 'Protected',
    rpoSeconds: 12,
    lastRecoveryPoint: { name: 'p' },
    conditions: [
      { type: 'Ready', status: 'True', reason: 'Protected', message: '', lastTransitionTime: 't' },
      { type: 'Replicating', status: 'True', reason: 'Cycle', message: '', lastTransitionTime: 't' },
      { type: 'SomethingNew', status: 'True', reason: 'X', message: '', lastTransitionTime: 't' },
    ],
  };

  it("splits a status into the operator's and the datapath's parts; a new condition type is not dropped", () => {
    expect(statusOwnedBy('operator', status)).toEqual({ phase: 'Protected', conditions: [status.conditions[0], status.conditions[2]] });
    expect(statusOwnedBy('datapath', status)).toEqual({ rpoSeconds: 12, lastRecoveryPoint: { name: 'p' }, conditions: [status.conditions[1]] });
    expect(ownsCondition('operator', 'SomethingNew')).toBe(true);
    expect(ownsCondition('operator', 'SourceRegionUnavailable')).toBe(false); // the datapath's (source-region.ts)
    expect(ownsCondition('operator', 'Replicating')).toBe(false);
  });

  it("sees no change when only another writer's part differs", () => {
    const mine = statusOwnedBy('operator', status);
    const [ready, replicating, other] = status.conditions as [Condition, Condition, Condition];
    const changedByDatapath = { ...status, rpoSeconds: 99, conditions: [ready, { ...replicating, reason: 'Other' }, other] };
    expect(statusUnchanged(changedByDatapath, mine)).toBe(true);
    expect(statusUnchanged(status, { ...mine, phase: 'Error' })).toBe(false);
  });
});
