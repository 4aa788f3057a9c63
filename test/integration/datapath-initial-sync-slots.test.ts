// A replica runs at most --initial-sync-concurrency initial syncs at once (src/datapath/initial-sync-slots.ts,
// issue #17: a replica taking many new VMs at once held all their transfers in flight). One in-process
// replica with a limit of 1: a VM whose source was deleted keeps failing its initial capture; it gives its
// slot back at each failure, so two healthy VMs added later still get their turns and seal points (had
// it kept the slot through its backoff, they would wait forever); while one syncs, the other reports in
// its Replicating condition that it waits for its turn.
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ReplicatedVM } from '../../src/api/types.ts';
import { buildDatapath, type Datapath } from '../../src/datapath/datapath.ts';
import { findCondition } from '../../src/runtime/conditions.ts';
import { createPolicy, createProtectedVm, replicatedVms, startDatapathSandbox, type DatapathSandbox } from '../support/datapath-sandbox.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';

const small = { dataDisks: 0, diskBytes: 4 * 1024 * 1024, seedBytes: 256 * 1024 };
let sb: DatapathSandbox;
let kc: KubeConfig;
let ns: string;
let datapath: Datapath;
const stop = new AbortController();
let running: Promise<void> | undefined;

const metrics = async () => (await fetch(`http://127.0.0.1:${datapath.port}/metrics`)).text();

beforeAll(async () => {
  sb = await startDatapathSandbox();
  kc = testKubeConfig();
  ns = await createTestNamespace(kc, 'sync-slots');
  await createPolicy(kc, ns, 'fast', { recoveryPointInterval: '1m', retention: '1h' });
  const gone = await createProtectedVm(sb, kc, ns, 'gone', small);
  await sb.c.compute.virtualMachines.beginDeleteAndWait(gone.sourceVmId.split('/')[4]!, 'gone', { updateIntervalInMs: 50 });
  datapath = buildDatapath({
    kubeConfig: kc,
    azure: sb.azure,
    identity: 'dp-slots',
    namespace: ns,
    watchNamespace: ns,
    port: 0,
    leaseDurationMs: 3000,
    worker: { cycleIntervalMs: 2000, statusIntervalMs: 300, retryMs: 300, initialSyncConcurrency: 1 },
  });
  running = datapath.run(stop.signal);
}, 120_000);

afterAll(async () => {
  stop.abort();
  await running;
  await sb?.close();
});

describe('initial-sync slots', () => {
  it('a failing VM gives its turn back; a VM waiting its turn says so, then syncs', async () => {
    // The broken VM took the only slot and failed its initial capture (its restore point: 404).
    await vi.waitFor(async () => expect(await metrics()).toMatch(/site_recovery_datapath_errors_total\{stage="capture",[^}]*\} [1-9]/), { timeout: 30_000, interval: 200 });
    // Each healthy VM's first restore point takes 3 s: whichever syncs first keeps the other waiting.
    for (const name of ['app-1', 'app-2']) sb.arm.faults.inject({ kind: 'hang', method: 'PUT', path: new RegExp(`/${name}-${ns}-rpc/restorePoints/`, 'i'), delayMs: 3000, count: 1 });
    await Promise.all(['app-1', 'app-2'].map((name) => createProtectedVm(sb, kc, ns, name, small)));

    const messages = new Set<string>();
    let sealed: ReplicatedVM[] = [];
    await vi.waitFor(
      async () => {
        const items = (await replicatedVms(kc).list(ns)).items.filter((o) => o.metadata.name !== 'gone');
        for (const o of items) messages.add(findCondition(o.status?.conditions, 'Replicating')?.message ?? '');
        sealed = items.filter((o) => o.status?.lastRecoveryPoint);
        expect(sealed.map((o) => o.metadata.name).sort()).toEqual(['app-1', 'app-2']);
      },
      { timeout: 60_000, interval: 100 },
    );
    expect([...messages].some((m) => /^waiting for its turn since \S+: at most 1 VM\(s\) run their initial sync at once on replica dp-slots$/.test(m)), [...messages].join('\n')).toBe(true);
    expect(await metrics()).toMatch(/site_recovery_datapath_initial_syncs\{state="waiting"\} \d/);
    expect(datapath.owned).toEqual([`${ns}/app-1`, `${ns}/app-2`, `${ns}/gone`]);
  });
});
