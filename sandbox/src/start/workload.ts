/**
 * The sample workload of `start`: random writes at --workload-rate to every disk of the sample VM until the
 * supervisor stops, or until a real (not Test) failover of the sample VM begins, since a real failover shuts
 * the source VM down and its applications stop writing. Its line in the live view says what it does.
 */
import type { FailoverRequest } from '../../../src/api/types.ts';
import { formatBytes, formatRate } from '../../../src/cli/live-view.ts';
import { parseRate } from '../units.ts';
import { runWorkload } from '../workload/index.ts';
import type { SampleDisk } from './sample.ts';

const FOREVER_MS = 365 * 24 * 3600_000;

export class SampleWorkload {
  private readonly controller = new AbortController();
  private running: Promise<void> | undefined;
  private line = '';
  private bytes = 0;

  /** Starts writing (not with a rate of '0'); `vmName` names the VM in the live view. */
  start(disks: SampleDisk[], workloadRate: string, vmName: string): void {
    const rate = workloadRate === '0' ? 0 : parseRate(workloadRate);
    if (rate <= 0) return;
    this.line = `random writes at ${formatRate(rate)} to ${vmName} (os, lun0, lun1)`;
    this.running = runWorkload({
      diskBlobUrls: disks.map((d) => d.url),
      credential: disks[0]!.credential,
      rateBytesPerSec: rate,
      durationMs: FOREVER_MS,
      pattern: 'random',
      signal: this.controller.signal,
      onProgress: (p) => (this.bytes = p.bytesWritten),
    }).then(
      () => undefined,
      (error: unknown) => void (this.line = `failed: ${error instanceof Error ? error.message : String(error)}`),
    );
  }

  /** A real failover of the ReplicatedVM `rvmName` shuts the source VM `vmName` down: its applications stop writing. */
  stopOnFailover(f: FailoverRequest, rvmName: string | undefined, vmName: string): void {
    if (f.spec.type === 'Test' || f.spec.replicatedVMName !== rvmName || this.controller.signal.aborted) return;
    this.controller.abort();
    if (this.running) this.line = `stopped: ${f.spec.type} failover ${f.metadata.name} shuts ${vmName} down`;
  }

  /** The live view's line, if a workload was started. */
  view(): string | undefined {
    return this.line ? `${this.line}; ${formatBytes(this.bytes)} written` : undefined;
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.running;
  }
}
