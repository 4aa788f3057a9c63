/**
 * The Azure resources a failover creates in the target region — managed disks imported from a recovery
 * point's blob snapshots, network interfaces, the virtual machine — and the source power operations a
 * planned failover needs. Each call starts at most one ARM operation and returns; callers observe
 * provisioningState (or the power state) on later passes.
 */
import type { Disk, VirtualMachine } from '@azure/arm-compute';
import type { NetworkInterface } from '@azure/arm-network';
import type { AzureClients } from './clients.ts';
import { classifyAzureError } from './errors.ts';
import { parseArmId } from './arm-id.ts';
import { deleteIgnoringNotFound, getOrUndefined, startOperation } from './resources/observe.ts';
import { managedTags } from './external-resource.ts';

export interface ImportDiskSpec {
  resourceGroup: string;
  name: string;
  location: string;
  /** The replica blob snapshot: `<blobUrl>?snapshot=<timestamp>`. */
  sourceUri: string;
  storageAccountId: string;
  osType?: 'Linux' | 'Windows';
  zone?: string;
  owner: string;
}

export async function getDisk(az: AzureClients, resourceGroup: string, name: string): Promise<Disk | undefined> {
  return getOrUndefined(() => az.compute.disks.get(resourceGroup, name));
}

export async function startImportDisk(az: AzureClients, spec: ImportDiskSpec): Promise<void> {
  await startOperation(
    az.compute.disks.createOrUpdate(spec.resourceGroup, spec.name, {
      location: spec.location,
      tags: managedTags(spec.owner),
      sku: { name: 'Premium_LRS' },
      ...(spec.zone ? { zones: [spec.zone] } : {}),
      ...(spec.osType ? { osType: spec.osType } : {}),
      // No diskSizeGB: an imported disk takes the size of its source blob (a size here would be a resize).
      creationData: { createOption: 'Import', sourceUri: spec.sourceUri, storageAccountId: spec.storageAccountId },
    }),
  );
}

export interface NicSpec {
  resourceGroup: string;
  name: string;
  location: string;
  subnetId: string;
  /** Keep this address when it is free in the subnet; else the next free one. */
  privateIpAddress?: string;
  owner: string;
}

export async function getNic(az: AzureClients, resourceGroup: string, name: string): Promise<NetworkInterface | undefined> {
  return getOrUndefined(() => az.network.networkInterfaces.get(resourceGroup, name));
}

/**
 * Starts creating the NIC with the requested static address; when Azure refuses it (taken, outside the
 * subnet, reserved), starts it again with a dynamic address (the next free one). Returns which it asked for.
 */
export async function startCreateNic(az: AzureClients, spec: NicSpec): Promise<{ allocation: 'Static' | 'Dynamic'; refusal?: string }> {
  const body = (allocation: 'Static' | 'Dynamic') => ({
    location: spec.location,
    tags: managedTags(spec.owner),
    ipConfigurations: [
      {
        name: 'ipconfig1',
        primary: true,
        subnet: { id: spec.subnetId },
        privateIPAllocationMethod: allocation,
        ...(allocation === 'Static' ? { privateIPAddress: spec.privateIpAddress } : {}),
      },
    ],
  });
  if (spec.privateIpAddress) {
    try {
      await startOperation(az.network.networkInterfaces.createOrUpdate(spec.resourceGroup, spec.name, body('Static')));
      return { allocation: 'Static' };
    } catch (error) {
      const c = classifyAzureError(error);
      if (c.statusCode !== 400) throw error;
      await startOperation(az.network.networkInterfaces.createOrUpdate(spec.resourceGroup, spec.name, body('Dynamic')));
      return { allocation: 'Dynamic', refusal: `${c.code ?? 'refused'}: ${c.message}` };
    }
  }
  await startOperation(az.network.networkInterfaces.createOrUpdate(spec.resourceGroup, spec.name, body('Dynamic')));
  return { allocation: 'Dynamic' };
}

export interface VmSpec {
  resourceGroup: string;
  name: string;
  location: string;
  vmSize: string;
  osType: 'Linux' | 'Windows';
  osDiskId: string;
  dataDisks: Array<{ lun: number; diskId: string }>;
  nicIds: string[];
  availabilitySetId?: string;
  zone?: string;
  owner: string;
}

export async function getVm(az: AzureClients, resourceGroup: string, name: string): Promise<VirtualMachine | undefined> {
  return getOrUndefined(() => az.compute.virtualMachines.get(resourceGroup, name));
}

export async function startCreateVm(az: AzureClients, spec: VmSpec): Promise<void> {
  await startOperation(
    az.compute.virtualMachines.createOrUpdate(spec.resourceGroup, spec.name, {
      location: spec.location,
      tags: managedTags(spec.owner),
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
}

/** The VM's power state code, e.g. running, stopped, deallocated (undefined when unknown). */
export async function powerState(az: AzureClients, vmId: string): Promise<string | undefined> {
  const id = parseArmId(vmId);
  const view = await az.compute.virtualMachines.instanceView(id.resourceGroup, id.name);
  return view.statuses?.find((s) => s.code?.startsWith('PowerState/'))?.code?.slice('PowerState/'.length);
}

export async function startPowerOff(az: AzureClients, vmId: string): Promise<void> {
  const id = parseArmId(vmId);
  await startOperation(az.compute.virtualMachines.powerOff(id.resourceGroup, id.name));
}

/** Stops and deallocates a VM: its disks can then be read (granted access) and its compute is released. */
export async function startDeallocate(az: AzureClients, vmId: string): Promise<void> {
  const id = parseArmId(vmId);
  await startOperation(az.compute.virtualMachines.deallocate(id.resourceGroup, id.name));
}

export async function startVm(az: AzureClients, vmId: string): Promise<void> {
  const id = parseArmId(vmId);
  await startOperation(az.compute.virtualMachines.start(id.resourceGroup, id.name));
}

/** Starts deleting a VM, NIC or disk by id; a missing resource counts as deleted. Returns true when it is gone. */
export async function startDelete(az: AzureClients, resourceId: string): Promise<boolean> {
  const id = parseArmId(resourceId);
  const type = `${id.provider}/${id.type}`.toLowerCase();
  let exists: unknown;
  if (type === 'microsoft.compute/virtualmachines') exists = await getVm(az, id.resourceGroup, id.name);
  else if (type === 'microsoft.network/networkinterfaces') exists = await getNic(az, id.resourceGroup, id.name);
  else if (type === 'microsoft.compute/disks') exists = await getDisk(az, id.resourceGroup, id.name);
  else throw new Error(`cannot delete ${resourceId}: not a failover resource`);
  if (!exists) return true;
  if (type === 'microsoft.compute/virtualmachines') await deleteIgnoringNotFound(() => startOperation(az.compute.virtualMachines.delete(id.resourceGroup, id.name)));
  else if (type === 'microsoft.network/networkinterfaces') await deleteIgnoringNotFound(() => startOperation(az.network.networkInterfaces.delete(id.resourceGroup, id.name)));
  else await deleteIgnoringNotFound(() => startOperation(az.compute.disks.delete(id.resourceGroup, id.name)));
  return false;
}
