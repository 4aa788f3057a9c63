import { describe, expect, it, vi } from 'vitest';
import { WorkQueue, backoffDelay } from '../../src/runtime/workqueue.ts';

describe('WorkQueue', () => {
  it('de-duplicates keys added before they are taken', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('a');
    q.add('b');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('never hands one key to two workers; a key added while processing runs again after done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const first = await q.get();
    q.add('a');
    expect(q.length).toBe(0);
    let second: string | undefined;
    void q.get().then((k) => (second = k));
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done(first as string);
    await Promise.resolve();
    expect(second).toBe('a');
  });

  it('wakes a waiting worker on add and ends waiters on shutdown', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.add('x');
    expect(await waiting).toBe('x');
    const ended = q.get();
    q.shutDown();
    expect(await ended).toBeUndefined();
    q.add('y');
    expect(await q.get()).toBeUndefined();
  });

  it('keeps the earliest of several delayed adds and backs off per key', () => {
    vi.useFakeTimers();
    try {
      const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1000, jitter: 0 });
      q.addAfter('k', 5000);
      q.addAfter('k', 50);
      vi.advanceTimersByTime(60);
      expect(q.length).toBe(1);
      expect(q.addRateLimited('r')).toBe(100);
      expect(q.addRateLimited('r')).toBe(200);
      expect(q.failureCount('r')).toBe(2);
      q.forget('r');
      expect(q.addRateLimited('r')).toBe(100);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('backoffDelay', () => {
  it('doubles, caps, and adds bounded jitter', () => {
    const opts = { baseDelayMs: 500, maxDelayMs: 10_000, jitter: 0.2 };
    expect(backoffDelay(1, opts, () => 0)).toBe(500);
    expect(backoffDelay(4, opts, () => 0)).toBe(4000);
    expect(backoffDelay(30, opts, () => 0)).toBe(10_000);
    expect(backoffDelay(30, opts, () => 1)).toBe(12_000);
  });
});
