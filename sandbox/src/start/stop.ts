/**
 * When `start` stops: on a signal (the foreground process forwards the terminal's Ctrl-C), when the
 * foreground process disappears (IPC disconnect), or after --duration. A second request hurries: what is
 * still running after it is killed instead of waiting for its graceful shutdown.
 */
import { formatSeconds } from '../../../src/cli/live-view.ts';

export class StopRequests {
  private readonly stop = new AbortController();
  private readonly hurried = new AbortController();
  private readonly durationTimer: NodeJS.Timeout | undefined;
  /** Why the supervisor stops (the signal, the disconnect, the elapsed --duration); empty until then. */
  reason = '';

  constructor(durationMs: number | undefined) {
    const onSignal = (signal: NodeJS.Signals) => this.request(signal);
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
    process.on('disconnect', () => this.request('the foreground process is gone'));
    this.durationTimer = durationMs !== undefined ? setTimeout(() => this.request(`--duration ${formatSeconds(durationMs / 1000)} elapsed`), durationMs) : undefined;
  }

  /** Aborted at the first request: the running step ends and the orderly stop begins. */
  get signal(): AbortSignal {
    return this.stop.signal;
  }

  /** Aborted at the second request: kill what is left. */
  get hurry(): AbortSignal {
    return this.hurried.signal;
  }

  /** The orderly stop has begun: --duration can no longer request it. */
  stopping(): void {
    clearTimeout(this.durationTimer);
  }

  private request(reason: string): void {
    if (this.stop.signal.aborted) {
      this.hurried.abort();
      return;
    }
    this.reason = reason;
    this.stop.abort();
  }
}
