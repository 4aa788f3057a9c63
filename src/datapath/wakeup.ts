/**
 * A promise-based wake-up for the loops of a VM's worker: a loop that has nothing to do sleeps until its
 * next deadline, but another part can wake it at once (a captured cycle wakes apply, a sync-now request
 * or a resync wakes capture). Stopping aborts the wait, so a loop never outlives its session.
 */

/** wait(ms) resolves on notify(), after ms, and rejects when aborted. */
export class Wakeup {
  private waiters: Array<() => void> = [];
  notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  async wait(ms: number, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.waiters.push(done);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}
