/**
 * The CapacityAtRisk verdicts of the VMs, in memory: each with when and for what (region, zone, sizes) it
 * was asked, so that a verdict is asked again only once per interval (the drift check's) or when what it
 * depends on changed. An operator restart forgets them: the next pass asks again. A check that throws keeps
 * the last verdict until the next interval. What a region offers is read once per interval for all the VMs
 * failing over there (on Azure the SKU list of a region is large).
 */
import type { CapacityVerdict, RegionCapacity } from '../../azure/capacity.ts';

interface Checked {
  key: string;
  at: number;
  verdict?: CapacityVerdict;
}

/** The verdicts by VM (namespace/name), with when and for what they were asked. */
export class CapacityChecks {
  readonly intervalMs: number;
  private readonly byVm = new Map<string, Checked>();
  private readonly regions = new Map<string, { at: number; read: Promise<RegionCapacity> }>();

  constructor(intervalMs: number) {
    this.intervalMs = intervalMs;
  }

  /** The verdict for `key`, asking `check` when none is fresh. */
  async verdict(vm: string, key: string, check: () => Promise<CapacityVerdict>, now = Date.now()): Promise<CapacityVerdict | undefined> {
    const last = this.byVm.get(vm);
    if (last && last.key === key && now - last.at < this.intervalMs) return last.verdict;
    const entry: Checked = { key, at: now, ...(last?.verdict ? { verdict: last.verdict } : {}) };
    this.byVm.set(vm, entry);
    try {
      entry.verdict = await check();
    } catch {
      // The last verdict stands, and the check is asked again at the next pass (not an interval later).
      if (last) this.byVm.set(vm, last);
      else this.byVm.delete(vm);
    }
    return entry.verdict;
  }

  /** The region's capacity, read by `read` at most once per interval (a failed read is not kept). */
  region(location: string, read: () => Promise<RegionCapacity>, now = Date.now()): Promise<RegionCapacity> {
    const key = location.toLowerCase();
    const cached = this.regions.get(key);
    if (cached && now - cached.at < this.intervalMs) return cached.read;
    const entry = { at: now, read: read() };
    this.regions.set(key, entry);
    entry.read.catch(() => {
      if (this.regions.get(key) === entry) this.regions.delete(key);
    });
    return entry.read;
  }
}
