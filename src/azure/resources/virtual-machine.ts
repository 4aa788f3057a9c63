/**
 * The virtual machine of a failover, through the observe / create / update / delete contract
 * (`external-resource.ts`): created from disks and NICs that already exist (attach, never create from an
 * image), in the target availability set or zone.
 *
 * "Ours" (managedTag) means carrying the owner tag of the request that created it: a VM with the same
 * name that another request or a person created is never taken for ours (the failover refuses it). The
 * desired VM is computed only when a create is needed (`desired`), since it needs the recovery point; a
 * VM known only by its id (cleanup, the VM a failback replaces) can be observed and deleted.
 */
import type { VirtualMachine } from '@azure/arm-compute';
import type { AzureClients } from '../clients.ts';
import { parseArmId } from '../arm-id.ts';
import { managedTags, type ExternalResource } from '../external-resource.ts';
import { getOrUndefined, ownedResource, startOperation } from './observe.ts';

export interface VirtualMachineSpec {
  location: string;
  vmSize: string;
  osType: 'Linux' | 'Windows';
  osDiskId: string;
  dataDisks: Array<{ lun: number; diskId: string }>;
  /** Primary first. */
  nicIds: string[];
  availabilitySetId?: string;
  zone?: string;
}

export const VIRTUAL_MACHINE_ROLE = 'VirtualMachine';

export async function getVirtualMachine(az: AzureClients, vmId: string): Promise<VirtualMachine | undefined> {
  const { resourceGroup, name } = parseArmId(vmId);
  return getOrUndefined(() => az.compute.virtualMachines.get(resourceGroup, name));
}

export function virtualMachineResource(az: AzureClients, vmId: string, owner: string, desired?: () => Promise<VirtualMachineSpec>): ExternalResource<VirtualMachine> {
  const { resourceGroup, name } = parseArmId(vmId);
  const create = async (spec: VirtualMachineSpec) => {
    await startOperation(
      az.compute.virtualMachines.createOrUpdate(resourceGroup, name, {
        location: spec.location,
        tags: managedTags(owner),
        ...(spec.zone ? { zones: [spec.zone] } : {}),
        ...(spec.availabilitySetId ? { availabilitySet: { id: spec.availabilitySetId } } : {}),
        hardwareProfile: { vmSize: spec.vmSize },
        storageProfile: {
          osDisk: { createOption: 'Attach', osType: spec.osType, managedDisk: { id: spec.osDiskId } },
          dataDisks: spec.dataDisks.map((d) => ({ lun: d.lun, createOption: 'Attach' as const, managedDisk: { id: d.diskId } })),
        },
        networkProfile: { networkInterfaces: spec.nicIds.map((id, i) => ({ id, primary: i === 0 })) },
      }),
    );
  };
  return ownedResource({
    role: VIRTUAL_MACHINE_ROLE,
    id: vmId,
    owner,
    get: () => getVirtualMachine(az, vmId),
    ...(desired ? { create: async () => create(await desired()) } : {}),
    remove: () => az.compute.virtualMachines.delete(resourceGroup, name),
  });
}
