/**
 * Reads what enabling replication needs to know about a source VM: where it is, its size, placement,
 * network interfaces and managed disks (with their sizes, SKUs and generation), the properties a failover
 * carries over (source-vm-shape.ts), and whether it can be protected at all.
 */
import type { Disk, VirtualMachine } from '@azure/arm-compute';
import type { NetworkInterface } from '@azure/arm-network';
import type { SourceVmProperties } from '../api/types.ts';
import type { AzureClients } from './clients.ts';
import { parseArmId } from './arm-id.ts';
import { getOrUndefined } from './resources/observe.ts';
import { securityRefusal, sourceVmProperties } from './source-vm-shape.ts';

interface SourceDisk {
  name: 'os' | `lun${number}`;
  role: 'OS' | 'Data';
  lun?: number;
  sourceDiskId: string;
  sizeBytes: number;
  /** The disk's SKU (Premium_LRS, Standard_LRS, ...). */
  diskType?: string;
  hyperVGeneration?: 'V1' | 'V2';
  /** The disk encryption set of a disk encrypted with a customer-managed key. */
  diskEncryptionSetId?: string;
}

interface SourceIpConfiguration {
  name: string;
  primary: boolean;
  subnetId?: string;
  subnetName?: string;
  privateIpAddress?: string;
  /** The configuration's public IP address, if it has one. */
  publicIpAddressId?: string;
  /** The load balancer backend pools the configuration is in. */
  loadBalancerBackendAddressPoolIds?: string[];
  /** The application security groups the configuration is in. */
  applicationSecurityGroupIds?: string[];
}

interface SourceNic {
  id: string;
  name: string;
  primary: boolean;
  /** The primary IP configuration's subnet and address. */
  subnetId?: string;
  subnetName?: string;
  privateIpAddress?: string;
  acceleratedNetworking?: boolean;
  /** Every IP configuration, primary first. */
  ipConfigurations: SourceIpConfiguration[];
  networkSecurityGroupId?: string;
}

export interface SourceVm {
  id: string;
  name: string;
  resourceGroup: string;
  location: string;
  vmSize: string;
  zone?: string;
  availabilitySetId?: string;
  osType: 'Linux' | 'Windows';
  networkInterfaces: SourceNic[];
  disks: SourceDisk[];
  /** What the failed-over VM carries over (generation, security type, license, tags, identities, boot diagnostics). */
  properties: SourceVmProperties;
}

export type SourceVmResult = { found: false } | { found: true; supported: false; reason: string; message: string } | { found: true; supported: true; vm: SourceVm };

export async function readSourceVm(az: AzureClients, vmId: string, excludedLuns: number[] = []): Promise<SourceVmResult> {
  const id = parseArmId(vmId);
  const vm: VirtualMachine | undefined = await getOrUndefined(() => az.forResource(vmId).compute.virtualMachines.get(id.resourceGroup, id.name));
  if (!vm) return { found: false };
  const storage = vm.storageProfile;
  const osDiskId = storage?.osDisk?.managedDisk?.id;
  if (!osDiskId) {
    return { found: true, supported: false, reason: 'UnmanagedDisks', message: 'the VM uses unmanaged (VHD) disks; only managed disks can be replicated' };
  }
  const refusal = securityRefusal(vm);
  if (refusal) return { found: true, supported: false, ...refusal };
  const dataDisks = (storage?.dataDisks ?? []).filter((d) => !excludedLuns.includes(d.lun));
  const unmanaged = dataDisks.find((d) => !d.managedDisk?.id);
  if (unmanaged) {
    return { found: true, supported: false, reason: 'UnmanagedDisks', message: `data disk at LUN ${unmanaged.lun} is not a managed disk` };
  }
  const osDisk = await readDisk(az, osDiskId);
  const disks: SourceDisk[] = [{ name: 'os', role: 'OS', sourceDiskId: osDiskId, ...diskFacts(osDisk) }];
  for (const d of [...dataDisks].sort((a, b) => a.lun - b.lun)) {
    const diskId = d.managedDisk?.id as string;
    disks.push({ name: `lun${d.lun}`, role: 'Data', lun: d.lun, sourceDiskId: diskId, ...diskFacts(await readDisk(az, diskId)) });
  }
  return {
    found: true,
    supported: true,
    vm: {
      id: vm.id ?? vmId,
      name: id.name,
      resourceGroup: id.resourceGroup,
      location: vm.location,
      vmSize: vm.hardwareProfile?.vmSize ?? 'unknown',
      zone: vm.zones?.[0],
      availabilitySetId: vm.availabilitySet?.id,
      osType: storage?.osDisk?.osType === 'Windows' ? 'Windows' : 'Linux',
      networkInterfaces: await readNics(az, vm),
      disks,
      properties: sourceVmProperties(vm, osDisk),
    },
  };
}

async function readNics(az: AzureClients, vm: VirtualMachine): Promise<SourceNic[]> {
  const refs = vm.networkProfile?.networkInterfaces ?? [];
  const nics: SourceNic[] = [];
  for (const [index, ref] of refs.entries()) {
    if (!ref.id) continue;
    const id = parseArmId(ref.id);
    const nic = await getOrUndefined(() => az.forResource(ref.id as string).network.networkInterfaces.get(id.resourceGroup, id.name));
    const configs = ipConfigurationsOf(nic);
    const primaryConfig = configs[0];
    nics.push({
      id: ref.id,
      name: id.name,
      primary: ref.primary ?? index === 0,
      ...(primaryConfig?.subnetId ? { subnetId: primaryConfig.subnetId, subnetName: primaryConfig.subnetName } : {}),
      ...(primaryConfig?.privateIpAddress ? { privateIpAddress: primaryConfig.privateIpAddress } : {}),
      ...(nic?.enableAcceleratedNetworking ? { acceleratedNetworking: true } : {}),
      ipConfigurations: configs,
      ...(nic?.networkSecurityGroup?.id ? { networkSecurityGroupId: nic.networkSecurityGroup.id } : {}),
    });
  }
  return nics;
}

/** A NIC's IP configurations, the primary one first (the first one when none says it is primary). */
function ipConfigurationsOf(nic: NetworkInterface | undefined): SourceIpConfiguration[] {
  const all = nic?.ipConfigurations ?? [];
  const primaryAt = Math.max(0, all.findIndex((c) => c.primary));
  const configs = all.map((c, i) => {
    const subnetId = c.subnet?.id;
    return {
      name: c.name ?? `ipconfig${i + 1}`,
      primary: i === primaryAt,
      ...(subnetId ? { subnetId, subnetName: parseArmId(subnetId).name } : {}),
      ...(c.privateIPAddress ? { privateIpAddress: c.privateIPAddress } : {}),
      ...(c.publicIPAddress?.id ? { publicIpAddressId: c.publicIPAddress.id } : {}),
      ...(c.loadBalancerBackendAddressPools?.length ? { loadBalancerBackendAddressPoolIds: c.loadBalancerBackendAddressPools.map((p) => p.id as string) } : {}),
      ...(c.applicationSecurityGroups?.length ? { applicationSecurityGroupIds: c.applicationSecurityGroups.map((g) => g.id as string) } : {}),
    };
  });
  return configs.sort((a, b) => Number(b.primary) - Number(a.primary));
}

async function readDisk(az: AzureClients, diskId: string): Promise<Disk> {
  const id = parseArmId(diskId);
  return az.forResource(diskId).compute.disks.get(id.resourceGroup, id.name);
}

/** A disk's size, SKU, generation and disk encryption set. */
function diskFacts(disk: Disk): Pick<SourceDisk, 'sizeBytes' | 'diskType' | 'hyperVGeneration' | 'diskEncryptionSetId'> {
  const generation = disk.hyperVGeneration;
  return {
    sizeBytes: disk.diskSizeBytes ? disk.diskSizeBytes : (disk.diskSizeGB ?? 0) * 1024 ** 3,
    ...(disk.sku?.name ? { diskType: disk.sku.name } : {}),
    ...(generation === 'V1' || generation === 'V2' ? { hyperVGeneration: generation } : {}),
    ...(disk.encryption?.diskEncryptionSetId ? { diskEncryptionSetId: disk.encryption.diskEncryptionSetId } : {}),
  };
}
