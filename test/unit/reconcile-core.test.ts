// The shared reconcile core: terminal errors are not retried, retryable ones back off, Azure errors map to
// one or the other, ignored updates enqueue nothing (status-only ones: predicates.ts), the object is read
// from the cache once it is confirmed, and status ownership follows the API contract.
import { RestError } from '@azure/core-rest-pipeline';
import { describe, expect, it, vi } from 'vitest';
import { ownsCondition, statusOwnedBy } from '../../src/api/contract.ts';
import { reconcileErrorFor } from '../../src/azure/errors.ts';
import type { CustomObject, CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { Controller, type Reconciler } from '../../src/runtime/controller.ts';
import type { Informer } from '../../src/runtime/informer.ts';
import { RetryableError, TerminalError } from '../../src/runtime/reconcile-errors.ts';
import { statusUnchanged } from '../../src/runtime/status-writer.ts';
import type { Condition, ReplicatedVM, ReplicatedVMStatus } from '../../src/api/types.ts';
import { datapathStatusOnly, onlyStatusChanged, usersSeeNoChange } from '../../src/controllers/predicates.ts';

type Handler = (object: CustomObject, previous?: CustomObject) => void;

/** An informer whose cache holds `objects`; `emit` reports an event (and updates the cache). */
function fakeInformer(objects: CustomObject[]) {
  const handlers: Record<string, Handler[]> = { add: [], update: [], delete: [] };
  const informer = {
    on: (event: string, handler: Handler) => handlers[event]?.push(handler),
    list: () => objects,
    get: (name: string) => objects.find((o) => o.metadata.name === name),
  };
  const emit = (event: string, o: CustomObject, previous?: CustomObject) => {
    const at = objects.findIndex((x) => x.metadata.name === o.metadata.name);
    if (at >= 0) objects.splice(at, 1);
    if (event !== 'delete') objects.push(o);
    handlers[event]?.forEach((h) => h(o, previous));
  };
  return { informer: informer as unknown as Informer<CustomObject>, emit };
}

const object = (name: string, generation = 1, observed?: number): CustomObject =>
  ({ apiVersion: 'siterecovery.io/v1alpha1', kind: 'ReplicatedVM', metadata: { name, namespace: 'ns', generation }, status: observed === undefined ? undefined : { observedGeneration: observed } }) as CustomObject;

/** Runs one controller with one worker until `until` holds; returns how often it reconciled. */
async function runController(reconcile: Reconciler<CustomObject>['reconcile'], until: (calls: number) => boolean, extra: { ignoreUpdate?: (o: CustomObject) => boolean } = {}) {
  const vm = object('a');
  const { informer, emit } = fakeInformer([vm]);
  let gets = 0;
  const client = { get: async () => (gets++, vm) } as unknown as CustomResourceClient<CustomObject>;
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
  return { controller, emit, vm, finished, stop: async () => (stop.abort(), await running), calls: () => calls, gets: () => gets };
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

  it('reads the object from the cache, and from the API server until the cache has reported it since the last reconcile', async () => {
    const seen: Array<number | undefined> = [];
    let next: () => void = () => {};
    const run = await runController(async (o) => {
      seen.push(o.metadata.generation);
      next();
      o.metadata.labels = { touched: 'yes' }; // a reconciler may change the object it gets: never the cache's
    }, () => true);
    await run.finished;
    expect(run.gets()).toBe(0); // the first pass: from the cache
    const settled = () => new Promise((resolve) => setImmediate(resolve)); // the pass's bookkeeping after reconcile()
    await settled();
    const again = () => new Promise<void>((resolve) => ((next = resolve), run.controller.enqueue('ns/a')));
    await again();
    await settled();
    expect(run.gets()).toBe(1); // nothing reported since the last pass (which may have written): the API server
    run.emit('add', object('a', 2));
    await new Promise<void>((resolve) => (next = resolve));
    expect(run.gets()).toBe(1); // reported since: the cache
    expect(seen).toEqual([1, 1, 2]);
    expect(run.controller.queue.length).toBe(0);
    await run.stop();
  });

  it('enqueues for a related object unless its predicate ignores the update', async () => {
    const run = await runController(async () => undefined, () => true);
    await run.finished;
    const related = fakeInformer([]);
    run.controller.watchRelated(related.informer, () => ['ns/a'], (o, previous) => previous !== undefined && o.metadata.generation === previous.metadata.generation);
    const added = vi.spyOn(run.controller.queue, 'add');
    related.emit('update', object('p', 1, 1), object('p', 1));
    expect(added).not.toHaveBeenCalled();
    related.emit('update', object('p', 2, 1), object('p', 1));
    expect(added).toHaveBeenCalledWith('ns/a');
    await run.stop();
  });
});

describe('update predicates', () => {
  const vm = (status: Partial<ReplicatedVMStatus>, metadata: Partial<ReplicatedVM['metadata']> = {}): ReplicatedVM =>
    ({ apiVersion: 'siterecovery.io/v1alpha1', kind: 'ReplicatedVM', metadata: { name: 'a', namespace: 'ns', generation: 1, ...metadata }, spec: {}, status: { observedGeneration: 1, phase: 'Protected', ...status } }) as ReplicatedVM;
  const point = (n: number) => ({ name: `a-${n}`, time: new Date(n * 60_000).toISOString(), consistency: 'CrashConsistent' as const });

  it("ignores the datapath's status writes: a new point, backlog, health", () => {
    const before = vm({ lastRecoveryPoint: point(1), health: 'Normal', replication: { owner: 'dp', cycle: 1, pendingCycles: 0 } });
    const after = vm({ lastRecoveryPoint: point(2), health: 'Warning', replication: { owner: 'dp', cycle: 2, pendingCycles: 1 } }, { resourceVersion: '9' });
    expect(datapathStatusOnly(after, before)).toBe(true);
    expect(onlyStatusChanged(after, before)).toBe(true);
  });

  it('takes the milestones the reconciler reads, spec, deletion, metadata a person sets, and the operator\'s own status', () => {
    const syncing = vm({ phase: 'InitialSync', initialSync: { percent: 50, startTime: 't' } });
    expect(datapathStatusOnly(vm({ phase: 'InitialSync', lastRecoveryPoint: point(1), initialSync: { percent: 50, startTime: 't' } }), syncing)).toBe(false);
    expect(datapathStatusOnly(vm({ phase: 'InitialSync', initialSync: { percent: 100, startTime: 't', completionTime: 'u' } }), syncing)).toBe(false);
    const base = vm({ lastRecoveryPoint: point(1) });
    expect(datapathStatusOnly(vm({ lastRecoveryPoint: point(1) }, { generation: 2 }), base)).toBe(false);
    expect(datapathStatusOnly(vm({ lastRecoveryPoint: point(1) }, { deletionTimestamp: new Date() }), base)).toBe(false);
    expect(datapathStatusOnly(vm({ lastRecoveryPoint: point(1) }, { annotations: { poke: '1' } }), base)).toBe(false);
    expect(datapathStatusOnly(vm({ lastRecoveryPoint: point(1), phase: 'Error' }), base)).toBe(false);
    expect(datapathStatusOnly(base, undefined)).toBe(false); // not seen before: take it
    expect(onlyStatusChanged(base, undefined)).toBe(false);
  });

  it("requeues a policy's or mapping's VMs only for what they read of it: spec, Ready, the target network — not its count of users", () => {
    const ready = (status: 'True' | 'False'): Condition => ({ type: 'Ready', status, reason: 'R', message: '', lastTransitionTime: 't' });
    const mapping = (status: object, metadata: object = {}) => ({ metadata: { name: 'net', namespace: 'ns', generation: 1, ...metadata }, spec: {}, status: { conditions: [ready('True')], targetVirtualNetworkId: 'vnet-a', ...status } }) as CustomObject & { status: object };
    const before = mapping({ replicatedVMCount: 1 });
    expect(usersSeeNoChange(mapping({ replicatedVMCount: 2 }), before)).toBe(true);
    expect(usersSeeNoChange(mapping({ conditions: [ready('False')] }), before)).toBe(false);
    expect(usersSeeNoChange(mapping({ targetVirtualNetworkId: 'vnet-b' }), before)).toBe(false);
    expect(usersSeeNoChange(mapping({}, { generation: 2 }), before)).toBe(false);
    expect(usersSeeNoChange(before, undefined)).toBe(false);
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
  const status: { phase: string; health: string; lastRecoveryPoint: { name: string }; conditions: Condition[] } = {
    phase: 'Protected',
    health: 'Normal',
    lastRecoveryPoint: { name: 'p' },
    conditions: [
      { type: 'Ready', status: 'True', reason: 'Protected', message: '', lastTransitionTime: 't' },
      { type: 'Replicating', status: 'True', reason: 'Cycle', message: '', lastTransitionTime: 't' },
      { type: 'SomethingNew', status: 'True', reason: 'X', message: '', lastTransitionTime: 't' },
    ],
  };

  it("splits a status into the operator's and the datapath's parts; a new condition type is not dropped", () => {
    expect(statusOwnedBy('operator', status)).toEqual({ phase: 'Protected', conditions: [status.conditions[0], status.conditions[2]] });
    expect(statusOwnedBy('datapath', status)).toEqual({ health: 'Normal', lastRecoveryPoint: { name: 'p' }, conditions: [status.conditions[1]] });
    expect(ownsCondition('operator', 'SomethingNew')).toBe(true);
    expect(ownsCondition('operator', 'SourceRegionUnavailable')).toBe(false); // the datapath's (source-region.ts)
    expect(ownsCondition('operator', 'Replicating')).toBe(false);
  });

  it("sees no change when only another writer's part differs", () => {
    const mine = statusOwnedBy('operator', status);
    const [ready, replicating, other] = status.conditions as [Condition, Condition, Condition];
    const changedByDatapath = { ...status, health: 'Warning', conditions: [ready, { ...replicating, reason: 'Other' }, other] };
    expect(statusUnchanged(changedByDatapath, mine)).toBe(true);
    expect(statusUnchanged(status, { ...mine, phase: 'Error' })).toBe(false);
  });
});
