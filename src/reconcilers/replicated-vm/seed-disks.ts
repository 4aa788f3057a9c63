/**
 * The seed disk of each protected disk (same name: os, lun<N>), while the initial sync still needs them:
 * after re-protect, the original VM's disks seed the reverse replication, so only what differs is copied.
 * The seed must be in the target region and stay stopped: a running VM would change them under the sync.
 * A seed VM that is gone only costs a full copy.
 */
import type { ReplicatedVM } from '../../api/types.ts';
import type { AzureClients } from '../../azure/clients.ts';
import { powerState } from '../../azure/failover-resources.ts';
import { readSourceVm, type SourceVm } from '../../azure/source-vm.ts';

export type SeedDisks = { byName: Map<string, string> } | { stall: { reason: string; message: string } };

export async function seedDisks(az: AzureClients, vm: ReplicatedVM, source: SourceVm): Promise<SeedDisks> {
  const recorded = new Map((vm.status?.disks ?? []).filter((d) => d.seedDiskId).map((d) => [d.name, d.seedDiskId as string]));
  const seedId = vm.spec.seedVirtualMachineId;
  if (!seedId || vm.status?.initialSync?.completionTime || vm.status?.lastRecoveryPoint) return { byName: recorded };
  const read = await readSourceVm(az, seedId);
  if (!read.found || !read.supported) return { byName: new Map() };
  const seed = read.vm;
  if (seed.location !== vm.spec.targetLocation) {
    return { stall: { reason: 'SeedNotInTargetRegion', message: `the seed VM ${seed.name} is in ${seed.location}, not in the target region ${vm.spec.targetLocation}` } };
  }
  const state = await powerState(az, seedId);
  if (state !== 'stopped' && state !== 'deallocated') {
    return { stall: { reason: 'SeedVirtualMachineRunning', message: `the seed VM ${seed.name} is ${state ?? 'in an unknown state'}: deallocate it so its disks stay still during the initial sync, or create the ReplicatedVM without seedVirtualMachineId` } };
  }
  const byName = new Map<string, string>();
  for (const disk of source.disks) {
    const match = seed.disks.find((d) => d.name === disk.name);
    if (match && match.sizeBytes <= disk.sizeBytes) byName.set(disk.name, match.sourceDiskId);
  }
  return { byName };
}
