// Per-blob admission control at the managed-disk front.
//  - shared:    page writes (many at once);
//  - exclusive: operations that must see no write in flight - snapshot creation, copy, recreation,
//               resize, delete, diffs of the live blob - so that change tracking knows exactly which
//               writes precede them;
//  - freeze:    holds (queues) new writes while a caller takes a multi-disk restore point; waits until
//               the writes already in flight have completed. Snapshot-kind exclusive operations still pass.
// Waiting exclusive operations block new shared ones (no starvation of snapshots under a steady write load).

export type ExclusiveKind = 'write' | 'snapshot';

class Gate {
  active = 0;
  held: ExclusiveKind | undefined;
  waitingExclusive = 0;
  frozen = 0;
  private inside = 0;
  private waiters: Array<() => void> = [];

  idle(): boolean {
    return this.active === 0 && this.held === undefined && this.waitingExclusive === 0 && this.frozen === 0 && this.inside === 0;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /**
   * Waits until cond() holds and runs take() in the same synchronous step as the successful check: no
   * other waiter can run between them (an `await` between check and update would let two incompatible
   * holders in).
   */
  private async until(cond: () => boolean, take: () => void = () => {}): Promise<void> {
    if (cond()) {
      take();
      return;
    }
    // Counted while inside: woken waiters are off the list but not yet re-checked, and the gate must not
    // look idle (and be dropped from the map) meanwhile.
    this.inside++;
    try {
      for (;;) {
        await new Promise<void>((resolve) => this.waiters.push(resolve));
        if (cond()) {
          take();
          return;
        }
      }
    } finally {
      this.inside--;
    }
  }

  async shared(): Promise<void> {
    await this.until(
      () => this.held === undefined && this.waitingExclusive === 0 && this.frozen === 0,
      () => this.active++,
    );
  }

  releaseShared(): void {
    this.active--;
    this.wake();
  }

  async exclusive(kind: ExclusiveKind): Promise<void> {
    this.waitingExclusive++;
    await this.until(
      () => this.held === undefined && this.active === 0 && (kind === 'snapshot' || this.frozen === 0),
      () => {
        this.waitingExclusive--;
        this.held = kind;
      },
    );
  }

  releaseExclusive(): void {
    this.held = undefined;
    this.wake();
  }

  async freeze(): Promise<void> {
    this.frozen++;
    // Drain writes in flight; an exclusive *write* in flight (Put Blob, resize, copy) must finish too.
    await this.until(() => this.active === 0 && this.held !== 'write');
  }

  unfreeze(): void {
    this.frozen--;
    this.wake();
  }
}

export type Release = () => void;

export class Gates {
  private readonly gates = new Map<string, Gate>();

  private get(key: string): Gate {
    let g = this.gates.get(key);
    if (!g) {
      g = new Gate();
      this.gates.set(key, g);
    }
    return g;
  }

  private done(key: string, g: Gate): void {
    if (g.idle() && this.gates.get(key) === g) this.gates.delete(key);
  }

  async shared(key: string): Promise<Release> {
    const g = this.get(key);
    await g.shared();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      g.releaseShared();
      this.done(key, g);
    };
  }

  /** Exclusive on several keys (acquired in sorted order: no deadlock between multi-key operations). */
  async exclusive(keys: Array<{ key: string; kind: ExclusiveKind }>): Promise<Release> {
    const sorted = [...new Map(keys.map((k) => [k.key, k])).values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const acquired: Array<[string, Gate]> = [];
    try {
      for (const { key, kind } of sorted) {
        const g = this.get(key);
        await g.exclusive(kind);
        acquired.push([key, g]);
      }
    } catch (err) {
      for (const [key, g] of acquired) {
        g.releaseExclusive();
        this.done(key, g);
      }
      throw err;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const [key, g] of acquired) {
        g.releaseExclusive();
        this.done(key, g);
      }
    };
  }

  async freeze(keys: string[]): Promise<Release> {
    const unique = [...new Set(keys)];
    const gates = unique.map((k) => [k, this.get(k)] as const);
    // Raise all freezes first (new writes to any of the blobs queue from here on), then drain.
    const drained = gates.map(([, g]) => g.freeze());
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      for (const [key, g] of gates) {
        g.unfreeze();
        this.done(key, g);
      }
    };
    await Promise.all(drained);
    return release;
  }

  /** For tests: number of gates currently tracked. */
  get size(): number {
    return this.gates.size;
  }
}
