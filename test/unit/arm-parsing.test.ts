// Pure parts of the ARM emulator and the sandbox CLI: ARM path parsing, IPv4 arithmetic, CLI units,
// env file round trip, fault rules and stats.
import { describe, expect, it } from 'vitest';
import { ArmStats, FaultInjector } from '../../sandbox/src/arm/faults.ts';
import { contains, firstFree, intToIp, ipToInt, isReserved, overlaps, parseCidr } from '../../sandbox/src/arm/ipv4.ts';
import { parentId, parseArmPath, parseResourceId, resourceTypeOf } from '../../sandbox/src/arm/paths.ts';
import { parseEnvFile, sandboxEnv } from '../../sandbox/src/state.ts';
import type { SandboxState } from '../../sandbox/src/state.ts';
import { parseDuration, parseRate, parseSize, sizeToGiB } from '../../sandbox/src/units.ts';

const sub = '/subscriptions/s1';

describe('ARM paths', () => {
  it('parses every request shape case-insensitively', () => {
    expect(parseArmPath(`${sub}/resourcegroups`)).toEqual({ kind: 'resourceGroups', sub: 's1' });
    expect(parseArmPath(`${sub}/resourceGroups/Rg`)).toEqual({ kind: 'resourceGroup', sub: 's1', rg: 'Rg' });
    expect(parseArmPath(`${sub}/operationresults/abc`)).toEqual({ kind: 'rgOperationResult', sub: 's1', opId: 'abc' });
    expect(parseArmPath(`${sub}/providers/Microsoft.Compute/locations/westeurope/operations/x`)).toEqual({
      kind: 'operation',
      sub: 's1',
      ns: 'Microsoft.Compute',
      location: 'westeurope',
      collection: 'operations',
      opId: 'x',
    });
    expect(parseArmPath(`${sub}/providers/Microsoft.Storage/checkNameAvailability`)).toEqual({
      kind: 'subscriptionProvider',
      sub: 's1',
      ns: 'Microsoft.Storage',
      segment: 'checkNameAvailability',
    });
    expect(parseArmPath(`${sub}/RESOURCEGROUPS/rg/PROVIDERS/Microsoft.Compute/virtualMachines/vm/start`)).toEqual({
      kind: 'resource',
      sub: 's1',
      rg: 'rg',
      ns: 'Microsoft.Compute',
      segments: ['virtualMachines', 'vm', 'start'],
    });
    expect(parseArmPath('/tenants/x').kind).toBe('unknown');
  });

  it('splits resource ids and finds types and parents', () => {
    const id = `${sub}/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/c/restorePoints/p/diskRestorePoints/d`;
    expect(parseResourceId(id)).toEqual({
      sub: 's1',
      rg: 'rg',
      ns: 'Microsoft.Compute',
      types: ['restorePointCollections', 'restorePoints', 'diskRestorePoints'],
      names: ['c', 'p', 'd'],
    });
    expect(resourceTypeOf(id)).toBe('microsoft.compute/restorepointcollections/restorepoints/diskrestorepoints');
    expect(parentId(id)).toBe(`${sub}/resourceGroups/rg/providers/Microsoft.Compute/restorePointCollections/c/restorePoints/p`);
    expect(parseResourceId(`${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines`)).toBeUndefined();
  });
});

describe('IPv4', () => {
  it('parses canonical CIDRs only, and tests containment and overlap', () => {
    expect(parseCidr('10.1.0.0/16')).toEqual({ base: ipToInt('10.1.0.0'), bits: 16, size: 65536 });
    expect(parseCidr('10.1.0.1/16')).toBeUndefined();
    expect(parseCidr('10.1.0.0')).toBeUndefined();
    expect(parseCidr('300.1.0.0/16')).toBeUndefined();
    const vnet = parseCidr('10.1.0.0/16')!;
    const sn = parseCidr('10.1.2.0/24')!;
    expect(contains(vnet, sn)).toBe(true);
    expect(contains(sn, vnet)).toBe(false);
    expect(overlaps(sn, parseCidr('10.1.2.128/25')!)).toBe(true);
    expect(overlaps(sn, parseCidr('10.1.3.0/24')!)).toBe(false);
    expect(intToIp(ipToInt('192.168.10.254')!)).toBe('192.168.10.254');
  });

  it('reserves the first four and the last address and allocates the first free one', () => {
    const sn = parseCidr('10.0.0.0/29')!;
    expect([0, 1, 2, 3, 7].map((i) => isReserved(sn, sn.base + i))).toEqual([true, true, true, true, true]);
    expect(isReserved(sn, sn.base + 4)).toBe(false);
    expect(intToIp(firstFree(sn, new Set())!)).toBe('10.0.0.4');
    expect(intToIp(firstFree(sn, new Set([sn.base + 4, sn.base + 5]))!)).toBe('10.0.0.6');
    expect(firstFree(sn, new Set([sn.base + 4, sn.base + 5, sn.base + 6]))).toBeUndefined();
  });
});

describe('CLI units', () => {
  it('parses sizes, rates and durations', () => {
    expect(parseSize('64GiB')).toBe(64 * 1024 ** 3);
    expect(parseSize('512MiB')).toBe(512 * 1024 ** 2);
    expect(parseSize('10MB')).toBe(10_000_000);
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('1.5KiB')).toBe(1536);
    expect(() => parseSize('5 parsecs')).toThrow(/invalid size/);
    expect(parseRate('5MiB/s')).toBe(5 * 1024 ** 2);
    expect(parseRate('100 KiB / s')).toBe(102400);
    expect(() => parseRate('5MiB')).toThrow(/invalid rate/);
    expect(parseDuration('60s')).toBe(60_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('2')).toBe(2000);
    expect(() => parseDuration('5 minutes')).toThrow(/invalid duration/);
    expect(sizeToGiB('64GiB')).toBe(64);
    expect(() => sizeToGiB('512MiB')).toThrow(/whole number of GiB/);
  });
});

describe('env file', () => {
  it('round-trips the sandbox environment through export lines', () => {
    const state: SandboxState = {
      version: 1,
      pid: 1,
      startedAt: '',
      dir: '/tmp/my sandbox',
      persist: false,
      caCertPath: "/tmp/my sandbox/ca's.crt",
      accessToken: 'a.b.',
      arm: { endpoint: 'https://127.0.0.1:1', port: 1, subscriptionId: 'sub' },
      storage: { endpoint: 'https://127.0.0.1:2/', diskAccount: 'd', diskAccountKey: 'k' },
      kube: { kubeconfig: '/tmp/kc', server: 'https://127.0.0.1:3' },
    };
    const env = sandboxEnv(state);
    const text = Object.entries(env)
      .map(([k, v]) => `export ${k}=${/^[\w@%+=:,./-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`}`)
      .join('\n');
    expect(parseEnvFile(text)).toEqual(env);
    expect(Object.keys(env)).toEqual(
      expect.arrayContaining(['KUBECONFIG', 'AZURE_SUBSCRIPTION_ID', 'AZURE_RESOURCE_MANAGER_ENDPOINT', 'SITE_RECOVERY_ACCESS_TOKEN', 'NODE_EXTRA_CA_CERTS']),
    );
  });
});

describe('fault injection and stats', () => {
  it('fires the first matching rule N times', () => {
    const f = new FaultInjector();
    f.inject({ kind: 'throttle', method: 'GET', path: '/virtualMachines/', count: 2 });
    f.inject({ kind: 'error', operation: 'PUT Microsoft.Compute/disks' });
    expect(f.take('PUT', '/x/virtualMachines/vm', 'PUT Microsoft.Compute/virtualMachines')).toBeUndefined();
    expect(f.take('GET', '/x/VIRTUALMACHINES/vm', 'GET Microsoft.Compute/virtualMachines')?.kind).toBe('throttle');
    expect(f.take('GET', '/x/virtualMachines/vm', 'GET Microsoft.Compute/virtualMachines')?.hits).toBe(2);
    expect(f.take('GET', '/x/virtualMachines/vm', 'GET Microsoft.Compute/virtualMachines')).toBeUndefined();
    expect(f.take('PUT', '/x/disks/d', 'put microsoft.compute/disks')?.kind).toBe('error');
    expect(f.list()).toEqual([]);
    f.inject({ kind: 'drop', path: /\/disks\/d$/ });
    expect(f.take('DELETE', '/x/disks/d', 'DELETE Microsoft.Compute/disks')?.kind).toBe('drop');
  });

  it('counts calls per operation and keeps a bounded request log', () => {
    const s = new ArmStats(3);
    for (let i = 0; i < 5; i++) s.record({ method: 'PUT', path: `/p${i}`, operation: 'PUT Microsoft.Compute/disks', status: 201, time: '' });
    s.record({ method: 'GET', path: '/q', operation: 'GET operationStatus', status: 200, time: '' });
    expect(s.count('put microsoft.compute/disks')).toBe(5);
    expect(s.byOperation()).toEqual({ 'PUT Microsoft.Compute/disks': 5, 'GET operationStatus': 1 });
    expect(s.requests().map((r) => r.path)).toEqual(['/p3', '/p4', '/q']);
    expect(s.requests({ method: 'put' }).length).toBe(2);
    s.reset();
    expect(s.total).toBe(0);
  });
});
