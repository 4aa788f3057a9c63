/**
 * Bounded concurrency with back-pressure: submit() waits for a free slot (so a producer never runs ahead
 * of the transfers by more than `limit` tasks, which bounds memory), the first failure stops everything,
 * drain() waits for the rest and rethrows that failure.
 */
export class TaskPool {
  private readonly limit: number;
  private running = 0;
  private readonly waiters: Array<() => void> = [];
  private readonly idle: Array<() => void> = [];
  private failure: { error: unknown } | undefined;

  constructor(limit: number) {
    this.limit = Math.max(1, limit);
  }

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Starts `task` once a slot is free; resolves when it started (not when it finished). */
  async submit(task: () => Promise<void>): Promise<void> {
    while (this.running >= this.limit && !this.failure) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.failure) throw this.failure.error;
    this.running += 1;
    void task()
      .catch((error: unknown) => {
        this.failure ??= { error };
      })
      .finally(() => {
        this.running -= 1;
        this.waiters.shift()?.();
        if (this.failure) for (const w of this.waiters.splice(0)) w();
        if (this.running === 0) for (const w of this.idle.splice(0)) w();
      });
  }

  /** Waits for every started task; throws the first failure. */
  async drain(): Promise<void> {
    while (this.running > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    if (this.failure) throw this.failure.error;
  }
}

/** Tracks out-of-order completions of items 0, 1, 2, ...: `watermark` is the first item not yet done. */
export class Watermark {
  private next: number;
  private readonly done = new Set<number>();

  constructor(start = 0) {
    this.next = start;
  }

  get value(): number {
    return this.next;
  }

  complete(index: number): void {
    this.done.add(index);
    while (this.done.delete(this.next)) this.next += 1;
  }
}
