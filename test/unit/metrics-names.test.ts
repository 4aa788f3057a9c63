// Every Prometheus metric the Helm chart's alerts and autoscalers query is one the code exports.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { registry } from '../../src/runtime/metrics.ts';
import '../../src/datapath/metrics.ts';

const chart = join(import.meta.dirname, '..', '..', 'charts', 'site-recovery-operator');

describe('metric names', () => {
  it('the chart queries only metrics the operator and the datapath export', async () => {
    const exported = new Set((await registry.getMetricsAsJSON()).flatMap((m) => [m.name, `${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`]));
    const files = [...readdirSync(join(chart, 'templates')).map((f) => join(chart, 'templates', f)), join(chart, 'values.yaml')];
    const queried = new Set(files.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/\bsite_recovery_[a-z_]+\b/g)].map((m) => m[0])));
    expect(queried.size).toBeGreaterThan(3);
    expect([...queried].filter((name) => !exported.has(name))).toEqual([]);
  });
});
