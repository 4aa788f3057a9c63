/**
 * A promise-based wake-up for the loops of a VM's worker: a loop that has nothing to do sleeps until its
 * next deadline, but another part can wake it at once (a captured cycle wakes apply, a sync-now request
 * or a resync wakes capture). Stopping aborts the wait, so a loop never outlives its session.
 */

/** wait(ms) resolves on notify(), after ms, and rejects when aborted. */
export class Wakeup {
  private readonly waiters = new Set<() => void>();
  notify(): void {
    const woken = [...this.waiters];
    this.waiters.clear();
    for (const w of woken) w();
  }
  /** How many waits are pending (each wait leaves the set when it ends, however it ends). */
  get waiting(): number {
    return this.waiters.size;
  }
  async wait(ms: number, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal.removeEventListener('abort', onAbort);
      };
      const done = () => {
        settle();
        resolve();
      };
      const onAbort = () => {
        settle();
        reject(signal.reason as Error);
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.waiters.add(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
