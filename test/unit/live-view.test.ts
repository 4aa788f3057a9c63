// The live view of `site-recovery start` (rendering, plain log, metrics parsing, rates) and the text of
// the drill report: pure functions, no processes.
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { formatDrillReport } from '../../src/cli/drill-command.ts';
import type { DrillReport } from '../../src/cli/drill-run.ts';
import { CounterRate, parseMetrics } from '../../src/cli/live-view-sources.ts';
import { formatBytes, formatSeconds, PlainLog, progressBar, renderFrame, type LiveViewModel } from '../../src/cli/live-view.ts';

const NOW = Date.parse('2026-11-25T12:05:30Z');

function model(over: Partial<LiveViewModel> = {}): LiveViewModel {
  return {
    now: NOW,
    startedAt: NOW - 130_000,
    header: ['kubectl   source .sandbox/env; kubectl get siterecovery'],
    vms: [
      { namespace: 'default', name: 'app-vm-1', phase: 'Protected', syncPercent: 100, rpoSeconds: 14.4, lastPoint: { name: 'app-vm-1-000005', time: '2026-11-25T12:05:16Z' }, points: 5, health: 'Normal', owner: 'datapath-1' },
      { namespace: 'default', name: 'db-vm-2', phase: 'InitialSync', syncPercent: 42.7, syncBytesPerSecond: 12 * 1024 * 1024, points: 0, health: 'Normal', owner: 'datapath-0' },
    ],
    replicas: [
      { name: 'datapath-0', up: true, ownedVms: 1, captureBytesPerSecond: 1.5 * 1024 * 1024, applyBytesPerSecond: 1024 * 1024, backlogBytes: 3 * 1024 * 1024 },
      { name: 'datapath-1', up: false },
    ],
    operator: { up: true, leader: true },
    failovers: [{ name: 'app-vm-1-drill-x7k2q', vm: 'app-vm-1', type: 'Test', phase: 'Running', step: 'CreateDisks' }],
    workload: 'random writes at 256 KiB/s to app-vm-1 (os, lun0, lun1); 12 MiB written',
    footer: ['demo: the datapath seals a recovery point every 15s'],
    ...over,
  };
}

describe('live view', () => {
  it('draws a progress bar of the asked width, with eighths on a terminal', () => {
    expect(progressBar(0, 10, false)).toBe('[----------]');
    expect(progressBar(50, 10, false)).toBe('[#####-----]');
    expect(progressBar(100, 10, false)).toBe('[##########]');
    expect(progressBar(100, 8, true)).toBe('████████');
    expect(progressBar(0, 8, true)).toBe('░░░░░░░░');
    expect(progressBar(42.7, 16, true)).toBe('██████▊░░░░░░░░░');
    for (const p of [0, 3, 42.7, 99.9, 100, 140, -5]) expect([...progressBar(p, 16, true)]).toHaveLength(16);
  });

  it('formats durations and sizes compactly', () => {
    expect(formatSeconds(undefined)).toBe('-');
    expect(formatSeconds(14.4)).toBe('14s');
    expect(formatSeconds(75)).toBe('1m15s');
    expect(formatSeconds(3725)).toBe('1h02m');
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GiB');
    expect(formatBytes(undefined)).toBe('-');
  });

  it('shows each VM with phase, sync bar, RPO, last point, health and replica, and each replica with its share and throughput', () => {
    const lines = renderFrame(model(), { width: 140, color: false, unicode: true });
    const text = lines.join('\n');
    expect(lines[0]).toContain('up 2m10s');
    expect(lines[0]).toContain('12:05:30');
    const vm1 = lines.find((l) => l.includes('app-vm-1 '))!;
    expect(vm1).toMatch(/app-vm-1\s+Protected\s+█{16}\s+100%\s+14s\s+12:05:16\s+5\s+Normal\s+datapath-1/);
    const vm2 = lines.find((l) => l.includes('db-vm-2'))!;
    expect(vm2).toMatch(/InitialSync\s+██████▊░+\s+42% 12 MiB\/s/);
    expect(lines.find((l) => l.includes('datapath-0') && l.includes('up'))).toMatch(/datapath-0\s+up\s+1\s+50%\s+1\.5 MiB\/s\s+1\.0 MiB\/s\s+3\.0 MiB/);
    expect(lines.find((l) => l.startsWith(' datapath-1'))).toMatch(/datapath-1\s+down\s+-\s+-/);
    expect(text).toContain('operator   up, leader');
    expect(text).toMatch(/failover\s+app-vm-1-drill-x7k2q\s+Test of app-vm-1\s+Running\s+CreateDisks/);
    const done = renderFrame(model({ failovers: [{ name: 'app-vm-1-drill-x7k2q', vm: 'app-vm-1', type: 'Test', phase: 'Succeeded', rtoSeconds: 3, deleted: true }] }), { width: 140, color: false, unicode: true });
    expect(done.join('\n')).toMatch(/Test of app-vm-1\s+Succeeded\s+RTO 3s, cleaned up/);
    expect(text).toContain('12 MiB written');
    expect(text).toContain('kubectl get siterecovery');
    expect(text).not.toContain('\x1b');
  });

  it('never draws a line wider than the terminal, colours or not', () => {
    for (const width of [40, 80, 100]) {
      for (const color of [false, true]) {
        const lines = renderFrame(model(), { width, color, unicode: true });
        for (const line of lines) expect([...stripVTControlCharacters(line)].length, line).toBeLessThanOrEqual(width);
        if (color) expect(lines.join('\n')).toContain('\x1b[');
      }
    }
  });

  it('says so when there is nothing to show yet', () => {
    const m = model({ vms: [], failovers: [] });
    const text = renderFrame({ ...m, replicas: [...m.replicas, { name: 'datapath-2', up: false, starting: true }] }, { width: 120, color: false, unicode: false }).join('\n');
    expect(text).toContain('(no ReplicatedVM yet)');
    expect(text).toMatch(/datapath-0\s+up\s+1\s+-/); // no share without VMs
    expect(text).toMatch(/datapath-2\s+starting\s+-/);
  });

  it('without a terminal, logs a VM when something a person cares about changes, and everything periodically', () => {
    const lines: string[] = [];
    const log = new PlainLog((l) => lines.push(l), 10_000);
    const m = model({ failovers: [] });
    log.update(m);
    expect(lines.filter((l) => l.includes(' vm '))).toHaveLength(2);
    expect(lines.some((l) => l.includes('datapath datapath-0 up vms=1 share=50%'))).toBe(true);
    expect(lines.at(-1)).toContain('operator up leader');
    lines.length = 0;

    // One second later, only the RPO moved: nothing to say.
    log.update({ ...m, now: NOW + 1000, vms: m.vms.map((v) => ({ ...v, rpoSeconds: (v.rpoSeconds ?? 0) + 1 })) });
    expect(lines).toEqual([]);

    // The sync crossed a tenth, and the first VM got a new point.
    const vms = [{ ...m.vms[0]!, lastPoint: { name: 'app-vm-1-000006', time: '2026-11-25T12:05:31Z' }, rpoSeconds: 1 }, { ...m.vms[1]!, syncPercent: 51 }];
    log.update({ ...m, now: NOW + 2000, vms });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\[12:05:32\] vm app-vm-1 phase=Protected sync=100% rpo=1s lastPoint=12:05:31 points=5 health=Normal replica=datapath-1$/);
    expect(lines[1]).toContain('vm db-vm-2 phase=InitialSync sync=51%');
    lines.length = 0;

    log.update({ ...m, now: NOW + 10_000, vms });
    expect(lines.length).toBeGreaterThanOrEqual(5);
  });
});

describe('metrics', () => {
  it('sums a metric over its label sets and skips comments and non-numbers', () => {
    const m = parseMetrics(
      [
        '# HELP site_recovery_datapath_applied_bytes_total Bytes written',
        '# TYPE site_recovery_datapath_applied_bytes_total counter',
        'site_recovery_datapath_applied_bytes_total{namespace="default",name="a"} 100',
        'site_recovery_datapath_applied_bytes_total{namespace="default",name="b"} 50',
        'site_recovery_datapath_owned_vms 2',
        'site_recovery_leader 1',
        'weird{le="+Inf"} NaN',
        '',
      ].join('\n'),
    );
    expect(m.get('site_recovery_datapath_applied_bytes_total')).toBe(150);
    expect(m.get('site_recovery_datapath_owned_vms')).toBe(2);
    expect(m.get('site_recovery_leader')).toBe(1);
    expect(m.has('weird')).toBe(false);
  });

  it('computes a counter rate over a sliding window and starts again after a reset', () => {
    const r = new CounterRate(10_000);
    expect(r.rate).toBeUndefined();
    r.add(0, 0);
    r.add(2000, 2048);
    expect(r.rate).toBe(1024);
    r.add(20_000, 2048); // the window moved past the burst
    r.add(22_000, 2048);
    expect(r.rate).toBe(0);
    r.add(24_000, 10); // the process restarted
    expect(r.rate).toBeUndefined();
    r.add(25_000, 1010);
    expect(r.rate).toBe(1000);
  });
});

describe('drill report', () => {
  const report: DrillReport = {
    vm: 'app-vm-1',
    namespace: 'default',
    type: 'Test',
    verify: 'Full',
    pass: true,
    failoverRequest: 'app-vm-1-drill-x84bx',
    phase: 'Succeeded',
    requestTime: '2026-11-25T17:17:48Z',
    recoveryPoint: { name: 'app-vm-1-000002', time: '2026-11-25T17:17:42.729Z', consistency: 'CrashConsistent' },
    rpoSeconds: 5,
    rtoSeconds: 1,
    targetVirtualMachineId: '/subscriptions/s/resourceGroups/app-rg-asr/providers/Microsoft.Compute/virtualMachines/app-vm-1-test-d987e',
    bytesVerified: 2 * 1024 ** 3,
    bytesRead: 512 * 1024 ** 2,
    verifySeconds: 3.5,
    disks: [
      { name: 'os', pass: true, sizeBytes: 1024 ** 3, method: 'Full', bytesVerified: 1024 ** 3, bytesRead: 256 * 1024 ** 2, sha256: 'a'.repeat(64), expected: { kind: 'RecoveryPointSnapshot', ref: 'x', sha256: 'a'.repeat(64) } },
      { name: 'lun0', pass: true, sizeBytes: 1024 ** 3, method: 'Full', bytesVerified: 1024 ** 3, bytesRead: 256 * 1024 ** 2, sha256: 'b'.repeat(64), expected: { kind: 'RecoveryPointSnapshot', ref: 'y', sha256: 'b'.repeat(64) } },
    ],
    cleanup: { state: 'Done', seconds: 6.3, resourcesRemoved: 4 },
    durationSeconds: 25.9,
  };

  it('reads as a report: point, RPO, RTO, each disk, bytes verified, cleanup, verdict', () => {
    const text = formatDrillReport(report);
    expect(text).toContain('DR drill of default/app-vm-1 (Test failover)');
    expect(text).toMatch(/RPO at failover\s+5 s \(requested 17:17:48, point captured 17:17:42\)/);
    expect(text).toMatch(/RTO\s+1 s/);
    expect(text).toMatch(/os\s+1\.0 GiB\s+aaaaaaaaaaaa… = aaaaaaaaaaaa…\s+PASS/);
    expect(text).toMatch(/disks \(sha256 of the failed-over disk = sha256 of the recovery point replica snapshot\)/);
    expect(text).toMatch(/bytes verified\s+2\.0 GiB in 3\.5 s \(full; 512 MiB of disk data read by this process\)/);
    expect(text).toMatch(/cleanup\s+4 test resource\(s\) removed in 6\.3 s/);
    expect(text).toMatch(/result\s+PASS in 25\.9 s/);
    expect(text).not.toContain('\x1b');
  });

  it('shows what failed', () => {
    const failed: DrillReport = {
      ...report,
      pass: false,
      disks: [{ ...report.disks[0]!, pass: false, sha256: 'c'.repeat(64), error: 'content differs' }],
      error: 'failover Failed: DiskImportFailed',
    };
    const text = formatDrillReport(failed);
    expect(text).toMatch(/os\s+1\.0 GiB\s+cccccccccccc… ≠ aaaaaaaaaaaa…\s+FAIL\s+content differs/);
    expect(text).toMatch(/error\s+failover Failed: DiskImportFailed/);
    expect(text).toMatch(/result\s+FAIL/);
  });

  it('by checksums: what storage compared per disk, nothing read; a mismatch names the first differing offset', () => {
    const checksums: DrillReport = {
      ...report,
      verify: 'Checksums',
      pass: false,
      bytesVerified: 1024 ** 3,
      bytesRead: 0,
      disks: [
        { name: 'os', pass: true, sizeBytes: 1024 ** 3, method: 'Checksums', bytesVerified: 1024 ** 3, bytesRead: 0, bytesCompared: 24 * 1024 ** 2, seconds: 0.4, expected: { kind: 'RecoveryPointSnapshot', ref: 'x' } },
        { name: 'lun0', pass: false, sizeBytes: 1024 ** 3, method: 'Checksums', bytesVerified: 0, bytesRead: 0, bytesCompared: 24 * 1024 ** 2, seconds: 0.6, firstDifferingOffset: 9438720, expected: { kind: 'RecoveryPointSnapshot', ref: 'y' }, error: 'content differs at offset 9438720 (1 differing 4 MiB chunk(s))' },
      ],
    };
    const text = formatDrillReport(checksums);
    expect(text).toMatch(/disks \(CRC-64s storage computed of each 4 MiB of the failed-over disk = those of the recovery point replica snapshot\)/);
    expect(text).toMatch(/os\s+1\.0 GiB\s+24 MiB compared by checksums in 0\.4 s\s+PASS/);
    expect(text).toMatch(/lun0\s+1\.0 GiB\s+24 MiB compared by checksums in 0\.6 s\s+FAIL\s+content differs at offset 9438720/);
    expect(text).toMatch(/bytes verified\s+1\.0 GiB in 3\.5 s \(checksums; 0 B of disk data read by this process\)/);
    expect(text).toMatch(/result\s+FAIL/);
  });
});
