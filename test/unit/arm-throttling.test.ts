// ARM's token buckets in the sandbox (sandbox/src/arm/throttling.ts) under a fake clock: sizes and refill
// rates as published, per principal and subscription-wide (15×), reads/writes/deletes apart, the
// remaining-requests headers, 429 with Retry-After and ARM's body, tenant-level requests, and the
// statistics `sandbox arm-stats` prints (sandbox/src/arm/stats.ts); Compute's limits on a VM's restore
// points (sandbox/src/arm/providers/compute/restore-point-limits.ts) over a stand-in store.
import { describe, expect, it } from 'vitest';
import type { ArmEngine } from '../../sandbox/src/arm/engine.ts';
import { checkRestorePointLimits, MAX_RESTORE_POINTS_PER_VM } from '../../sandbox/src/arm/providers/compute/restore-point-limits.ts';
import type { StoredResource } from '../../sandbox/src/arm/store.ts';
import { ArmStats, clientOf } from '../../sandbox/src/arm/stats.ts';
import { ArmThrottling, kindOf, principalOf, TokenBucket } from '../../sandbox/src/arm/throttling.ts';
import type { ThrottleRequest } from '../../sandbox/src/arm/throttling.ts';

const SUB = '00000000-0000-4000-8000-00000000a2a0';
const jwt = (claims: object): string => `Bearer x.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
const read = (authorization = 'Bearer one'): ThrottleRequest => ({ method: 'GET', subscriptionId: SUB, authorization });

function clocked(scale = 1): { t: ArmThrottling; advance: (ms: number) => void } {
  let now = 0;
  const t = new ArmThrottling({ enabled: true, scale }, () => now);
  return { t, advance: (ms) => (now += ms) };
}

describe('ARM token buckets', () => {
  it('is off unless enabled', () => {
    expect(new ArmThrottling().admit(read())).toBeUndefined();
  });

  it('gives a principal 250 reads refilled at 25/s, with the remaining counts in the headers', () => {
    const { t, advance } = clocked();
    const first = t.admit(read());
    expect(first).toEqual({
      throttled: false,
      kind: 'reads',
      headers: { 'x-ms-ratelimit-remaining-subscription-reads': '249', 'x-ms-ratelimit-remaining-subscription-global-reads': '3749' },
    });
    for (let i = 1; i < 250; i++) expect(t.admit(read())?.throttled).toBe(false);
    const refused = t.admit(read());
    expect(refused?.throttled).toBe(true);
    if (!refused?.throttled) return;
    expect(refused.error.status).toBe(429);
    expect(refused.error.headers['Retry-After']).toBe('1');
    expect(refused.error.toBody().error).toEqual({
      code: 'SubscriptionRequestsThrottled',
      message: expect.stringMatching(new RegExp(`^Number of 'read' requests for subscription '${SUB}' actor '[0-9a-f]+' exceeded\\. Please try again after '1' seconds after additional tokens are available\\. Refer to https://aka\\.ms/arm-throttling`)),
    });
    advance(40); // one token at 25/s
    expect(t.admit(read())?.throttled).toBe(false);
    expect(t.admit(read())?.throttled).toBe(true);
    advance(10_000); // full again, never above the size
    const again = t.admit(read());
    expect(again?.throttled === false && again.headers['x-ms-ratelimit-remaining-subscription-reads']).toBe('249');
  });

  it('keeps writes (200 at 10/s) and deletes (200 at 10/s) apart from reads, and says how long to wait', () => {
    const { t } = clocked(0.01); // writes: 2 tokens refilled at 0.1/s
    expect(kindOf('POST')).toBe('writes');
    expect(kindOf('PATCH')).toBe('writes');
    expect(kindOf('HEAD')).toBe('reads');
    const write = { method: 'PUT', subscriptionId: SUB, authorization: 'Bearer one' };
    const del = { ...write, method: 'DELETE' };
    expect(t.admit(write)).toMatchObject({ throttled: false, headers: { 'x-ms-ratelimit-remaining-subscription-writes': '1', 'x-ms-ratelimit-remaining-subscription-global-writes': '29' } });
    expect(t.admit(write)?.throttled).toBe(false);
    const refused = t.admit(write);
    expect(refused?.throttled && refused.error.headers['Retry-After']).toBe('10');
    expect(refused?.throttled && refused.error.message).toContain("Number of 'write' requests");
    expect(t.admit(del)).toMatchObject({ throttled: false, headers: { 'x-ms-ratelimit-remaining-subscription-deletes': '1' } });
    expect(t.admit(read())?.throttled).toBe(false);
  });

  it('counts each principal apart, and all of them together against 15 times a principal’s bucket', () => {
    const { t } = clocked(0.004); // reads: 1 token per principal, 15 subscription-wide
    expect(principalOf(jwt({ oid: 'p-1', sub: 'x' }))).toBe('p-1');
    expect(principalOf(jwt({ appid: 'app-2' }))).toBe('app-2');
    expect(principalOf('Bearer opaque')).toBe(principalOf('Bearer opaque'));
    expect(principalOf('Bearer opaque')).not.toBe(principalOf('Bearer other'));
    for (let p = 0; p < 15; p++) {
      expect(t.admit(read(jwt({ oid: `p-${p}` })))?.throttled, `principal ${p}`).toBe(false);
      expect(t.admit(read(jwt({ oid: `p-${p}` })))?.throttled, `principal ${p} again`).toBe(true);
    }
    const sixteenth = t.admit(read(jwt({ oid: 'p-15' })));
    expect(sixteenth?.throttled, 'the global bucket is empty').toBe(true);
  });

  it('throttles tenant-level requests with the tenant headers and code', () => {
    const { t } = clocked(0.004);
    const tenant = { method: 'GET', subscriptionId: undefined, authorization: 'Bearer one' };
    expect(t.admit(tenant)).toEqual({ throttled: false, kind: 'reads', headers: { 'x-ms-ratelimit-remaining-tenant-reads': '0' } });
    const refused = t.admit(tenant);
    expect(refused?.throttled && refused.error.code).toBe('TenantRequestsThrottled');
  });

  it('refuses a scale that is not a positive number, and refills the buckets on a change', () => {
    const { t } = clocked(0.004);
    expect(() => t.configure({ scale: 0 })).toThrow(/positive/);
    expect(() => t.configure({ scale: Number.NaN })).toThrow(/positive/);
    t.admit(read());
    expect(t.admit(read())?.throttled).toBe(true);
    t.configure({ scale: 0.008 });
    expect(t.admit(read())?.throttled).toBe(false);
  });

  it('a bucket never holds more than its size and waits at least a second', () => {
    const b = new TokenBucket(2, 0.5, 0);
    b.take(0);
    b.take(0);
    expect(b.remaining(0)).toBe(0);
    expect(b.secondsToNextToken(0)).toBe(2);
    expect(b.secondsToNextToken(1999)).toBe(1);
    expect(b.remaining(60_000)).toBe(2);
  });
});

describe('ARM request statistics', () => {
  it('counts reads, writes, deletes and 429s overall, by operation and by client', () => {
    const s = new ArmStats();
    const at = { path: '/x', time: '' };
    s.record({ ...at, method: 'GET', operation: 'GET Microsoft.Compute/disks', status: 200, userAgent: 'site-recovery-datapath azsdk-js-arm-compute/25.1.1 core-rest-pipeline/1.24.0 Node/24' });
    s.record({ ...at, method: 'GET', operation: 'GET Microsoft.Compute/disks', status: 429, userAgent: 'site-recovery-datapath azsdk-js-arm-compute/25.1.1' });
    s.record({ ...at, method: 'PUT', operation: 'PUT Microsoft.Compute/disks', status: 201, userAgent: 'site-recovery-operator/0.1.0 azsdk-js-arm-compute/25.1.1' });
    s.record({ ...at, method: 'POST', operation: 'POST Microsoft.Compute/disks/beginGetAccess', status: 202 });
    s.record({ ...at, method: 'DELETE', operation: 'DELETE Microsoft.Compute/disks', status: 202, userAgent: 'site-recovery-operator' });
    expect(s.summary()).toEqual({
      reads: 2,
      writes: 2,
      deletes: 1,
      throttled: 1,
      total: 5,
      byOperation: {
        'GET Microsoft.Compute/disks': { calls: 2, throttled: 1 },
        'PUT Microsoft.Compute/disks': { calls: 1, throttled: 0 },
        'POST Microsoft.Compute/disks/beginGetAccess': { calls: 1, throttled: 0 },
        'DELETE Microsoft.Compute/disks': { calls: 1, throttled: 0 },
      },
      byClient: {
        'site-recovery-datapath': { reads: 2, writes: 0, deletes: 0, throttled: 1 },
        'site-recovery-operator': { reads: 0, writes: 1, deletes: 1, throttled: 0 },
        unknown: { reads: 0, writes: 1, deletes: 0, throttled: 0 },
      },
    });
    expect(s.byOperation()['GET Microsoft.Compute/disks']).toBe(2);
    expect(clientOf('  ')).toBe('unknown');
    s.reset();
    expect(s.summary()).toEqual({ reads: 0, writes: 0, deletes: 0, throttled: 0, total: 0, byOperation: {}, byClient: {} });
  });
});

describe('Compute restore point limits', () => {
  const rg = '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute';
  const vm = { id: `${rg}/virtualMachines/vm1`, type: 'Microsoft.Compute/virtualMachines', resourceGroup: 'rg', body: { name: 'vm1' }, internal: {} } as StoredResource;
  const collection = (name: string, vmId = vm.id): StoredResource => ({ id: `${rg}/restorePointCollections/${name}`, type: 'Microsoft.Compute/restorePointCollections', resourceGroup: 'rg', body: { name, properties: { source: { id: vmId.toUpperCase() } } }, internal: {} });
  const point = (c: StoredResource, name: string, state = 'Succeeded'): StoredResource => ({ id: `${c.id}/restorePoints/${name}`, type: 'Microsoft.Compute/restorePointCollections/restorePoints', resourceGroup: 'rg', body: { name, properties: { provisioningState: state } }, internal: {} });
  const engine = (all: StoredResource[]): ArmEngine =>
    ({ store: { ofType: (t: string) => all.filter((r) => r.type === t), get: (id: string) => all.find((r) => r.id.toLowerCase() === id.toLowerCase()) } }) as unknown as ArmEngine;

  it('refuses a second creation for the VM in any of its collections, and more than 500 points', () => {
    const a = collection('a');
    const b = collection('b');
    const other = collection('c', `${rg}/virtualMachines/vm2`);
    expect(() => checkRestorePointLimits(engine([a, b, point(a, 'p1')]), vm, 'p2')).not.toThrow();
    expect(() => checkRestorePointLimits(engine([a, b, other, point(other, 'x', 'Creating')]), vm, 'p2')).not.toThrow();
    expect(() => checkRestorePointLimits(engine([a, b, point(a, 'p1', 'Creating')]), vm, 'p2')).toThrow(
      expect.objectContaining({ status: 409, code: 'Conflict', message: expect.stringContaining('concurrent creation of restore points for a VM is not supported') }),
    );
    const full = Array.from({ length: MAX_RESTORE_POINTS_PER_VM }, (_, i) => point(i % 2 ? a : b, `p${i}`));
    expect(MAX_RESTORE_POINTS_PER_VM).toBe(500);
    expect(() => checkRestorePointLimits(engine([a, b, ...full]), vm, 'one-more')).toThrow(expect.objectContaining({ status: 409, code: 'OperationNotAllowed' }));
    expect(() => checkRestorePointLimits(engine([a, b, ...full.slice(1)]), vm, 'one-more')).not.toThrow();
  });
});
