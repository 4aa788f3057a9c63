// The churn rule (src/datapath/churn-baseline.ts) as properties: when a cycle is anomalous, what the
// baseline learns, and the policy's defaults. The worker's use of it (suspect points, LatestClean) is
// driven end to end by test/integration/churn-anomaly.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { anomalyReason, churnRuleOf, judgeCycle, median, parseBinaryBytes, WARMUP_CYCLES, type ChurnRule, type DiskChurn } from '../../src/datapath/churn-baseline.ts';

const MiB = 1024 ** 2;
const bytes = fc.integer({ min: 0, max: 4096 * MiB });
const rules = fc.record({ enabled: fc.constant(true), factor: fc.integer({ min: 2, max: 100 }), minBytes: fc.integer({ min: 0, max: 256 * MiB }), baselineCycles: fc.integer({ min: 3, max: 60 }) });
const diskNames = fc.uniqueArray(fc.constantFrom('os', 'lun0', 'lun1', 'lun2'), { minLength: 1, maxLength: 4 });

/** Samples for `names`, each window of at least `min` normal cycles (at most the rule's window). */
const samplesFor = (names: readonly string[], rule: ChurnRule, min = WARMUP_CYCLES) =>
  fc.tuple(...names.map(() => fc.array(bytes, { minLength: min, maxLength: Math.max(min, rule.baselineCycles) }))).map((windows) => Object.fromEntries(names.map((n, i) => [n, windows[i] ?? []])));

const cycleFor = (names: readonly string[]) => fc.tuple(...names.map(() => fc.record({ bytes, full: fc.boolean() }))).map((ds) => names.map((name, i) => ({ name, ...(ds[i] as { bytes: number; full: boolean }) })));

/** The rule, written as plainly as possible. */
function oracle(rule: ChurnRule, samples: Record<string, number[]>, disks: readonly DiskChurn[]): boolean {
  return disks.some((d) => {
    const w = samples[d.name] ?? [];
    return !d.full && w.length >= WARMUP_CYCLES && d.bytes > Math.max(rule.factor * median(w), rule.minBytes);
  });
}

describe('churn rule', () => {
  it('a cycle is anomalous exactly when one incremental disk changed more than max(factor × median, minBytes) after the warm-up', () => {
    fc.assert(
      fc.property(rules.chain((rule) => diskNames.chain((names) => fc.tuple(fc.constant(rule), samplesFor(names, rule, 0), cycleFor(names)))), ([rule, samples, disks]) => {
        expect(judgeCycle(rule, samples, disks).anomalous).toBe(oracle(rule, samples, disks));
      }),
    );
  });

  it('never flags before the warm-up, a full copy, a cycle within minBytes, or anything when disabled', () => {
    fc.assert(
      fc.property(rules, diskNames, fc.array(bytes, { maxLength: WARMUP_CYCLES - 1 }), bytes, (rule, names, short, changed) => {
        const warm = Object.fromEntries(names.map((n) => [n, [0, 0, 0]]));
        const disks = names.map((name) => ({ name, bytes: changed, full: false }));
        expect(judgeCycle(rule, Object.fromEntries(names.map((n) => [n, short])), disks).anomalous).toBe(false);
        expect(judgeCycle(rule, warm, disks.map((d) => ({ ...d, full: true }))).anomalous).toBe(false);
        expect(judgeCycle({ ...rule, minBytes: changed }, warm, disks).anomalous).toBe(false);
        expect(judgeCycle({ ...rule, enabled: false }, warm, disks).anomalous).toBe(false);
      }),
    );
  });

  it('an anomalous cycle stays anomalous with more churn; a normal one stays normal with less', () => {
    fc.assert(
      fc.property(rules.chain((rule) => diskNames.chain((names) => fc.tuple(fc.constant(rule), samplesFor(names, rule), cycleFor(names)))), fc.integer({ min: 0, max: 1024 * MiB }), ([rule, samples, disks], extra) => {
        const more = disks.map((d) => ({ ...d, bytes: d.bytes + extra }));
        const less = disks.map((d) => ({ ...d, bytes: Math.max(0, d.bytes - extra) }));
        if (judgeCycle(rule, samples, disks).anomalous) expect(judgeCycle(rule, samples, more).anomalous).toBe(true);
        else expect(judgeCycle(rule, samples, less).anomalous).toBe(false);
      }),
    );
  });

  it('does not depend on the unit: scaling every size and minBytes alike gives the same verdict', () => {
    fc.assert(
      fc.property(rules.chain((rule) => diskNames.chain((names) => fc.tuple(fc.constant(rule), samplesFor(names, rule), cycleFor(names)))), fc.integer({ min: 2, max: 512 }), ([rule, samples, disks], k) => {
        const scaled = Object.fromEntries(Object.entries(samples).map(([n, w]) => [n, w.map((b) => b * k)]));
        const verdict = judgeCycle({ ...rule, minBytes: rule.minBytes * k }, scaled, disks.map((d) => ({ ...d, bytes: d.bytes * k })));
        expect(verdict.anomalous).toBe(judgeCycle(rule, samples, disks).anomalous);
      }),
    );
  });

  it('learns a normal cycle: appended to each incremental disk, window at most baselineCycles, full copies and anomalies not learnt', () => {
    fc.assert(
      fc.property(rules.chain((rule) => diskNames.chain((names) => fc.tuple(fc.constant(rule), samplesFor(names, rule, 0), cycleFor(names)))), ([rule, samples, disks]) => {
        const verdict = judgeCycle(rule, samples, disks);
        if (verdict.anomalous) {
          expect(verdict.bytes).toBeGreaterThan(verdict.threshold);
          expect(Object.keys(verdict)).not.toContain('samples');
          return;
        }
        for (const d of disks) {
          const before = samples[d.name] ?? [];
          const after = verdict.samples[d.name] ?? [];
          expect(after.length).toBeLessThanOrEqual(rule.baselineCycles);
          expect(after).toEqual(d.full ? before : [...before, d.bytes].slice(-rule.baselineCycles));
        }
        expect(Object.keys(verdict.samples).sort()).toEqual(disks.map((d) => d.name).sort());
      }),
    );
  });

  it('one earlier burst does not hide the next: the median ignores it where a mean would not', () => {
    const rule: ChurnRule = { enabled: true, factor: 10, minBytes: 64 * MiB, baselineCycles: 30 };
    const usual = Array.from({ length: 29 }, () => 20 * MiB);
    const samples = { lun0: [...usual, 4096 * MiB] }; // a backup rewrote 4 GiB once, and was cleared
    expect(judgeCycle(rule, samples, [{ name: 'lun0', bytes: 1024 * MiB, full: false }])).toMatchObject({ anomalous: true, disk: 'lun0', baseline: 20 * MiB, threshold: 200 * MiB });
  });

  it('names the cycle, the disk, its churn and its baseline', () => {
    const rule: ChurnRule = { enabled: true, factor: 10, minBytes: 64 * MiB, baselineCycles: 30 };
    const verdict = judgeCycle(rule, { os: [MiB, MiB, MiB], lun0: [2 * MiB, 2 * MiB, 2 * MiB] }, [{ name: 'os', bytes: MiB, full: false }, { name: 'lun0', bytes: 512 * MiB, full: false }]);
    if (!verdict.anomalous) throw new Error('expected an anomaly');
    expect(anomalyReason(12, verdict, rule)).toBe('cycle 12: disk lun0 changed 512.0 MiB, 256.0x its baseline of 2.0 MiB (threshold 64.0 MiB: factor 10, minBytes 64.0 MiB, median of up to 30 cycles)');
  });

  it('reads the policy with the API defaults, and sizes with binary suffixes', () => {
    expect(churnRuleOf(undefined)).toEqual({ enabled: true, factor: 10, minBytes: 64 * MiB, baselineCycles: 30 });
    expect(churnRuleOf({ churnAnomaly: { enabled: false, factor: 4, minBytes: '1Gi', baselineCycles: 12 } })).toEqual({ enabled: false, factor: 4, minBytes: 1024 * MiB, baselineCycles: 12 });
    expect([parseBinaryBytes('4096'), parseBinaryBytes('32Ki'), parseBinaryBytes('2Ti')]).toEqual([4096, 32 * 1024, 2 * 1024 ** 4]);
    expect(() => parseBinaryBytes('64MB')).toThrow(/not a size in bytes/);
  });
});
