// Sorted, disjoint, non-adjacent byte ranges [start, end) - the changed-page sets of the managed-disk front.

/** "To the end of the blob, whatever its length": used after resizes and whole-blob rewrites. */
export const INFINITY = Number.MAX_SAFE_INTEGER;
export const PAGE = 512;

/** Default cap on ranges per set before it is coarsened (a superset stays correct for a diff). */
const DEFAULT_MAX_RANGES = 1 << 15;

export class RangeSet {
  starts: number[] = [];
  ends: number[] = [];
  /** Ranges are rounded outward to this many bytes; grows when the set is coarsened. */
  granularity = PAGE;
  maxRanges: number;

  constructor(maxRanges = DEFAULT_MAX_RANGES) {
    this.maxRanges = maxRanges;
  }

  static from(pairs: Iterable<readonly [number, number]>, maxRanges?: number): RangeSet {
    const s = new RangeSet(maxRanges);
    for (const [a, b] of pairs) s.add(a, b);
    return s;
  }

  get size(): number {
    return this.starts.length;
  }

  isEmpty(): boolean {
    return this.starts.length === 0;
  }

  /** Total bytes covered (INFINITY-clipped ranges count up to INFINITY). */
  bytes(): number {
    let n = 0;
    for (let i = 0; i < this.starts.length; i++) n += this.ends[i]! - this.starts[i]!;
    return n;
  }

  *[Symbol.iterator](): IterableIterator<[number, number]> {
    for (let i = 0; i < this.starts.length; i++) yield [this.starts[i]!, this.ends[i]!];
  }

  toArray(): Array<[number, number]> {
    return [...this];
  }

  /** Index of the first range whose end is >= x (so it overlaps or touches x). */
  private firstEndingAtOrAfter(x: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first range whose start is > x. */
  private firstStartingAfter(x: number): number {
    let lo = 0;
    let hi = this.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.starts[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  add(start: number, end: number): void {
    if (end <= start) return;
    const g = this.granularity;
    if (g > PAGE) {
      start = Math.floor(start / g) * g;
      end = end >= INFINITY ? INFINITY : Math.min(INFINITY, Math.ceil(end / g) * g);
    }
    const i = this.firstEndingAtOrAfter(start);
    const j = this.firstStartingAfter(end);
    if (i < j) {
      start = Math.min(start, this.starts[i]!);
      end = Math.max(end, this.ends[j - 1]!);
    }
    this.starts.splice(i, j - i, start);
    this.ends.splice(i, j - i, end);
    if (this.starts.length > this.maxRanges) this.coarsen();
  }

  addSet(other: RangeSet): void {
    if (other.isEmpty()) return;
    if (this.isEmpty() && other.granularity <= this.granularity) {
      this.starts = other.starts.slice();
      this.ends = other.ends.slice();
      return;
    }
    const merged = RangeSet.union([this, other], this.maxRanges);
    this.starts = merged.starts;
    this.ends = merged.ends;
    this.granularity = Math.max(this.granularity, merged.granularity);
    if (this.starts.length > this.maxRanges) this.coarsen();
  }

  /** Rounds every range outward to a coarser granularity until at most half the cap remain. */
  coarsen(): void {
    while (this.starts.length > this.maxRanges / 2) {
      this.granularity *= 2;
      const g = this.granularity;
      const starts: number[] = [];
      const ends: number[] = [];
      for (let i = 0; i < this.starts.length; i++) {
        const s = Math.floor(this.starts[i]! / g) * g;
        const e = this.ends[i]! >= INFINITY ? INFINITY : Math.min(INFINITY, Math.ceil(this.ends[i]! / g) * g);
        const last = ends.length - 1;
        if (last >= 0 && s <= ends[last]!) ends[last] = Math.max(ends[last]!, e);
        else {
          starts.push(s);
          ends.push(e);
        }
      }
      this.starts = starts;
      this.ends = ends;
    }
  }

  clone(): RangeSet {
    const c = new RangeSet(this.maxRanges);
    c.starts = this.starts.slice();
    c.ends = this.ends.slice();
    c.granularity = this.granularity;
    return c;
  }

  static union(sets: RangeSet[], maxRanges?: number): RangeSet {
    const nonEmpty = sets.filter((s) => !s.isEmpty());
    const out = new RangeSet(maxRanges);
    if (nonEmpty.length === 0) return out;
    if (nonEmpty.length === 1) {
      const c = nonEmpty[0]!.clone();
      if (maxRanges !== undefined) c.maxRanges = maxRanges;
      return c;
    }
    const pairs: Array<[number, number]> = [];
    for (const s of nonEmpty) for (const p of s) pairs.push(p);
    pairs.sort((a, b) => a[0] - b[0]);
    for (const [s, e] of pairs) {
      const last = out.ends.length - 1;
      if (last >= 0 && s <= out.ends[last]!) out.ends[last] = Math.max(out.ends[last]!, e);
      else {
        out.starts.push(s);
        out.ends.push(e);
      }
    }
    out.granularity = Math.max(...nonEmpty.map((s) => s.granularity));
    return out;
  }

  /** this ∩ other */
  intersect(other: RangeSet): RangeSet {
    const out = new RangeSet(Number.MAX_SAFE_INTEGER);
    let i = 0;
    let j = 0;
    while (i < this.starts.length && j < other.starts.length) {
      const s = Math.max(this.starts[i]!, other.starts[j]!);
      const e = Math.min(this.ends[i]!, other.ends[j]!);
      if (s < e) {
        out.starts.push(s);
        out.ends.push(e);
      }
      if (this.ends[i]! < other.ends[j]!) i++;
      else j++;
    }
    return out;
  }

  /** this \ other */
  subtract(other: RangeSet): RangeSet {
    const out = new RangeSet(Number.MAX_SAFE_INTEGER);
    let j = 0;
    for (let i = 0; i < this.starts.length; i++) {
      let s = this.starts[i]!;
      const e = this.ends[i]!;
      while (j < other.starts.length && other.ends[j]! <= s) j++;
      let k = j;
      while (s < e && k < other.starts.length && other.starts[k]! < e) {
        if (other.starts[k]! > s) {
          out.starts.push(s);
          out.ends.push(other.starts[k]!);
        }
        s = Math.max(s, other.ends[k]!);
        k++;
      }
      if (s < e) {
        out.starts.push(s);
        out.ends.push(e);
      }
    }
    return out;
  }

  /** this ∩ [start, end) */
  clip(start: number, end: number): RangeSet {
    return this.intersect(RangeSet.from([[start, end]]));
  }

  toJSON(): { g: number; r: number[] } {
    const r: number[] = [];
    for (let i = 0; i < this.starts.length; i++) r.push(this.starts[i]!, this.ends[i]!);
    return { g: this.granularity, r };
  }

  static fromJSON(json: { g: number; r: number[] }, maxRanges?: number): RangeSet {
    const s = new RangeSet(maxRanges);
    s.granularity = json.g;
    for (let i = 0; i + 1 < json.r.length; i += 2) {
      s.starts.push(json.r[i]!);
      s.ends.push(json.r[i + 1]!);
    }
    return s;
  }
}
