/**
 * The virtual machine of a failover, through the observe / create / update / delete contract
 * (`external-resource.ts`): created from disks and NICs that already exist (attach, never create from an
 * image), in the target availability set or zone, with what it carries over from its source (security
 * profile, license type, tags, identities, boot diagnostics), in the first of its sizes Azure offers there.
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
import { TerminalError } from '../../runtime/reconcile-errors.ts';
import { classifyAzureError } from '../errors.ts';
import { getOrUndefined, ownedResource, startOperation } from './observe.ts';

/** What the VM carries over from its source (steps/vm-shape.ts computes it from the registration). */
export interface VmShape {
  securityProfile?: { securityType: 'TrustedLaunch'; uefiSettings: { secureBootEnabled: boolean; vTpmEnabled: boolean } };
  licenseType?: string;
  /** The source VM's tags (the managed-by tags are added). */
  tags?: Record<string, string>;
  userAssignedIdentityIds?: string[];
  /** A system-assigned identity (Azure makes a new principal for the new VM). */
  systemAssignedIdentity?: boolean;
  /** Boot diagnostics on, with managed storage. */
  bootDiagnostics?: boolean;
}

export interface VirtualMachineSpec {
  location: string;
  /** Sizes to try in order: the next when Azure answers SkuNotAvailable for one. */
  vmSizes: string[];
  shape: VmShape;
  osType: 'Linux' | 'Windows';
  osDiskId: string;
  dataDisks: Array<{ lun: number; diskId: string }>;
  /** Primary first. */
  nicIds: string[];
  availabilitySetId?: string;
  zone?: string;
  proximityPlacementGroupId?: string;
  capacityReservationGroupId?: string;
}

/**
 * The VM's `identity` (VirtualMachineIdentity in the Compute REST spec, virtualMachine.json: type
 * SystemAssigned | UserAssigned | 'SystemAssigned, UserAssigned'); none when the shape has no identity.
 */
function identityOf(shape: VmShape): Pick<VirtualMachine, 'identity'> {
  const users = shape.userAssignedIdentityIds?.length ? { userAssignedIdentities: Object.fromEntries(shape.userAssignedIdentityIds.map((id) => [id, {}])) } : undefined;
  if (shape.systemAssignedIdentity) return { identity: users ? { type: 'SystemAssigned, UserAssigned', ...users } : { type: 'SystemAssigned' } };
  return users ? { identity: { type: 'UserAssigned', ...users } } : {};
}

export const VIRTUAL_MACHINE_ROLE = 'VirtualMachine';
/** Compute's answer to a size not offered in a region or zone. */
export const SKU_NOT_AVAILABLE = 'SkuNotAvailable';

export async function getVirtualMachine(az: AzureClients, vmId: string): Promise<VirtualMachine | undefined> {
  const { resourceGroup, name } = parseArmId(vmId);
  return getOrUndefined(() => az.compute.virtualMachines.get(resourceGroup, name));
}

export function virtualMachineResource(az: AzureClients, vmId: string, owner: string, desired?: () => Promise<VirtualMachineSpec>): ExternalResource<VirtualMachine> {
  const { resourceGroup, name } = parseArmId(vmId);
  const put = (spec: VirtualMachineSpec, vmSize: string) =>
    startOperation(
      az.compute.virtualMachines.createOrUpdate(resourceGroup, name, {
        location: spec.location,
        tags: { ...spec.shape.tags, ...managedTags(owner) },
        ...(spec.zone ? { zones: [spec.zone] } : {}),
        ...(spec.availabilitySetId ? { availabilitySet: { id: spec.availabilitySetId } } : {}),
        ...(spec.proximityPlacementGroupId ? { proximityPlacementGroup: { id: spec.proximityPlacementGroupId } } : {}),
        ...(spec.capacityReservationGroupId ? { capacityReservation: { capacityReservationGroup: { id: spec.capacityReservationGroupId } } } : {}),
        ...identityOf(spec.shape),
        hardwareProfile: { vmSize },
        ...(spec.shape.securityProfile ? { securityProfile: spec.shape.securityProfile } : {}),
        ...(spec.shape.licenseType ? { licenseType: spec.shape.licenseType } : {}),
        ...(spec.shape.bootDiagnostics !== undefined ? { diagnosticsProfile: { bootDiagnostics: { enabled: spec.shape.bootDiagnostics } } } : {}),
        storageProfile: {
          osDisk: { createOption: 'Attach', osType: spec.osType, managedDisk: { id: spec.osDiskId } },
          dataDisks: spec.dataDisks.map((d) => ({ lun: d.lun, createOption: 'Attach' as const, managedDisk: { id: d.diskId } })),
        },
        networkProfile: { networkInterfaces: spec.nicIds.map((id, i) => ({ id, primary: i === 0 })) },
      }),
    );
  /** The first size Azure offers where the VM goes; SkuNotAvailable for all of them is terminal. */
  const create = async (spec: VirtualMachineSpec) => {
    for (const vmSize of spec.vmSizes) {
      try {
        return await put(spec, vmSize);
      } catch (error) {
        if (classifyAzureError(error).code !== SKU_NOT_AVAILABLE) throw error;
      }
    }
    const where = `${spec.location}${spec.zone ? ` zone ${spec.zone}` : ''}`;
    throw new TerminalError(SKU_NOT_AVAILABLE, `none of the sizes ${spec.vmSizes.join(', ')} is offered in ${where}; add one that is to spec.targetVmSizeFallbacks`);
  };
  return ownedResource({
    role: VIRTUAL_MACHINE_ROLE,
    id: vmId,
    owner,
    get: () => getVirtualMachine(az, vmId),
    ...(desired ? { create: async () => create(await desired()) } : {}),
    remove: () => az.compute.virtualMachines.delete(resourceGroup, name),
    operation: () => az.operationStatus(vmId),
  });
}
