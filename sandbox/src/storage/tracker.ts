// Changed-page tracking for page blobs, fed by the writes the managed-disk front observes.
//
// Model. Every base blob (key "account/container/blob") that the front has seen being written has a
// *chain*: an ordered list of *points* (moments at which the content was captured: blob snapshots, and
// "virtual" points where the blob was the source of a copy) and, after each point, the set of pages written
// until the next point (`dirty[i]`, the last one still growing). points[0] is the moment the chain began:
//   - origin 'zero': the blob was created empty by the front's eyes (Put Blob of a page blob), so its
//     content at points[0] is all zeros;
//   - origin {chainId, pointId}: the blob was created by copying another blob's point, so its content at
//     points[0] equals that point's content (copy lineage: disks made from snapshots, snapshots made by
//     copying a disk, ...);
//   - origin null: the chain began mid-life (first write seen after a restart without tracking state),
//     content at points[0] unknown.
// Pages that may differ between two endpoints (a snapshot or the live blob) are found by walking both
// endpoints' ancestry to a common chain (or to two 'zero' roots) and uniting the dirty sets on the way.
// The set is a superset of the truly changed pages (a page rewritten with identical bytes counts as changed,
// as in Azure), always 512-aligned, coarsened when very large. No common ancestor -> undefined and the
// front falls back to comparing content.
//
// Consistency with the data in Azurite is the front's job (front.ts): writes to a blob are recorded while
// holding a shared gate on that blob, snapshots/copies/deletes/recreations under an exclusive gate, so every
// write lands in exactly the interval in which Azurite applied it.
import { INFINITY, RangeSet } from './ranges.ts';

export interface Point {
  id: number;
  /** Snapshot timestamp while that blob snapshot exists. */
  snapshot?: string;
  /** Copies whose content started as this point. */
  refs: number;
}

export type Origin = { chainId: number; pointId: number } | 'zero' | null;

export interface Chain {
  id: number;
  key: string;
  live: boolean;
  origin: Origin;
  points: Point[];
  dirty: RangeSet[];
}

/** A content state: the live blob (`snapshot` absent) or one of its snapshots. */
export interface Endpoint {
  key: string;
  snapshot?: string;
}

interface Position {
  chain: Chain;
  /** 0..points.length-1: at that point; points.length: the live blob now. */
  index: number;
}

export interface TrackerState {
  version: 1;
  nextId: number;
  chains: Array<{ id: number; key: string; live: boolean; origin: Origin; points: Point[]; dirty: Array<{ g: number; r: number[] }> }>;
}

/** Normalises a snapshot timestamp so that equal instants compare equal (Azure uses 7 fraction digits). */
export function normalizeSnapshot(s: string): string {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$/.exec(s.trim());
  if (!m) return s.trim();
  return `${m[1]}.${(m[2] ?? '').padEnd(7, '0').slice(0, 7)}Z`;
}

export class ChangeTracker {
  private nextId = 1;
  private readonly chains = new Map<number, Chain>();
  private readonly live = new Map<string, Chain>();

  // ---- observations -------------------------------------------------------------------------------

  /** Put Page (update or clear) of [start, end). */
  pagesWritten(key: string, start: number, end: number): void {
    const chain = this.live.get(key) ?? this.newChain(key, null);
    chain.dirty[chain.dirty.length - 1]!.add(start, end);
  }

  /** Resize (Set Blob Properties x-ms-blob-content-length): everything from the new length on may differ. */
  resized(key: string, newLength: number): void {
    this.pagesWritten(key, Math.max(0, newLength), INFINITY);
  }

  /** Put Blob creating an empty page blob. */
  pageBlobCreated(key: string): void {
    this.replaceOrDirty(key, 'zero');
  }

  /** A write whose effect on pages is unknown or total (block blob overwrite, failed/unknown outcome). */
  blobRewritten(key: string): void {
    const chain = this.live.get(key);
    if (!chain) return;
    if (this.isReplaceable(chain)) this.kill(chain);
    else chain.dirty[chain.dirty.length - 1]!.add(0, INFINITY);
  }

  /** Outcome unknown (connection lost mid-request): keep the chain but assume every page changed. */
  outcomeUnknown(key: string): void {
    const chain = this.live.get(key) ?? this.newChain(key, null);
    chain.dirty[chain.dirty.length - 1]!.add(0, INFINITY);
  }

  /** Snapshot created. */
  snapshotCreated(key: string, snapshot: string): void {
    const chain = this.live.get(key) ?? this.newChain(key, null);
    this.pushPoint(chain, normalizeSnapshot(snapshot));
  }

  /**
   * Resolves a copy source to a point, inserting a virtual point when the source is the live blob. The
   * returned origin holds a reference; pass it to copied() or release it with releaseOrigin().
   */
  captureSource(source: Endpoint): Origin {
    const pos = this.resolve(source);
    if (!pos) return null;
    let point: Point;
    if (pos.index === pos.chain.points.length) point = this.pushPoint(pos.chain, undefined);
    else point = pos.chain.points[pos.index]!;
    point.refs++;
    return { chainId: pos.chain.id, pointId: point.id };
  }

  /** Copy Blob completed into `key` with content equal to `origin`. */
  copied(key: string, origin: Origin): void {
    const chain = this.live.get(key);
    if (chain && !this.isReplaceable(chain)) {
      this.releaseOrigin(origin);
      chain.dirty[chain.dirty.length - 1]!.add(0, INFINITY);
      return;
    }
    if (chain) this.kill(chain);
    this.newChain(key, origin);
  }

  releaseOrigin(origin: Origin): void {
    if (origin === null || origin === 'zero') return;
    const chain = this.chains.get(origin.chainId);
    const point = chain?.points.find((p) => p.id === origin.pointId);
    if (!chain || !point) return;
    point.refs = Math.max(0, point.refs - 1);
    this.compact(chain);
    this.collect(chain);
  }

  snapshotDeleted(key: string, snapshot: string): void {
    const chain = this.live.get(key);
    if (!chain) return;
    const s = normalizeSnapshot(snapshot);
    const point = chain.points.find((p) => p.snapshot === s);
    if (!point) return;
    delete point.snapshot;
    this.compact(chain);
  }

  /** Delete Blob: `snapshotsOnly` for x-ms-delete-snapshots=only. */
  blobDeleted(key: string, snapshotsOnly: boolean): void {
    const chain = this.live.get(key);
    if (!chain) return;
    if (snapshotsOnly) {
      for (const p of chain.points) delete p.snapshot;
      this.compact(chain);
    } else {
      this.kill(chain);
    }
  }

  containerDeleted(account: string, container: string): void {
    const prefix = `${account}/${container}/`;
    for (const [key, chain] of [...this.live]) if (key.startsWith(prefix)) this.kill(chain);
  }

  accountDeleted(account: string): void {
    const prefix = `${account}/`;
    for (const [key, chain] of [...this.live]) if (key.startsWith(prefix)) this.kill(chain);
  }

  // ---- queries ------------------------------------------------------------------------------------

  /** Whether `ep` is a state the tracker knows (a tracked live blob, or one of its tracked snapshots). */
  knows(ep: Endpoint): boolean {
    return this.resolve(ep) !== undefined;
  }

  /**
   * Pages that may differ between two content states, or undefined when tracking cannot tell (then the
   * caller compares content). Symmetric in its arguments.
   */
  changedBetween(a: Endpoint, b: Endpoint): RangeSet | undefined {
    const pa = this.resolve(a);
    const pb = this.resolve(b);
    if (!pa || !pb) return undefined;
    const ancA = this.ancestry(pa);
    const ancB = this.ancestry(pb);
    const sets: RangeSet[] = [];
    for (let i = 0; i < ancA.path.length; i++) {
      const j = ancB.path.findIndex((p) => p.chain === ancA.path[i]!.chain);
      if (j < 0) continue;
      for (let k = 0; k < i; k++) sets.push(...this.toCreation(ancA.path[k]!));
      for (let k = 0; k < j; k++) sets.push(...this.toCreation(ancB.path[k]!));
      const x = ancA.path[i]!;
      const y = ancB.path[j]!;
      const lo = Math.min(x.index, y.index);
      const hi = Math.max(x.index, y.index);
      sets.push(...x.chain.dirty.slice(lo, hi));
      return RangeSet.union(sets);
    }
    if (ancA.root === 'zero' && ancB.root === 'zero') {
      for (const p of ancA.path) sets.push(...this.toCreation(p));
      for (const p of ancB.path) sets.push(...this.toCreation(p));
      return RangeSet.union(sets);
    }
    return undefined;
  }

  /** Number of chains (live and kept for lineage) - for tests and metrics. */
  get chainCount(): number {
    return this.chains.size;
  }

  // ---- persistence --------------------------------------------------------------------------------

  toJSON(): TrackerState {
    return {
      version: 1,
      nextId: this.nextId,
      chains: [...this.chains.values()].map((c) => ({
        id: c.id,
        key: c.key,
        live: c.live,
        origin: c.origin,
        points: c.points.map((p) => ({ ...p })),
        dirty: c.dirty.map((d) => d.toJSON()),
      })),
    };
  }

  static fromJSON(state: TrackerState): ChangeTracker {
    const t = new ChangeTracker();
    if (state.version !== 1) return t;
    t.nextId = state.nextId;
    for (const c of state.chains) {
      const chain: Chain = {
        id: c.id,
        key: c.key,
        live: c.live,
        origin: c.origin,
        points: c.points.map((p) => ({ ...p })),
        dirty: c.dirty.map((d) => RangeSet.fromJSON(d)),
      };
      t.chains.set(chain.id, chain);
      if (chain.live) t.live.set(chain.key, chain);
    }
    return t;
  }

  // ---- internals ----------------------------------------------------------------------------------

  private newChain(key: string, origin: Origin): Chain {
    const chain: Chain = {
      id: this.nextId++,
      key,
      live: true,
      origin,
      points: [{ id: this.nextId++, refs: 0 }],
      dirty: [new RangeSet()],
    };
    this.chains.set(chain.id, chain);
    this.live.set(key, chain);
    return chain;
  }

  private pushPoint(chain: Chain, snapshot: string | undefined): Point {
    const point: Point = { id: this.nextId++, refs: 0 };
    if (snapshot !== undefined) point.snapshot = snapshot;
    chain.points.push(point);
    chain.dirty.push(new RangeSet());
    return point;
  }

  /** A live chain nobody can ask about any more (no snapshots, no copies made from it). */
  private isReplaceable(chain: Chain): boolean {
    return chain.points.every((p) => p.snapshot === undefined && p.refs === 0);
  }

  private replaceOrDirty(key: string, origin: Origin): void {
    const chain = this.live.get(key);
    if (chain && !this.isReplaceable(chain)) {
      chain.dirty[chain.dirty.length - 1]!.add(0, INFINITY);
      return;
    }
    if (chain) this.kill(chain);
    this.newChain(key, origin);
  }

  private kill(chain: Chain): void {
    if (this.live.get(chain.key) === chain) this.live.delete(chain.key);
    chain.live = false;
    for (const p of chain.points) delete p.snapshot;
    this.compact(chain);
    this.collect(chain);
  }

  /** Drops points (other than the first) nobody can refer to, merging their dirty sets backwards. */
  private compact(chain: Chain): void {
    for (let i = chain.points.length - 1; i >= 1; i--) {
      const p = chain.points[i]!;
      if (p.snapshot !== undefined || p.refs > 0) continue;
      chain.dirty[i - 1]!.addSet(chain.dirty[i]!);
      chain.points.splice(i, 1);
      chain.dirty.splice(i, 1);
    }
  }

  /** Removes a dead chain no copy refers to, and releases its own origin. */
  private collect(chain: Chain): void {
    if (chain.live || chain.points.some((p) => p.refs > 0)) return;
    this.chains.delete(chain.id);
    this.releaseOrigin(chain.origin);
  }

  private resolve(ep: Endpoint): Position | undefined {
    const chain = this.live.get(ep.key);
    if (!chain) return undefined;
    if (ep.snapshot === undefined || ep.snapshot === '') return { chain, index: chain.points.length };
    const s = normalizeSnapshot(ep.snapshot);
    const index = chain.points.findIndex((p) => p.snapshot === s);
    return index < 0 ? undefined : { chain, index };
  }

  private ancestry(pos: Position): { path: Position[]; root: 'zero' | null } {
    const path: Position[] = [pos];
    let chain = pos.chain;
    for (;;) {
      const o = chain.origin;
      if (o === null || o === 'zero') return { path, root: o };
      const parent = this.chains.get(o.chainId);
      const index = parent?.points.findIndex((p) => p.id === o.pointId) ?? -1;
      if (!parent || index < 0) return { path, root: null };
      path.push({ chain: parent, index });
      chain = parent;
    }
  }

  private toCreation(pos: Position): RangeSet[] {
    return pos.chain.dirty.slice(0, pos.index);
  }
}
