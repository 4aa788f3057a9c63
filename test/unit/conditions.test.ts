import { describe, expect, it } from 'vitest';
import { applyReadiness, findCondition, setCondition } from '../../src/runtime/conditions.ts';
import { formatDuration, parseDuration } from '../../src/util/duration.ts';

const t0 = new Date('2026-11-25T10:00:00Z');
const t1 = new Date('2026-11-25T10:05:00Z');

describe('conditions', () => {
  it('moves lastTransitionTime only when the status flips', () => {
    let list = setCondition([], { type: 'Ready', status: 'False', reason: 'Creating' }, 1, t0);
    list = setCondition(list, { type: 'Ready', status: 'False', reason: 'StillCreating', message: 'm' }, 2, t1);
    expect(findCondition(list, 'Ready')).toMatchObject({ reason: 'StillCreating', lastTransitionTime: t0.toISOString(), observedGeneration: 2 });
    list = setCondition(list, { type: 'Ready', status: 'True', reason: 'Available' }, 2, t1);
    expect(findCondition(list, 'Ready')?.lastTransitionTime).toBe(t1.toISOString());
    expect(list).toHaveLength(1);
  });

  it('writes the kstatus triple', () => {
    const progressing = applyReadiness([], { state: 'progressing', reason: 'CreatingStorage' }, 1, t0);
    expect(progressing.map((c) => `${c.type}=${c.status}`).sort()).toEqual(['Ready=False', 'Reconciling=True']);
    const stalled = applyReadiness(progressing, { state: 'stalled', reason: 'SourceVMNotFound', message: 'no such VM' }, 1, t1);
    expect(stalled.map((c) => `${c.type}=${c.status}`).sort()).toEqual(['Ready=False', 'Stalled=True']);
    const ready = applyReadiness(stalled, { state: 'ready', reason: 'Protected' }, 1, t1);
    expect(ready.map((c) => `${c.type}=${c.status}`)).toEqual(['Ready=True']);
  });
});

describe('durations', () => {
  it('parses Go-style durations and refuses words', () => {
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(() => parseDuration('five minutes')).toThrow(/invalid duration/);
  });
  it('formats compactly', () => {
    expect(formatDuration(130_000)).toBe('2m10s');
    expect(formatDuration(3_900_000)).toBe('1h5m');
    expect(formatDuration(0)).toBe('0s');
  });
});
