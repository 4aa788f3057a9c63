// The informer against a real API server: an update handler gets the version it replaces, and a relist
// (or a restart) reports an object it already held unchanged as nothing, a changed one as an update and a
// vanished one as a delete — a relist must not look like every object being added, which would reconcile
// the whole fleet.
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ReplicationPolicy } from '../../src/api/types.ts';
import { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { Informer } from '../../src/runtime/informer.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';

let kc: KubeConfig;
let ns: string;
let policies: CustomResourceClient<ReplicationPolicy>;
let informer: Informer<ReplicationPolicy>;
const events: Array<{ event: string; name: string; interval?: string; previous?: string }> = [];

beforeAll(async () => {
  kc = testKubeConfig();
  ns = await createTestNamespace(kc, 'informer');
  policies = new CustomResourceClient<ReplicationPolicy>(kc, 'ReplicationPolicy');
  await policies.create(ns, { metadata: { name: 'kept' }, spec: { recoveryPointInterval: '5m' } });
  await policies.create(ns, { metadata: { name: 'changed' }, spec: { recoveryPointInterval: '5m' } });
  await policies.create(ns, { metadata: { name: 'gone' }, spec: { recoveryPointInterval: '5m' } });
  informer = new Informer<ReplicationPolicy>(kc, policies.path(ns), async () => (await policies.list(ns)) as never, { relistIntervalMs: 3_600_000 });
  for (const event of ['add', 'update', 'delete'] as const) {
    informer.on(event, (o, previous) => events.push({ event, name: o.metadata.name ?? '', interval: o.spec.recoveryPointInterval, previous: previous?.spec.recoveryPointInterval }));
  }
  await informer.start();
});

afterAll(async () => {
  await informer?.stop();
});

describe('Informer', () => {
  it('gives an update handler the version it replaces', async () => {
    expect(events.map((e) => `${e.event} ${e.name}`).sort()).toEqual(['add changed', 'add gone', 'add kept']);
    events.length = 0;
    await policies.mergePatch({ namespace: ns, name: 'changed' }, { spec: { recoveryPointInterval: '10m' } });
    await vi.waitFor(() => expect(events).toEqual([{ event: 'update', name: 'changed', interval: '10m', previous: '5m' }]), { timeout: 10_000, interval: 50 });
  });

  it('relists without reporting what did not change, and keeps serving its cache while the list is read', async () => {
    events.length = 0;
    const relisting = informer.relist();
    expect(informer.get('kept', ns)?.metadata.name, 'the cache while the new list is in flight').toBe('kept');
    await relisting;
    expect(events).toEqual([]);
    expect(informer.list(ns)).toHaveLength(3);
  });

  it('reports what changed while it was not watching as updates and deletes', async () => {
    // Stop the watch (the cache stays), change and delete behind its back, then start again.
    await informer.stop();
    events.length = 0;
    await policies.mergePatch({ namespace: ns, name: 'changed' }, { spec: { recoveryPointInterval: '15m' } });
    await policies.delete({ namespace: ns, name: 'gone' });
    await informer.start();
    expect(events.map((e) => `${e.event} ${e.name} ${e.previous ?? ''}`).sort()).toEqual(['delete gone 5m', 'update changed 10m']);
  });
});
