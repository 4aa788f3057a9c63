import { describe, expect, it } from 'vitest';
import { Gates } from '../../sandbox/src/storage/gate.ts';

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

  it('never admits an exclusive holder together with shared holders (stress)', async () => {
    const g = new Gates();
    let shared = 0;
    let exclusive = 0;
    const violations: string[] = [];
    const pause = (i: number): Promise<void> => (i % 3 === 0 ? new Promise((r) => setImmediate(r)) : Promise.resolve());
    const tasks: Array<Promise<void>> = [];
    for (let i = 0; i < 400; i++) {
      tasks.push(
        (async () => {
          await pause(i);
          if (i % 5 === 0) {
            const rel = await g.exclusive([{ key: 'k', kind: i % 10 === 0 ? 'snapshot' : 'write' }]);
            exclusive++;
            if (shared > 0 || exclusive > 1) violations.push(`exclusive with ${shared} shared, ${exclusive} exclusive`);
            await pause(i + 1);
            exclusive--;
            rel();
          } else {
            const rel = await g.shared('k');
            shared++;
            if (exclusive > 0) violations.push('shared during exclusive');
            await pause(i + 2);
            shared--;
            rel();
          }
        })(),
      );
    }
    await Promise.all(tasks);
    expect(violations).toEqual([]);
    expect(g.size).toBe(0);
  });

  it('does not drop a gate while woken waiters are still to take it', async () => {
    const g = new Gates();
    const e1 = await g.exclusive([{ key: 'k', kind: 'snapshot' }]);
    let w2held = false;
    const w2 = g.shared('k').then((rel) => {
      w2held = true;
      return rel;
    });
    await tick();
    e1(); // wakes w2, which has not re-checked yet
    let e2held = false;
    const e2 = g.exclusive([{ key: 'k', kind: 'snapshot' }]).then((rel) => {
      e2held = true;
      return rel;
    });
    await tick();
    expect(w2held && e2held).toBe(false);
    expect(e2held).toBe(true); // a waiting exclusive goes before newly woken shared waiters
    (await e2)();
    (await w2)();
    expect(g.size).toBe(0);
  });
});
