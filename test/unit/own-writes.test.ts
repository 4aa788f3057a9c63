// The ReplicatedVM controller ignores the reconciler's own writes (recognized by the resourceVersion they
// returned) unless something else it acts on changed with them; other writers' updates are judged as before.
import { describe, expect, it } from 'vitest';
import type { ReplicatedVM, ReplicatedVMStatus } from '../../src/api/types.ts';
import { reconcilerWroteOnly } from '../../src/controllers/predicates.ts';
import type { CustomObject, CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { FINALIZER } from '../../src/runtime/finalizers.ts';
import { OwnWrites } from '../../src/runtime/own-writes.ts';

const vm = (resourceVersion: string, status: Partial<ReplicatedVMStatus> = {}, metadata: Partial<ReplicatedVM['metadata']> = {}): ReplicatedVM =>
  ({ apiVersion: 'siterecovery.io/v1alpha1', kind: 'ReplicatedVM', metadata: { name: 'a', namespace: 'ns', generation: 1, resourceVersion, ...metadata }, spec: {}, status: { observedGeneration: 1, phase: 'InitialSync', ...status } }) as ReplicatedVM;

describe('OwnWrites', () => {
  it('recognizes the versions its client wrote, once each, and only those', async () => {
    const own = new OwnWrites();
    let version = 10;
    const fake = { kind: 'ReplicatedVM', applyStatus: async () => vm(String(++version)), mergePatch: async () => vm(String(++version)), get: async () => vm('99') };
    const client = own.recording(fake as unknown as CustomResourceClient<ReplicatedVM>);
    await client.mergePatch({ namespace: 'ns', name: 'a' }, {});
    await client.applyStatus({ namespace: 'ns', name: 'a' }, {}, 'm');
    await client.get({ namespace: 'ns', name: 'a' }); // a read: nothing noted
    expect(client.kind).toBe('ReplicatedVM');
    expect(own.take(vm('99'))).toBe(false);
    expect(own.take(vm('11'))).toBe(true);
    expect(own.take(vm('11'))).toBe(false); // once
    expect(own.take(vm('12'))).toBe(true);
  });

  it('forgets older versions once a newer one is reported, and a deleted object', () => {
    const own = new OwnWrites();
    for (const v of ['1', '2', '3']) own.note(vm(v));
    expect(own.take(vm('2'))).toBe(true);
    expect(own.take(vm('1'))).toBe(false);
    own.forget(vm('3'));
    expect(own.take(vm('3'))).toBe(false);
    own.note({ metadata: { name: 'b', namespace: 'ns' } } as CustomObject); // no version: nothing to note
    expect(own.take({ metadata: { name: 'b', namespace: 'ns' } } as CustomObject)).toBe(false);
  });

  it('holds an update reported while a write is in flight: dropped if the write made it, else handed back', async () => {
    const missed: string[] = [];
    const own = new OwnWrites((key) => missed.push(key));
    const answer: Array<(o: ReplicatedVM) => void> = [];
    const fake = { applyStatus: () => new Promise<ReplicatedVM>((resolve) => answer.push(resolve)) };
    const client = own.recording(fake as unknown as CustomResourceClient<ReplicatedVM>);
    expect(own.hold(vm('5'))).toBe(false); // nothing in flight
    const first = client.applyStatus({ namespace: 'ns', name: 'a' }, {}, 'm');
    expect(own.hold(vm('6'))).toBe(true); // its event, before its response
    answer.shift()?.(vm('6'));
    await first;
    expect(missed).toEqual([]);
    expect(own.take(vm('6'))).toBe(false); // consumed
    const second = client.applyStatus({ namespace: 'ns', name: 'a' }, {}, 'm');
    expect(own.hold(vm('7'))).toBe(true); // someone else's write, while ours is in flight
    answer.shift()?.(vm('8'));
    await second;
    expect(missed).toEqual(['ns/a']);
    expect(own.take(vm('8'))).toBe(true);
  });
});

describe('reconcilerWroteOnly', () => {
  const before = vm('1');
  it("ignores the reconciler's own status writes and its finalizer", () => {
    expect(reconcilerWroteOnly(true, vm('2', { phase: 'Protected', targetResourceGroupId: 'g' }), before)).toBe(true);
    expect(reconcilerWroteOnly(true, vm('2', {}, { finalizers: [FINALIZER] }), before)).toBe(true);
  });

  it('takes a write by anyone else, and what came with its own write that the reconciler acts on', () => {
    expect(reconcilerWroteOnly(false, vm('2', { phase: 'Protected' }), before)).toBe(false);
    expect(reconcilerWroteOnly(true, vm('2'), undefined)).toBe(false);
    expect(reconcilerWroteOnly(true, vm('2', {}, { generation: 2 }), before)).toBe(false);
    expect(reconcilerWroteOnly(true, vm('2', {}, { annotations: { poke: '1' } }), before)).toBe(false);
    expect(reconcilerWroteOnly(true, vm('2', {}, { finalizers: ['someone.else/finalizer'] }), before)).toBe(false);
    expect(reconcilerWroteOnly(true, vm('2', { lastRecoveryPoint: { name: 'a-1', time: 't', consistency: 'CrashConsistent' } }), before)).toBe(false);
    expect(reconcilerWroteOnly(true, vm('2', { initialSync: { percent: 100, startTime: 't', completionTime: 'u' } }), before)).toBe(false);
  });
});
