// Change tracking against an in-memory model of page blobs: for random histories (writes, clears,
// snapshots, copies, snapshot deletes, resizes, recreation), every tracked diff must cover every page whose
// content or allocation differs.
import { describe, expect, it } from 'vitest';
import { ChangeTracker, normalizeSnapshot, type Endpoint } from '../../sandbox/src/storage/tracker.ts';

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

const PAGES = 64;
type Content = Array<number | undefined>; // undefined = unallocated

describe('ChangeTracker', () => {
  it('normalises snapshot timestamps', () => {
    expect(normalizeSnapshot('2024-01-02T03:04:05.12Z')).toBe('2024-01-02T03:04:05.1200000Z');
    expect(normalizeSnapshot('2024-01-02T03:04:05Z')).toBe('2024-01-02T03:04:05.0000000Z');
  });

  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`covers every changed page on random histories (seed ${seed})`, () => {
      const r = rng(seed);
      const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
      const t = new ChangeTracker();
      const live = new Map<string, Content>();
      const snaps = new Map<string, Map<string, Content>>();
      let clock = 0;
      const keys = ['a/c/d1', 'a/c/d2', 'a/c/d3', 'b/c/x'];
      let value = 1;
      let answered = 0;
      let crossBlob = 0;
      const misses: string[] = [];
      const states = (): Array<{ ep: Endpoint; content: Content }> => {
        const out: Array<{ ep: Endpoint; content: Content }> = [];
        for (const [key, content] of live) out.push({ ep: { key }, content });
        for (const [key, m] of snaps) for (const [s, content] of m) out.push({ ep: { key, snapshot: s }, content });
        return out;
      };
      for (let step = 0; step < 400; step++) {
        const op = r();
        const key = pick(keys);
        const blob = live.get(key);
        if (!blob || op < 0.05) {
          if (!blob || !snaps.get(key)?.size || r() < 0.5) {
            // create (or overwrite) empty
            live.set(key, new Array<number | undefined>(PAGES).fill(undefined));
            t.pageBlobCreated(key);
          }
          continue;
        }
        if (op < 0.5) {
          const a = Math.floor(r() * PAGES);
          const b = Math.min(PAGES, a + 1 + Math.floor(r() * 6));
          const clear = r() < 0.25;
          t.pagesWritten(key, a * 512, b * 512);
          for (let p = a; p < b; p++) blob[p] = clear ? undefined : value++;
        } else if (op < 0.7) {
          const s = new Date(Date.UTC(2024, 0, 1) + ++clock * 1000).toISOString().replace('Z', '0000Z');
          t.snapshotCreated(key, s);
          if (!snaps.has(key)) snaps.set(key, new Map());
          snaps.get(key)!.set(s, blob.slice());
        } else if (op < 0.8) {
          const m = snaps.get(key);
          if (m?.size) {
            const s = pick([...m.keys()]);
            m.delete(s);
            t.snapshotDeleted(key, s);
          }
        } else if (op < 0.9) {
          // copy another state (live blob or snapshot) over a blob
          const src = pick(states());
          const dest = pick(keys);
          t.copied(dest, t.captureSource(src.ep));
          live.set(dest, src.content.slice());
        } else if (op < 0.95) {
          // shrink then regrow (Set Blob Properties twice)
          const n = Math.floor(r() * PAGES);
          t.resized(key, n * 512);
          for (let p = n; p < PAGES; p++) blob[p] = undefined;
          t.resized(key, PAGES * 512);
        } else if (!snaps.get(key)?.size) {
          t.blobDeleted(key, false);
          live.delete(key);
        }
        // Check all pairs of states every few steps.
        if (step % 10 === 0) {
          const all = states();
          for (const x of all) {
            for (const y of all) {
              const changed = t.changedBetween(x.ep, y.ep);
              if (!changed) continue; // untracked pairs fall back to content comparison
              answered++;
              if (x.ep.key !== y.ep.key) crossBlob++;
              const covered = new Array<boolean>(PAGES).fill(false);
              for (const [s, e] of changed) for (let p = s / 512; p < Math.min(e / 512, PAGES); p++) covered[p] = true;
              for (let p = 0; p < PAGES; p++) {
                if (x.content[p] !== y.content[p] && !covered[p]) misses.push(`${JSON.stringify(x.ep)} vs ${JSON.stringify(y.ep)} page ${p}`);
              }
            }
          }
        }
      }
      expect(misses.slice(0, 5)).toEqual([]);
      expect(answered).toBeGreaterThan(100);
      expect(crossBlob).toBeGreaterThan(10); // copy lineage answers diffs across blobs
      // Same-blob diffs are always answerable by tracking.
      for (const [key, m] of snaps) for (const s of m.keys()) expect(t.changedBetween({ key, snapshot: s }, { key })).toBeDefined();
      // And state survives a JSON round trip.
      const copy = ChangeTracker.fromJSON(JSON.parse(JSON.stringify(t.toJSON())));
      for (const x of states()) for (const y of states()) expect(copy.changedBetween(x.ep, y.ep)?.toArray()).toEqual(t.changedBetween(x.ep, y.ep)?.toArray());
    });
  }

  it('drops lineage chains once no copy refers to them', () => {
    const t = new ChangeTracker();
    t.pageBlobCreated('a/c/src');
    t.snapshotCreated('a/c/src', '2024-01-01T00:00:00.0000000Z');
    t.copied('a/c/dst', t.captureSource({ key: 'a/c/src', snapshot: '2024-01-01T00:00:00.0000000Z' }));
    t.blobDeleted('a/c/src', false);
    expect(t.chainCount).toBe(2); // src kept: dst's origin
    t.blobDeleted('a/c/dst', false);
    expect(t.chainCount).toBe(0);
  });
});
