// Pure parts of re-protect and failback: the seeded comparison (which blocks travel), the step list of a
// failback, the name of the reverse ReplicatedVM and when a failover replaces its seed.
import { describe, expect, it } from 'vitest';
import type { ReplicatedVM } from '../../src/api/types.ts';
import { canApply, type TargetDisk } from '../../src/datapath/target.ts';
import { compareBlocks, COMPARE_BLOCK, isSeeded, SEED_METADATA } from '../../src/datapath/seed.ts';
import { failoverStepsFor, stepsFor } from '../../src/reconcilers/failover/procedures.ts';
import { failoverNames, replacesSeed, reverseName } from '../../src/reconcilers/failover/names.ts';
import { reverseMappings } from '../../src/reconcilers/reverse-mappings.ts';

const B = COMPARE_BLOCK;

describe('seeded comparison', () => {
  it('returns only the blocks that differ: data where the source has bytes, cleared where it has zeros', () => {
    const source = Buffer.alloc(6 * B, 7);
    const replica = Buffer.from(source);
    replica[B + 10] = 0; // block 1 differs: copy it
    replica.fill(9, 2 * B, 4 * B); // blocks 2-3 differ: one range
    source.fill(0, 5 * B); // block 5: zeros on the source, data on the replica: clear it
    const found = compareBlocks(source, replica, 1024 * 1024);
    expect(found.data).toEqual([{ start: 1024 * 1024 + B, end: 1024 * 1024 + 4 * B }]);
    expect(found.cleared).toEqual([{ start: 1024 * 1024 + 5 * B, end: 1024 * 1024 + 6 * B }]);
    expect(found.differing).toBe(4 * B);
  });

  it('finds nothing when both sides are equal, and handles a last block shorter than the comparison block', () => {
    const same = Buffer.alloc(B + 512, 3);
    expect(compareBlocks(same, Buffer.from(same), 0)).toEqual({ data: [], cleared: [], differing: 0 });
    const other = Buffer.from(same);
    other[B + 1] = 4;
    expect(compareBlocks(same, other, 0).data).toEqual([{ start: B, end: B + 512 }]);
  });

  it('applies a seeded cycle only onto a blob that took no cycle yet, and never clears it first', () => {
    const target = (applied: number, seed?: string): TargetDisk => ({ name: 'os', blob: undefined as never, sizeBytes: 0, applied, metadata: seed ? { [SEED_METADATA]: seed } : {} });
    const entry = { full: false, seeded: true, sizeBytes: 0, bytes: 0, chunks: 0, clears: 0, manifestMd5: '' };
    expect(canApply(target(0, 'd'), entry, 1)).toBe(true);
    expect(canApply(target(3, 'd'), entry, 4)).toBe(false);
    expect(isSeeded(target(0, '/Disks/D'), '/disks/d')).toBe(true);
    expect(isSeeded(target(0, '/disks/other'), '/disks/d')).toBe(false);
    expect(isSeeded(target(1, '/disks/d'), '/disks/d')).toBe(false);
  });
});

describe('failback and re-protect', () => {
  const vm = (seed: string | undefined, group = 'app-rg'): ReplicatedVM => ({
    apiVersion: 'siterecovery.io/v1alpha1',
    kind: 'ReplicatedVM',
    metadata: { name: 'app-reverse', namespace: 'ns' },
    spec: {
      sourceVirtualMachineId: '/subscriptions/s/resourceGroups/app-rg-asr/providers/Microsoft.Compute/virtualMachines/app',
      targetLocation: 'westeurope',
      policyRef: { name: 'p' },
      networkMappingRef: { name: 'n' },
      ...(seed ? { seedVirtualMachineId: seed } : {}),
    },
    status: { targetResourceGroupId: `/subscriptions/s/resourceGroups/${group}` },
  });

  it('replaces the seed only when it has the name and resource group the failed-back VM takes', () => {
    expect(replacesSeed(vm('/subscriptions/s/resourceGroups/APP-RG/providers/Microsoft.Compute/virtualMachines/App'))).toBe(true);
    expect(replacesSeed(vm('/subscriptions/s/resourceGroups/app-rg/providers/Microsoft.Compute/virtualMachines/other'))).toBe(false);
    expect(replacesSeed(vm('/subscriptions/s/resourceGroups/app-rg/providers/Microsoft.Compute/virtualMachines/app', 'elsewhere'))).toBe(false);
    expect(replacesSeed(vm(undefined))).toBe(false);
  });

  it('lists the replace step in a real failback only, and the re-protect steps once asked for', () => {
    expect(failoverStepsFor({ replicatedVMName: 'x', type: 'Planned' }, { replacesVirtualMachine: true })).toEqual([
      'ShutdownSource', 'FinalSync', 'SelectRecoveryPoint', 'CreateDisks', 'ReplaceVirtualMachine', 'CreateNetworkInterfaces', 'CreateVirtualMachine', 'StartVirtualMachine',
    ]);
    expect(failoverStepsFor({ replicatedVMName: 'x', type: 'Test' }, { replacesVirtualMachine: true })).not.toContain('ReplaceVirtualMachine');
    expect(stepsFor({ replicatedVMName: 'x', type: 'Unplanned', commit: true, reprotect: true }).slice(-4)).toEqual([
      'DeallocateSourceVirtualMachine', 'CreateReverseNetworkMapping', 'CreateReverseReplicatedVM', 'WaitForReverseInitialSync',
    ]);
  });

  it('names the reverse ReplicatedVM <name>-reverse, and goes back to the original name after a failback when it is free', () => {
    expect(reverseName('app', () => false)).toBe('app-reverse');
    expect(reverseName('app-reverse', () => false)).toBe('app');
    expect(reverseName('app-reverse', (n) => n === 'app')).toBe('app-reverse-reverse');
    expect(reverseName('app', () => true)).toBeUndefined();
  });

  it('gives the disks of each real failover their own names, so a failback never meets an earlier failover\'s disks', () => {
    const a = failoverNames({ metadata: { uid: 'one' }, spec: { type: 'Planned' } } as never, 'app');
    const b = failoverNames({ metadata: { uid: 'two' }, spec: { type: 'Planned' } } as never, 'app');
    expect(a.vm).toBe('app');
    expect(a.disk('os')).not.toBe(b.disk('os'));
    expect(a.disk('os')).toMatch(/^app-os-asr-[0-9a-f]{5}$/);
  });
});

describe('reverse mappings for re-protect', () => {
  const id = (type: string, name: string) => `/subscriptions/s/resourceGroups/rg/providers/${type}/${name}`;
  const lb = (n: string) => id('Microsoft.Network/loadBalancers', n);
  const asg = (n: string) => id('Microsoft.Network/applicationSecurityGroups', n);
  const des = (n: string) => id('Microsoft.Compute/diskEncryptionSets', n);
  const spec = (more: Partial<ReplicatedVM['spec']>) => ({ sourceVirtualMachineId: 'x', targetLocation: 'l', policyRef: { name: 'p' }, networkMappingRef: { name: 'n' }, ...more });

  it('turns each forward mapping around (target to source)', () => {
    expect(reverseMappings(spec({
      loadBalancerMappings: [{ sourceLoadBalancerId: lb('a'), targetLoadBalancerId: lb('a-t') }],
      applicationSecurityGroupMappings: [{ sourceApplicationSecurityGroupId: asg('g'), targetApplicationSecurityGroupId: asg('g-t') }],
      diskEncryptionSetMappings: [{ sourceDiskEncryptionSetId: des('d'), targetDiskEncryptionSetId: des('d-t') }],
    }))).toEqual({
      loadBalancerMappings: [{ sourceLoadBalancerId: lb('a-t'), targetLoadBalancerId: lb('a') }],
      applicationSecurityGroupMappings: [{ sourceApplicationSecurityGroupId: asg('g-t'), targetApplicationSecurityGroupId: asg('g') }],
      diskEncryptionSetMappings: [{ sourceDiskEncryptionSetId: des('d-t'), targetDiskEncryptionSetId: des('d') }],
    });
  });

  it('leaves out a target several sources share (no single way back) and adds no empty list', () => {
    expect(reverseMappings(spec({
      loadBalancerMappings: [{ sourceLoadBalancerId: lb('a'), targetLoadBalancerId: lb('t') }, { sourceLoadBalancerId: lb('b'), targetLoadBalancerId: lb('T') }],
      diskEncryptionSetMappings: [{ sourceDiskEncryptionSetId: des('d'), targetDiskEncryptionSetId: des('d-t') }, { sourceDiskEncryptionSetId: des('e'), targetDiskEncryptionSetId: des('e-t') }],
    }))).toEqual({
      diskEncryptionSetMappings: [{ sourceDiskEncryptionSetId: des('d-t'), targetDiskEncryptionSetId: des('d') }, { sourceDiskEncryptionSetId: des('e-t'), targetDiskEncryptionSetId: des('e') }],
    });
    expect(reverseMappings(spec({}))).toEqual({});
  });
});
