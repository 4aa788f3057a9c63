import { describe, expect, it } from 'vitest';
import { INFINITY, RangeSet } from '../../sandbox/src/storage/ranges.ts';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PAGES = 256;
function toBits(s: RangeSet): boolean[] {
  const bits = new Array<boolean>(PAGES).fill(false);
  for (const [a, b] of s) for (let p = a / 512; p < Math.min(b / 512, PAGES); p++) bits[p] = true;
  return bits;
}
function randomSet(r: () => number, n: number, maxRanges?: number): { set: RangeSet; bits: boolean[] } {
  const set = new RangeSet(maxRanges);
  const bits = new Array<boolean>(PAGES).fill(false);
  for (let i = 0; i < n; i++) {
    const a = Math.floor(r() * PAGES);
    const b = Math.min(PAGES, a + 1 + Math.floor(r() * 8));
    set.add(a * 512, b * 512);
    for (let p = a; p < b; p++) bits[p] = true;
  }
  return { set, bits };
}
function canonical(s: RangeSet): void {
  const arr = s.toArray();
  for (let i = 0; i < arr.length; i++) {
    expect(arr[i]![0]).toBeLessThan(arr[i]![1]);
    if (i > 0) expect(arr[i]![0]).toBeGreaterThan(arr[i - 1]![1]); // disjoint, not even adjacent
  }
}

describe('RangeSet', () => {
  it('add / union / intersect / subtract agree with a page bitmap', () => {
    const r = rng(7);
    for (let round = 0; round < 300; round++) {
      const x = randomSet(r, Math.floor(r() * 30));
      const y = randomSet(r, Math.floor(r() * 30));
      canonical(x.set);
      expect(toBits(x.set)).toEqual(x.bits);
      const u = RangeSet.union([x.set, y.set]);
      canonical(u);
      expect(toBits(u)).toEqual(x.bits.map((b, i) => b || y.bits[i]!));
      const i = x.set.intersect(y.set);
      canonical(i);
      expect(toBits(i)).toEqual(x.bits.map((b, k) => b && y.bits[k]!));
      const d = x.set.subtract(y.set);
      canonical(d);
      expect(toBits(d)).toEqual(x.bits.map((b, k) => b && !y.bits[k]!));
      const c = x.set.clone();
      c.addSet(y.set);
      expect(toBits(c)).toEqual(toBits(u));
    }
  });

  it('coarsening keeps a superset and bounds the number of ranges', () => {
    const r = rng(11);
    const { set, bits } = randomSet(r, 200, 16);
    expect(set.size).toBeLessThanOrEqual(16);
    expect(set.granularity).toBeGreaterThan(512);
    const got = toBits(set);
    bits.forEach((b, i) => {
      if (b) expect(got[i]).toBe(true);
    });
  });

  it('handles open-ended ranges and clipping', () => {
    const s = RangeSet.from([[1024, 2048], [4096, INFINITY]]);
    expect(s.clip(0, 8192).toArray()).toEqual([[1024, 2048], [4096, 8192]]);
    expect(RangeSet.fromJSON(JSON.parse(JSON.stringify(s.toJSON()))).toArray()).toEqual(s.toArray());
  });
});
