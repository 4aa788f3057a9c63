// Looks at shared target resources: a look that found nothing to do serves other VMs' passes for a few
// seconds, in the same namespace only; any other look is not kept.
import { describe, expect, it } from 'vitest';
import type { ExternalResource, Observation } from '../../src/azure/external-resource.ts';
import { SharedObservations } from '../../src/reconcilers/replicated-vm/shared-observations.ts';

function resource(answers: Observation<string>[]) {
  const looks = { count: 0 };
  const r: ExternalResource<string> = {
    role: 'TargetStorageAccount',
    id: '/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a',
    manage: true,
    observe: async () => answers[Math.min(looks.count++, answers.length - 1)] as Observation<string>,
    create: async () => undefined,
    update: async () => undefined,
    delete: async () => undefined,
  };
  return { r, looks };
}

const ready: Observation<string> = { exists: true, ready: true, upToDate: true, managedTag: true, resource: 'a' };

describe('SharedObservations', () => {
  it('serves a look that found nothing to do for its TTL, in its namespace', async () => {
    const shared = new SharedObservations(5_000);
    const { r, looks } = resource([ready]);
    let now = 1_000;
    const clock = () => now;
    expect(await shared.cached('ns', r, clock).observe()).toBe(ready);
    expect(await shared.cached('ns', r, clock).observe()).toBe(ready);
    expect(looks.count).toBe(1);
    await shared.cached('other', r, clock).observe();
    expect(looks.count).toBe(2);
    now += 5_000;
    await shared.cached('ns', r, clock).observe();
    expect(looks.count).toBe(3);
  });

  it('does not keep a look that found something to do', async () => {
    const shared = new SharedObservations(5_000);
    const { r, looks } = resource([{ exists: false }, { ...ready, ready: false }, { ...ready, upToDate: false }, ready]);
    for (let i = 0; i < 4; i++) await shared.cached('ns', r).observe();
    expect(looks.count).toBe(4);
    await shared.cached('ns', r).observe();
    expect(looks.count).toBe(4);
  });

  it('passes create, update and delete through', async () => {
    const calls: string[] = [];
    const { r } = resource([ready]);
    const wrapped = new SharedObservations().cached('ns', { ...r, create: async () => void calls.push('create'), update: async (c) => void calls.push(`update ${c}`), delete: async () => void calls.push('delete') });
    await wrapped.create();
    await wrapped.update('x');
    await wrapped.delete();
    expect(calls).toEqual(['create', 'update x', 'delete']);
    expect([wrapped.role, wrapped.id, wrapped.manage]).toEqual([r.role, r.id, true]);
  });
});
