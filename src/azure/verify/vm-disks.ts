/**
 * The managed disks of a failed-over VM by the names a recovery point gives them (os, lun0, lun1, ...), as
 * src/azure/source-vm.ts names the source's: what a verification pairs each point disk with.
 */
import type { AzureClients } from '../clients.ts';
import { parseArmId } from '../arm-id.ts';

export async function vmDisksByName(az: AzureClients, vmId: string, signal?: AbortSignal): Promise<Map<string, string | undefined>> {
  const target = parseArmId(vmId);
  const vm = await az.forResource(vmId).compute.virtualMachines.get(target.resourceGroup, target.name, { abortSignal: signal });
  const disks = new Map<string, string | undefined>([['os', vm.storageProfile?.osDisk?.managedDisk?.id]]);
  for (const d of vm.storageProfile?.dataDisks ?? []) disks.set(`lun${d.lun}`, d.managedDisk?.id);
  return disks;
}
