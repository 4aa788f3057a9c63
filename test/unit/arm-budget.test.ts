// The ARM budget (issue #17): its configuration (ARM's published buckets by default, `--arm-budget` /
// SITE_RECOVERY_ARM_BUDGET, refusals), a replica's share as token buckets that requests wait on (resized
// by membership, abortable, by kind of request), the cost of a VM-cycle, the fleet's stretch factor and
// the IntervalInfeasible arithmetic, and the datapath's pacing.
import { createPipelineRequest, type PipelineResponse, createHttpHeaders } from '@azure/core-rest-pipeline';
import { describe, expect, it, vi } from 'vitest';
import type { ReplicatedVM } from '../../src/api/types.ts';
import { ARM_PUBLISHED_BUCKETS, armOperationKind, budgetLimitsOf, formatArmBudget, parseArmBudget, scaleBudget } from '../../src/azure/arm-budget.ts';
import { ArmBudgetGate, armBudgetPolicy } from '../../src/azure/arm-budget-gate.ts';
import { AzureClients, azureConfigFromEnvironment } from '../../src/azure/clients.ts';
import { StaticTokenCredential } from '../../src/azure/credential.ts';
import { cycleCostUnchanged } from '../../src/controllers/replication-policy.ts';
import { costsCycles, cycleCost, cycleDisks, demandOf, policyFeasibility, stretchOf } from '../../src/azure/cycle-cost.ts';
import { armBudgetOption } from '../../src/cli/options.ts';
import { Pacing } from '../../src/datapath/pacing.ts';

const vm = (disks: number, phase?: string, deleting = false): ReplicatedVM =>
  ({
    metadata: { name: 'v', namespace: 'n', ...(deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
    spec: { sourceVirtualMachineId: '/x', targetLocation: 'northeurope', policyRef: { name: 'p' }, networkMappingRef: { name: 'm' } },
    status: { ...(phase ? { phase } : {}), disks: Array.from({ length: disks }, (_, i) => ({ name: `d${i}`, sourceDiskId: `/d${i}`, sizeBytes: 1 })) },
  }) as unknown as ReplicatedVM;

describe('ARM budget configuration', () => {
  it("defaults to ARM's published buckets and parses size@refill per kind, or off", () => {
    expect(ARM_PUBLISHED_BUCKETS).toEqual({ reads: { size: 250, refillPerSecond: 25 }, writes: { size: 200, refillPerSecond: 10 }, deletes: { size: 200, refillPerSecond: 10 } });
    expect(parseArmBudget('writes=8@0.4')).toEqual({ ...ARM_PUBLISHED_BUCKETS, writes: { size: 8, refillPerSecond: 0.4 } });
    expect(parseArmBudget(' reads=10@1, writes=8@0.4 ,deletes=8@0.4')).toEqual({ reads: { size: 10, refillPerSecond: 1 }, writes: { size: 8, refillPerSecond: 0.4 }, deletes: { size: 8, refillPerSecond: 0.4 } });
    expect(parseArmBudget('off')).toBeUndefined();
    expect(formatArmBudget(ARM_PUBLISHED_BUCKETS)).toBe('reads=250@25,writes=200@10,deletes=200@10');
    expect(formatArmBudget(undefined)).toBe('off');
    expect(scaleBudget(ARM_PUBLISHED_BUCKETS, 0.04).writes).toEqual({ size: 8, refillPerSecond: 0.4 });
  });

  it('refuses what is not a budget, with a message that shows the form', () => {
    expect(() => parseArmBudget('writes=200')).toThrow(/invalid ARM budget "writes=200" \(expected e\.g\. reads=250@25/);
    expect(() => parseArmBudget('puts=1@1')).toThrow(/invalid ARM budget/);
    expect(() => parseArmBudget('writes=0@1')).toThrow(/at least 1 token and refill at more than 0/);
    expect(() => parseArmBudget('writes=5@0')).toThrow(/at least 1 token and refill at more than 0/);
    expect(() => armBudgetOption('nonsense')).toThrow(/invalid ARM budget "nonsense"/);
    expect(armBudgetOption('off')).toBe('off');
  });

  it('comes from SITE_RECOVERY_ARM_BUDGET; absent means the published buckets, off means none', () => {
    const base = { AZURE_SUBSCRIPTION_ID: 's', SITE_RECOVERY_ACCESS_TOKEN: 't' };
    expect(budgetLimitsOf(azureConfigFromEnvironment('datapath', base))).toEqual(ARM_PUBLISHED_BUCKETS);
    expect(budgetLimitsOf(azureConfigFromEnvironment('datapath', { ...base, SITE_RECOVERY_ARM_BUDGET: 'off' }))).toBeUndefined();
    expect(budgetLimitsOf(azureConfigFromEnvironment('datapath', { ...base, SITE_RECOVERY_ARM_BUDGET: 'deletes=4@2' }))?.deletes).toEqual({ size: 4, refillPerSecond: 2 });
    expect(() => azureConfigFromEnvironment('datapath', { ...base, SITE_RECOVERY_ARM_BUDGET: 'deletes' })).toThrow(/invalid ARM budget/);
  });

  it('counts requests as ARM does: GET and HEAD read, DELETE deletes, the rest write', () => {
    expect(['GET', 'head', 'DELETE', 'PUT', 'PATCH', 'POST'].map(armOperationKind)).toEqual(['reads', 'reads', 'deletes', 'writes', 'writes', 'writes']);
  });
});

describe('a replica\'s share of the budget', () => {
  it('lets a full bucket through at once, then makes requests wait for the refill', async () => {
    // The bucket's clock (performance.now) and timers faked: the figures do not depend on the machine's load.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const gate = new ArmBudgetGate(parseArmBudget('writes=2@20')!);
      expect(await gate.take('writes')).toBe(0);
      expect(await gate.take('writes')).toBe(0);
      let waited: number | undefined;
      const third = gate.take('writes').then((ms) => (waited = ms));
      await vi.advanceTimersByTimeAsync(49);
      expect(waited, 'no token before the refill').toBeUndefined();
      await vi.advanceTimersByTimeAsync(1);
      await third;
      expect(waited).toBe(50); // one token every 50 ms
      expect(gate.remaining('reads')).toBe(250); // each kind has its own bucket
    } finally {
      vi.useRealTimers();
    }
  });

  it('takes budget / members: a second member halves the buckets and the refill', () => {
    const gate = new ArmBudgetGate(parseArmBudget('writes=8@0.4')!);
    expect(gate.share.writes).toEqual({ size: 8, refillPerSecond: 0.4 });
    gate.setMembers(2);
    expect(gate.members).toBe(2);
    expect(gate.share.writes).toEqual({ size: 4, refillPerSecond: 0.2 });
    expect(gate.remaining('writes')).toBe(4); // a bucket shrunk by a new member keeps at most its new size
    gate.setMembers(0);
    expect(gate.members).toBe(1);
    gate.setMembers(100);
    expect(gate.remaining('writes')).toBe(1); // never less than one token
  });

  it('stops waiting when the caller gives up', async () => {
    const gate = new ArmBudgetGate(parseArmBudget('deletes=1@0.01')!);
    await gate.take('deletes');
    const caller = new AbortController();
    const waiting = gate.take('deletes', caller.signal);
    caller.abort(new Error('the call deadline passed'));
    await expect(waiting).rejects.toThrow('the call deadline passed');
    await expect(gate.take('deletes', AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('as a pipeline policy: every request waits for a token of its kind before it is sent', async () => {
    const gate = new ArmBudgetGate(parseArmBudget('reads=1@0.01,writes=1@0.01')!);
    const policy = armBudgetPolicy(gate);
    const sent: string[] = [];
    const next = async (request: { method: string }) => {
      sent.push(request.method);
      return { status: 200, headers: createHttpHeaders(), request } as unknown as PipelineResponse;
    };
    await policy.sendRequest(createPipelineRequest({ url: 'https://arm/x', method: 'GET' }), next as never);
    await policy.sendRequest(createPipelineRequest({ url: 'https://arm/x', method: 'PUT' }), next as never);
    const caller = new AbortController();
    const third = policy.sendRequest(createPipelineRequest({ url: 'https://arm/x', method: 'GET', abortSignal: caller.signal }), next as never);
    caller.abort(new Error('gave up'));
    await expect(third).rejects.toThrow('gave up');
    expect(sent).toEqual(['GET', 'PUT']);
  });
});

describe('the gate in the ARM clients', () => {
  it('a call that cannot get a token within its deadline fails like one that got no answer, sending nothing', async () => {
    const gate = new ArmBudgetGate(parseArmBudget('reads=1@0.01')!);
    await gate.take('reads'); // the bucket is empty for the next 100 s
    // Nothing listens on port 9: a request that went out would fail with a connection error instead.
    const az = new AzureClients({ subscriptionId: 's', resourceManagerEndpoint: 'https://127.0.0.1:9', credential: new StaticTokenCredential('t'), callTimeoutMs: 300, maxRetries: 0 }, { gate });
    const started = performance.now();
    await expect(az.resources.resourceGroups.get('rg')).rejects.toMatchObject({ code: 'ETIMEDOUT', message: expect.stringContaining('no answer within the call deadline of 0.3s') });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(az.gate).toBe(gate);
  });
});

describe('what a VM-cycle costs, and the fleet against the budget', () => {
  it('a cycle: three reads, a restore point plus a grant and a revoke per disk, one delete', () => {
    expect(cycleCost(1)).toEqual({ reads: 3, writes: 3, deletes: 1 });
    expect(cycleCost(3)).toEqual({ reads: 3, writes: 7, deletes: 1 });
    expect(cycleDisks(vm(2))).toBe(2);
    expect(cycleDisks({ ...vm(0), status: {} } as ReplicatedVM)).toBe(1);
    expect([costsCycles(vm(1, 'Protected')), costsCycles(vm(1, 'FailedOver')), costsCycles(vm(1, 'Protected', true))]).toEqual([true, false, false]);
    expect(demandOf(vm(1), { recoveryPointInterval: '2m' })).toEqual({ cost: cycleCost(1), intervalMs: 120_000 });
    expect(demandOf(vm(1), undefined).intervalMs).toBe(300_000);
    expect(demandOf(vm(1), { recoveryPointInterval: '2m' }, 1500).intervalMs).toBe(1500);
  });

  it('stretches every interval by demand / refill of the scarcest kind, never below 1', () => {
    const budget = parseArmBudget('writes=8@0.4')!;
    const ten = Array.from({ length: 10 }, () => demandOf(vm(1), { recoveryPointInterval: '1m' }));
    // 10 VMs × 3 writes / 60 s = 0.5 writes/s against 0.4/s.
    expect(stretchOf(ten, budget)).toEqual({ factor: 1.25, kind: 'writes', demandPerSecond: 0.5, refillPerSecond: 0.4 });
    expect(stretchOf(ten.slice(0, 4), budget).factor).toBe(1);
    expect(stretchOf(ten, undefined).factor).toBe(1);
    expect(stretchOf([], budget).factor).toBe(1);
  });

  it('IntervalInfeasible: the arithmetic (VMs × calls per VM-cycle against the budget per interval) and the stretched interval', () => {
    const budget = parseArmBudget('writes=8@0.4')!;
    const own = Array.from({ length: 10 }, () => cycleCost(1));
    const fleet = own.map((cost) => ({ cost, intervalMs: 60_000 }));
    const result = policyFeasibility(60_000, own, fleet, budget);
    expect(result).toEqual({
      feasible: false,
      effectiveIntervalMs: 75_000,
      message: "recoveryPointInterval 1m cannot be met: 10 VM(s) × 3 writes per VM-cycle = 30 writes every 1m; the ARM budget allows 24 writes per 1m (0.4/s); every VM's cycles are stretched to 1m15s",
    });
    const fits = policyFeasibility(60_000, own.slice(0, 2), fleet.slice(0, 2), budget);
    expect(fits).toMatchObject({ feasible: true, effectiveIntervalMs: 60_000, message: '2 VM(s) × 3 writes per VM-cycle = 6 writes every 1m; the ARM budget allows 24 writes per 1m (0.4/s): the interval fits' });
    // The fleet shares the budget: a policy's own VMs fit, the whole subscription's do not.
    const shared = policyFeasibility(60_000, own.slice(0, 2), fleet, budget);
    expect(shared.feasible).toBe(false);
    expect(shared.message).toContain('2 VM(s) × 3 writes per VM-cycle = 6 writes every 1m; with the other 8 VM(s) of the subscription the fleet needs 0.5 writes/s');
    expect(policyFeasibility(60_000, [], fleet, budget)).toMatchObject({ feasible: true, message: 'no ReplicatedVM uses the policy' });
    expect(policyFeasibility(60_000, own, fleet, undefined)).toMatchObject({ feasible: true, message: 'no ARM budget is configured' });
  });

  it('the policies are looked at again when a VM\'s cycle cost changes, not for the datapath\'s status writes', () => {
    const before = vm(1, 'InitialSync');
    const progress = { ...before, status: { ...before.status, health: 'Normal' } } as ReplicatedVM;
    expect(cycleCostUnchanged(progress, before)).toBe(true);
    expect(cycleCostUnchanged(vm(2, 'InitialSync'), before)).toBe(false); // a disk registered
    expect(cycleCostUnchanged(vm(1, 'FailedOver'), before)).toBe(false); // its cycles stopped
    expect(cycleCostUnchanged({ ...before, metadata: { ...before.metadata, generation: 2 } } as ReplicatedVM, before)).toBe(false); // spec
    expect(cycleCostUnchanged(before, undefined)).toBe(false);
  });

  it("the datapath's pacing: one factor for the replica's VMs against its share", () => {
    const pacing = new Pacing();
    const vms = Array.from({ length: 6 }, () => vm(1));
    const gate = new ArmBudgetGate(parseArmBudget('writes=8@4')!);
    pacing.update(vms, () => 2_000, gate.share);
    expect(pacing.factor).toBe(2.25); // 6 VMs × 3 writes / 2 s = 9 writes/s against 4/s
    gate.setMembers(3);
    pacing.update(vms.slice(0, 2), () => 2_000, gate.share);
    expect(pacing.factor).toBeCloseTo(2.25); // a third of the VMs on a third of the budget
    pacing.update(vms.slice(0, 1), () => 2_000, gate.share);
    expect(pacing.factor).toBeCloseTo(1.125);
    pacing.update(vms, () => 60_000, gate.share);
    expect(pacing.factor).toBe(1);
    pacing.update(vms, () => 2_000, undefined);
    expect(pacing.factor).toBe(1);
  });
});
