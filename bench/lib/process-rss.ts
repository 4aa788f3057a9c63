// A child process's resident memory, read from /proc/<pid>/status: its current RSS (VmRSS) and its peak
// (VmHWM, the kernel's high-water mark, so a peak between two samples is not missed). Shared by the
// operator, datapath and fleet benchmarks.
import fs from 'node:fs';

/** VmRSS or VmHWM of `pid` in MiB; NaN once the process is gone. */
export function rssMiB(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): number {
  try {
    return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
  } catch {
    return NaN; // process gone
  }
}

/** Samples VmHWM every `everyMs` and keeps the highest seen (it survives the process's exit). */
export function peakRss(pid: number | undefined, everyMs = 200): { sample(): void; readonly peakMiB: number; stop(): void } {
  let peak = 0;
  const sample = () => {
    const hwm = rssMiB(pid, 'VmHWM');
    if (hwm > peak) peak = hwm;
  };
  const timer = setInterval(sample, everyMs);
  return {
    sample,
    get peakMiB() {
      return peak;
    },
    stop() {
      sample();
      clearInterval(timer);
    },
  };
}

/** The p-th percentile (nearest rank below) of `values`; NaN for none. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
