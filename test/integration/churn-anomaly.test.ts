// A clean point after ransomware, end to end: the real operator and datapath (in this process) against
// the real API server and local Azure. An idle VM learns its baseline; the sandbox workload's `encrypt`
// pattern rewrites every allocated block; the datapath marks that cycle's point and the later ones
// suspect, the ReplicatedVM gets ChurnAnomaly and an event; a Test failover with recoveryPoint LatestClean
// comes up from the point before the burst, its disks byte for byte the source's before it; clearing the
// anomaly (site-recovery clear-anomaly) makes new points clean again. The rule itself: test/unit/churn-baseline.test.ts.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StorageSharedKeyCredential } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHURN_ANOMALY_CONDITION, SUSPECT_LABEL } from '../../src/api/contract.ts';
import type { RecoveryPoint, ReplicatedVM } from '../../src/api/types.ts';
import { runWorkload } from '../../sandbox/src/workload/index.ts';
import { diskBlob, listRecoveryPoints, writeRandom } from '../support/datapath-sandbox.ts';
import { waitForEvents } from '../support/events.ts';
import { finished, startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import { enforceShippedRoles, nothingRefused } from '../support/shipped-roles.ts';
import { REPO_ROOT } from '../support/helm.ts';
import { conditionIs } from '../support/operator-fixtures.ts';
import { waitForObject } from '../support/wait.ts';

const DISK_BYTES = 8 * 1024 * 1024;
const vmName = 'app';

let fx: FailoverFixture;
const vmRef = () => ({ namespace: fx.ns, name: vmName });
const cycleOf = (vm: ReplicatedVM | undefined) => vm?.status?.replication?.cycle ?? 0;
const suspect = (p: RecoveryPoint) => p.metadata.labels?.[SUSPECT_LABEL] === 'true' && p.status?.suspect === true;

beforeAll(async () => {
  fx = await startFailoverFixture({ principals: true, namespacePrefix: 'churn', rg: 'churn-src', vmName, disks: 2, diskBytes: DISK_BYTES });
  enforceShippedRoles(fx.sb);
  for (const [i, id] of fx.sourceDiskIds.entries()) await writeRandom(diskBlob(fx.sb, id), 2 * 1024 * 1024, 1024 * 1024 * (1 + i));
  await fx.runInProcess('dp-churn');
  await fx.protect(2);
  // An idle VM's baseline is 0 B per cycle, so any rewrite above minBytes (one 64 KiB write is) is anomalous.
  await fx.clients.policies.mergePatch({ namespace: fx.ns, name: 'fast' }, { spec: { churnAnomaly: { factor: 10, minBytes: '32Ki', baselineCycles: 5 } } });
});

afterAll(async () => {
  await fx?.close();
});

describe('churn anomaly', () => {
  let before: string[];
  let anomaly: NonNullable<NonNullable<ReplicatedVM['status']>['churnAnomaly']>;

  it('an encrypt burst marks its point and the later ones suspect; ChurnAnomaly, an event', async () => {
    const learnt = cycleOf(await fx.clients.vms.get(vmRef())) + 4; // three idle cycles learnt, at least
    await waitForObject(fx.kc, fx.clients.vms, vmRef(), (o) => cycleOf(o) >= learnt, 'baseline learnt', 60_000);
    before = await Promise.all(fx.sourceDiskIds.map((id) => fx.diskHash(id)));

    const account = fx.sb.storage.diskAccount;
    const credential = new StorageSharedKeyCredential(account, fx.sb.storage.accountKey(account));
    const burst = await runWorkload({ diskIds: fx.sourceDiskIds, storage: fx.sb.storage, credential, rateBytesPerSec: 256 * 1024 * 1024, durationMs: 30_000, pattern: 'encrypt' });
    expect(burst.bytesWritten).toBe(2 * 2 * 1024 * 1024); // every allocated block of both disks, once
    expect(await Promise.all(fx.sourceDiskIds.map((id) => fx.diskHash(id)))).not.toEqual(before);

    const flagged = await waitForObject(fx.kc, fx.clients.vms, vmRef(), (o) => conditionIs(CHURN_ANOMALY_CONDITION, 'True')(o) && cycleOf(o) > (o?.status?.churnAnomaly?.cycle ?? Infinity), 'ChurnAnomaly and a later point', 60_000);
    anomaly = flagged!.status!.churnAnomaly!;
    expect(anomaly.reason).toMatch(/^cycle \d+: disk (os|lun0) changed \d+\.\d MiB, its baseline being 0 B/);
    expect(flagged?.status?.conditions?.find((c) => c.type === CHURN_ANOMALY_CONDITION)?.message).toContain(`LatestClean is ${anomaly.lastCleanPoint}`);

    const points = await listRecoveryPoints(fx.kc, fx.ns, vmName);
    const later = points.filter((p) => (p.spec.cycle ?? 0) >= anomaly.cycle);
    const earlier = points.filter((p) => (p.spec.cycle ?? 0) < anomaly.cycle);
    expect(later.length).toBeGreaterThanOrEqual(2);
    expect(later.filter((p) => !suspect(p)).map((p) => p.metadata.name)).toEqual([]);
    expect(later.find((p) => p.spec.cycle === anomaly.cycle)?.status?.suspectReason).toBe(anomaly.reason);
    expect(earlier.filter((p) => p.metadata.labels?.[SUSPECT_LABEL] || p.status?.suspect).map((p) => p.metadata.name)).toEqual([]);
    expect(anomaly.lastCleanPoint).toBe(earlier.sort((a, b) => (b.spec.cycle ?? 0) - (a.spec.cycle ?? 0))[0]?.metadata.name);
    expect(anomaly.firstSuspectPoint).toBe(later.find((p) => p.spec.cycle === anomaly.cycle)?.metadata.name);

    const [event] = await waitForEvents(fx.kc, fx.ns, vmName, 'ChurnAnomaly', 1);
    expect(event?.type).toBe('Warning');
    expect(event?.message).toContain(`the last clean point ${anomaly.lastCleanPoint} is kept`);
  });

  it('LatestClean fails over to the point before the burst: disks equal the source before it, byte for byte', async () => {
    await fx.failovers.create(fx.ns, { metadata: { name: 'clean' }, spec: { replicatedVMName: vmName, type: 'Test', recoveryPoint: 'LatestClean' } });
    const fo = await waitForObject(fx.kc, fx.failovers, { namespace: fx.ns, name: 'clean' }, finished, 'LatestClean test failover', 120_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    expect(fo?.status?.recoveryPointName).toBe(anomaly.lastCleanPoint);
    expect(fo?.status?.recoveryPointReason).toContain('not suspect');
    const disks = (fo?.status?.targetResources ?? []).filter((r) => r.kind === 'Disk');
    const failedOver = await fx.diskIdsOf(fo!.status!.targetVirtualMachineId!.split('/')[4]!, fo!.status!.targetVirtualMachineId!.split('/').at(-1)!);
    expect(failedOver).toHaveLength(2);
    expect(disks).toHaveLength(2);
    expect(await Promise.all(failedOver.map((id) => fx.diskHash(id)))).toEqual(before);
  });

  it('site-recovery clear-anomaly ends it: condition False, an event, new points clean again', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'churn-cli-'));
    const kubeconfig = path.join(dir, 'kubeconfig');
    fs.writeFileSync(kubeconfig, fx.kc.exportConfig());
    // Not spawnSync: the operator and the datapath run in this process and must go on while the command waits.
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'clear-anomaly', vmName, '-n', fx.ns, '--wait', '--timeout', '60s'], {
      env: { ...process.env, KUBECONFIG: kubeconfig, LOG_LEVEL: 'error' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = { stdout: '', stderr: '', status: null as number | null };
    child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
    out.status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    fs.rmSync(dir, { recursive: true, force: true });
    expect(out.stderr).toBe('');
    expect(out.stdout).toMatch(new RegExp(`^clear-anomaly \\S+ requested for ${vmName} \\(anomaly of cycle ${anomaly.cycle}\\)\\ncleared\\n$`));
    expect(out.status).toBe(0);

    const cleared = await fx.clients.vms.get(vmRef());
    expect(cleared?.status?.churnAnomaly).toBeUndefined();
    expect(cleared?.status?.conditions?.find((c) => c.type === CHURN_ANOMALY_CONDITION)).toMatchObject({ status: 'False', reason: 'ChurnNormal' });
    await waitForEvents(fx.kc, fx.ns, vmName, 'ChurnAnomalyCleared', 1);
    const next = cycleOf(cleared) + 1;
    await waitForObject(fx.kc, fx.clients.vms, vmRef(), (o) => cycleOf(o) >= next, 'a point after the clear', 60_000);
    const fresh = (await listRecoveryPoints(fx.kc, fx.ns, vmName)).filter((p) => (p.spec.cycle ?? 0) >= next);
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh.filter((p) => p.metadata.labels?.[SUSPECT_LABEL] || p.status?.suspect).map((p) => p.metadata.name)).toEqual([]);
  });
});

nothingRefused(() => fx.sb);
