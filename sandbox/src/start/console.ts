/**
 * What `start` prints: one line per finished step with its duration, colours only on a terminal (and not
 * with NO_COLOR), paths relative to the working directory when they are below it.
 */
import path from 'node:path';
import { styleText } from 'node:util';
import type { StopRequests } from './stop.ts';

/** A step was not started because a stop was requested meanwhile. */
export class StartInterrupted extends Error {}

export class StartConsole {
  readonly out: NodeJS.WriteStream;
  readonly tty: boolean;
  readonly color: boolean;
  private readonly stop: StopRequests;

  constructor(out: NodeJS.WriteStream, stop: StopRequests) {
    this.out = out;
    this.stop = stop;
    this.tty = out.isTTY === true;
    this.color = this.tty && !process.env.NO_COLOR;
    stop.hurry.addEventListener('abort', () => this.print(this.paint('yellow', '  second signal: killing what is left')));
  }

  paint(style: Parameters<typeof styleText>[0], text: string): string {
    return this.color ? styleText(style, text, { validateStream: false }) : text;
  }

  print(line = ''): void {
    this.out.write(`${line}\n`);
  }

  /** A finished part of the procedure, with a green tick. */
  done(label: string): void {
    this.print(`  ${this.paint('green', '✓')} ${label}`);
  }

  /** Seconds since `t`, e.g. `1.5s`. */
  since(t: number): string {
    return `${((Date.now() - t) / 1000).toFixed(1)}s`;
  }

  /** `p` relative to the working directory when it is below it, else absolute. */
  rel(p: string): string {
    const r = path.relative(process.cwd(), p);
    return r === '' ? '.' : r.startsWith('..') ? p : r;
  }

  /** Runs one step of the procedure unless a stop was requested, and reports it done with its duration. */
  async step<T>(label: string, fn: () => Promise<T>): Promise<T> {
    if (this.stop.signal.aborted) throw new StartInterrupted();
    const t = Date.now();
    const result = await fn();
    this.done(`${label} ${this.paint('dim', this.since(t))}`);
    return result;
  }
}
