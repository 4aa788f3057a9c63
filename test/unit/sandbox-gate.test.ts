import { describe, expect, it } from 'vitest';
import { Gates } from '../../src/sandbox/storage/gate.ts';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('storage front gates', () => {
  it('snapshots wait for writes in flight and block new writes until done', async () => {
    const g = new Gates();
    const events: string[] = [];
    const w1 = await g.shared('k');
    const snap = g.exclusive([{ key: 'k', kind: 'snapshot' }]).then((rel) => {
      events.push('snapshot');
      return rel;
    });
    const w2 = g.shared('k').then((rel) => {
      events.push('w2');
      return rel;
    });
    await tick();
    expect(events).toEqual([]); // snapshot waits for w1, w2 waits behind the snapshot
    w1();
    const relSnap = await snap;
    await tick();
    expect(events).toEqual(['snapshot']);
    relSnap();
    (await w2)();
    expect(events).toEqual(['snapshot', 'w2']);
    expect(g.size).toBe(0);
  });

  it('freeze drains writes, holds new ones, lets snapshots through', async () => {
    const g = new Gates();
    const events: string[] = [];
    const w1 = await g.shared('a');
    let frozen = false;
    const freeze = g.freeze(['a', 'b']).then((rel) => {
      frozen = true;
      return rel;
    });
    await tick();
    expect(frozen).toBe(false);
    const w2 = g.shared('b').then((rel) => {
      events.push('w2');
      return rel;
    });
    w1();
    const unfreeze = await freeze;
    const snapA = await g.exclusive([{ key: 'a', kind: 'snapshot' }]);
    snapA();
    const putBlob = g.exclusive([{ key: 'b', kind: 'write' }]).then((rel) => {
      events.push('putblob');
      return rel;
    });
    await tick();
    expect(events).toEqual([]);
    unfreeze();
    (await putBlob)();
    (await w2)();
    expect(events.sort()).toEqual(['putblob', 'w2']);
    expect(g.size).toBe(0);
  });

  it('multi-key exclusive locks do not deadlock', async () => {
    const g = new Gates();
    const a = g.exclusive([{ key: 'x', kind: 'write' }, { key: 'y', kind: 'snapshot' }]);
    const b = g.exclusive([{ key: 'y', kind: 'write' }, { key: 'x', kind: 'snapshot' }]);
    (await a)();
    (await b)();
    expect(g.size).toBe(0);
  });
});
