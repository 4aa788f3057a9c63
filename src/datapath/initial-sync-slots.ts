/**
 * How many of a replica's VMs run their initial sync at once (`--initial-sync-concurrency`). A VM's
 * initial sync copies every written byte of its disks, each disk's transfers running side by side; a
 * replica that takes 100 new VMs at once would hold all their requests and buffers in flight together
 * (its RSS grew by about 9 MiB per VM syncing). A VM takes a slot before its initial capture and gives it
 * back once its first recovery point is sealed, when its session ends, or when a step fails (it queues
 * again for its next attempt, so a VM whose Azure is gone does not hold a slot through its backoff).
 * Slots are handed out first come, first served: a VM waiting is never overtaken, and the worker reports
 * the wait in its status (worker-status.ts); the replica reports the counts as
 * site_recovery_datapath_initial_syncs{state="running"|"waiting"} (datapath.ts).
 * No import: the CLI reads the default from here without loading the datapath.
 */
/** The default limit (README, The datapath's memory: measured with `npm run bench -- fleet`). */
export const DEFAULT_INITIAL_SYNC_CONCURRENCY = 8;

/** A slot taken: give it back once (more calls do nothing). */
export interface InitialSyncSlot {
  release(): void;
}

interface Waiter {
  grant(): void;
}

export class InitialSyncSlots {
  readonly limit: number;
  private running = 0;
  private readonly queue: Waiter[] = [];

  private readonly onChange: (counts: { running: number; waiting: number }) => void;

  constructor(limit: number, onChange: (counts: { running: number; waiting: number }) => void = () => undefined) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`initial sync concurrency must be a whole number ≥ 1, not ${limit}`);
    this.limit = limit;
    this.onChange = onChange;
  }

  /** VMs running their initial sync, and VMs waiting for a slot. */
  get counts(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.queue.length };
  }

  /** Waits for a slot (first come, first served); rejects with the signal's reason if it aborts first. */
  acquire(signal: AbortSignal): Promise<InitialSyncSlot> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    if (this.running < this.limit && this.queue.length === 0) return Promise.resolve(this.take());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve(this.take());
        },
      };
      const onAbort = () => {
        this.queue.splice(this.queue.indexOf(waiter), 1);
        this.report();
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
      this.report();
    });
  }

  private take(): InitialSyncSlot {
    this.running++;
    this.report();
    let held = true;
    return {
      release: () => {
        if (!held) return;
        held = false;
        this.running--;
        this.queue.shift()?.grant();
        this.report();
      },
    };
  }

  private report(): void {
    this.onChange(this.counts);
  }
}
