// A replica's initial-sync slots (src/datapath/initial-sync-slots.ts): at most `limit` at once, first come
// first served (a VM waiting is never overtaken), a slot given back once, a wait abandoned leaves the queue.
import { describe, expect, it } from 'vitest';
import { InitialSyncSlots, type InitialSyncSlot } from '../../src/datapath/initial-sync-slots.ts';

const never = new AbortController().signal;

describe('initial-sync slots', () => {
  it('grants at most the limit at once, then in order of arrival; a second release does nothing', async () => {
    const seen: { running: number; waiting: number }[] = [];
    const slots = new InitialSyncSlots(2, (c) => seen.push(c));
    const a = await slots.acquire(never);
    const b = await slots.acquire(never);
    const granted: string[] = [];
    const waits = ['c', 'd', 'e'].map((name) => slots.acquire(never).then((slot) => (granted.push(name), slot)));
    expect(slots.counts).toEqual({ running: 2, waiting: 3 });
    a.release();
    a.release();
    const c = await waits[0]!;
    expect(granted).toEqual(['c']);
    expect(slots.counts).toEqual({ running: 2, waiting: 2 });
    b.release();
    c.release();
    const rest = await Promise.all(waits.slice(1));
    expect(granted).toEqual(['c', 'd', 'e']);
    rest.forEach((s: InitialSyncSlot) => s.release());
    expect(slots.counts).toEqual({ running: 0, waiting: 0 });
    expect(seen.at(-1)).toEqual({ running: 0, waiting: 0 });
  });

  it('a wait aborted leaves the queue with the signal\'s reason; the next in line is served', async () => {
    const slots = new InitialSyncSlots(1);
    const held = await slots.acquire(never);
    const stop = new AbortController();
    const abandoned = slots.acquire(stop.signal);
    const next = slots.acquire(never);
    stop.abort(new Error('stopped'));
    await expect(abandoned).rejects.toThrow('stopped');
    expect(slots.counts).toEqual({ running: 1, waiting: 1 });
    held.release();
    (await next).release();
    expect(slots.counts).toEqual({ running: 0, waiting: 0 });
    await expect(slots.acquire(stop.signal)).rejects.toThrow('stopped');
    expect(() => new InitialSyncSlots(0)).toThrow(/whole number/);
  });
});
