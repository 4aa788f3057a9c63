/**
 * Long work started by a reconcile pass and looked at by later passes, so a work-queue worker is never held
 * for minutes: `poll` starts the task under its key the first time and answers its result once it has one;
 * `forget` aborts and drops it. Kept in memory only: after a restart a pass finds no task and starts again,
 * so a task must be safe to run twice.
 */
export type TaskResult<R> = { ok: true; value: R } | { ok: false; error: unknown };

export class BackgroundTasks<R> {
  private readonly tasks = new Map<string, { controller: AbortController; result?: TaskResult<R> }>();

  /** How many tasks run now (a caller bounds its concurrency with it). */
  get running(): number {
    return [...this.tasks.values()].filter((t) => !t.result).length;
  }

  has(key: string): boolean {
    return this.tasks.has(key);
  }

  /** The result of the task under `key`; undefined while it runs. Starts `run` when none is known. */
  poll(key: string, run: (signal: AbortSignal) => Promise<R>): TaskResult<R> | undefined {
    const known = this.tasks.get(key);
    if (known) return known.result;
    const task: { controller: AbortController; result?: TaskResult<R> } = { controller: new AbortController() };
    this.tasks.set(key, task);
    run(task.controller.signal).then(
      (value) => (task.result = { ok: true, value }),
      (error: unknown) => (task.result = { ok: false, error }),
    );
    return undefined;
  }

  /** Aborts the task under `key` if it still runs, and forgets it. */
  forget(key: string): void {
    this.tasks.get(key)?.controller.abort();
    this.tasks.delete(key);
  }
}
