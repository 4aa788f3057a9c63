// The datapath's retry backoff (src/datapath/backoff.ts): doubling from the base, equal jitter, capped, and
// back to the base after a success.
import { describe, expect, it } from 'vitest';
import { Backoff } from '../../src/datapath/backoff.ts';

describe('datapath backoff', () => {
  it('doubles from the base with the jitter in the upper half, up to the cap, and resets on success', () => {
    const low = new Backoff(300, () => 5 * 60_000, () => 0);
    const high = new Backoff(300, () => 5 * 60_000, () => 1);
    const lows = Array.from({ length: 14 }, () => low.fail());
    const highs = Array.from({ length: 14 }, () => high.fail());
    expect(highs.slice(0, 5)).toEqual([300, 600, 1200, 2400, 4800]);
    expect(lows.slice(0, 5)).toEqual([150, 300, 600, 1200, 2400]);
    expect(highs.at(-1)).toBe(5 * 60_000);
    expect(lows.at(-1)).toBe(2.5 * 60_000);
    low.reset();
    expect(low.attempts).toBe(0);
    expect(low.fail()).toBe(150);
  });

  it('follows a cap that changes, never below the base, and never overflows', () => {
    let cap = 10_000;
    const b = new Backoff(1000, () => cap, () => 1);
    for (let i = 0; i < 2000; i++) expect(b.fail()).toBeLessThanOrEqual(cap);
    cap = 10;
    expect(b.fail()).toBe(1000);
  });
});
