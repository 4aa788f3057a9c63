// `site-recovery sandbox vm create`: a source VM for replication, made through the ARM API exactly as a
// user would: resource group, virtual network `<RG>-vnet` (10.x.0.0/16, subnet `default` 10.x.0.0/24) unless
// it exists, one or more NICs (with a network security group, and a public IP on the first, when asked), VM with an OS disk from an image and N empty data disks (created by the VM
// in whole GiB; a size that is not whole GiB, such as 64MiB, is an uploaded disk of exactly that size,
// attached), with the size, security type (Trusted Launch: secure boot and vTPM on), tags and zone asked
// for; then the OS disk gets initial (non-zero) content, as an image would have given it.
import type { VirtualMachine } from '@azure/arm-compute';
import type { ArmClients } from './client.ts';
import { pollFast } from './client.ts';
import { parseCidr } from './arm/ipv4.ts';

/** The initial content `vm create` writes on a new OS disk (what an image would leave on it). */
export const OS_IMAGE_BYTES = 8 * 1024 * 1024;

export interface CreateVmOptions {
  name: string;
  resourceGroup: string;
  location: string;
  dataDisks: number;
  dataDiskSizeGiB: number;
  /** Instead of dataDiskSizeGiB: whole GiB makes Empty disks with the VM, anything else uploaded disks of exactly this size. */
  dataDiskSizeBytes?: number;
  osDiskSizeGiB: number;
  vnet?: string;
  zone?: string;
  vmSize?: string;
  securityType?: 'Standard' | 'TrustedLaunch';
  tags?: Record<string, string>;
  /** Network interfaces (default 1): `<name>-nic`, then `<name>-nic2`, ...; the first is primary. */
  nics?: number;
  /** A network security group `<name>-nsg` (Azure's default rules) on every NIC. */
  nsg?: boolean;
  /** A Standard static public IP address `<name>-pip` on the primary NIC's IP configuration. */
  publicIp?: boolean;
}

const GiB = 1024 ** 3;

async function exists<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return undefined;
    throw err;
  }
}

/** First 10.x.0.0/16 not overlapping any virtual network of the subscription. */
async function freeAddressSpace(c: ArmClients): Promise<string> {
  const used: { base: number; size: number }[] = [];
  for await (const v of c.network.virtualNetworks.listAll()) {
    for (const p of v.addressSpace?.addressPrefixes ?? []) {
      const cidr = parseCidr(p);
      if (cidr) used.push(cidr);
    }
  }
  for (let x = 1; x < 255; x++) {
    const c16 = parseCidr(`10.${x}.0.0/16`)!;
    if (!used.some((u) => u.base < c16.base + c16.size && c16.base < u.base + u.size)) return `10.${x}.0.0/16`;
  }
  throw new Error('no free 10.x.0.0/16 address space left');
}

export async function createSandboxVm(c: ArmClients, o: CreateVmOptions): Promise<VirtualMachine> {
  await c.resources.resourceGroups.createOrUpdate(o.resourceGroup, { location: o.location });
  const vnetName = o.vnet ?? `${o.resourceGroup}-vnet`;
  let vnet = await exists(c.network.virtualNetworks.get(o.resourceGroup, vnetName));
  if (!vnet) {
    const space = await freeAddressSpace(c);
    vnet = await c.network.virtualNetworks.createOrUpdate(
      o.resourceGroup,
      vnetName,
      { location: o.location, addressSpace: { addressPrefixes: [space] }, subnets: [{ name: 'default', addressPrefix: space.replace('.0.0/16', '.0.0/24') }] },
      pollFast,
    );
  }
  const subnet = vnet.subnets?.find((s) => s.name?.toLowerCase() === 'default');
  if (!subnet?.id) throw new Error(`virtual network ${vnet.id} has no subnet 'default'`);
  const nsg = o.nsg ? await c.network.networkSecurityGroups.createOrUpdate(o.resourceGroup, `${o.name}-nsg`, { location: o.location }, pollFast) : undefined;
  const pip = o.publicIp
    ? await c.network.publicIPAddresses.createOrUpdate(o.resourceGroup, `${o.name}-pip`, { location: o.location, sku: { name: 'Standard' }, publicIPAllocationMethod: 'Static' }, pollFast)
    : undefined;
  const nics = [];
  for (let i = 0; i < (o.nics ?? 1); i++) {
    const publicIPAddress = pip && i === 0 ? { publicIPAddress: { id: pip.id! } } : {};
    const nicName = i === 0 ? `${o.name}-nic` : `${o.name}-nic${i + 1}`;
    const nic =
      (await exists(c.network.networkInterfaces.get(o.resourceGroup, nicName))) ??
      (await c.network.networkInterfaces.createOrUpdate(
        o.resourceGroup,
        nicName,
        { location: o.location, ...(nsg ? { networkSecurityGroup: { id: nsg.id! } } : {}), ipConfigurations: [{ name: 'ipconfig1', subnet: { id: subnet.id }, ...publicIPAddress }] },
        pollFast,
      ));
    nics.push({ id: nic.id!, primary: i === 0 });
  }
  const zones = o.zone ? { zones: [o.zone] } : {};
  const dataBytes = dataDiskBytes(o);
  const wholeGiB = Number.isInteger(dataBytes / GiB);
  const attached = wholeGiB ? [] : await uploadedDisks(c, o, zones);
  return c.compute.virtualMachines.createOrUpdate(
    o.resourceGroup,
    o.name,
    {
      location: o.location,
      ...zones,
      ...(o.tags ? { tags: o.tags } : {}),
      hardwareProfile: { vmSize: o.vmSize ?? 'Standard_D2s_v3' },
      ...(o.securityType === 'TrustedLaunch' ? { securityProfile: { securityType: 'TrustedLaunch', uefiSettings: { secureBootEnabled: true, vTpmEnabled: true } } } : {}),
      storageProfile: {
        imageReference: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest' },
        osDisk: { createOption: 'FromImage', diskSizeGB: o.osDiskSizeGiB, caching: 'ReadWrite', managedDisk: { storageAccountType: 'Premium_LRS' } },
        dataDisks: wholeGiB
          ? Array.from({ length: o.dataDisks }, (_, lun) => ({
              lun,
              createOption: 'Empty' as const,
              diskSizeGB: dataBytes / GiB,
              managedDisk: { storageAccountType: 'Premium_LRS' as const },
            }))
          : attached.map((id, lun) => ({ lun, createOption: 'Attach' as const, managedDisk: { id } })),
      },
      osProfile: { computerName: o.name, adminUsername: 'azureuser', linuxConfiguration: { disablePasswordAuthentication: true } },
      networkProfile: { networkInterfaces: nics },
    },
    pollFast,
  );
}

const dataDiskBytes = (o: CreateVmOptions): number => o.dataDiskSizeBytes ?? o.dataDiskSizeGiB * GiB;

/** Data disks of exactly `dataDiskSizeBytes` (Upload, then write access granted and revoked: ready to attach). */
async function uploadedDisks(c: ArmClients, o: CreateVmOptions, zones: { zones?: string[] }): Promise<string[]> {
  const ids: string[] = [];
  for (let lun = 0; lun < o.dataDisks; lun++) {
    const diskName = `${o.name}-data${lun}`;
    const disk = await c.compute.disks.beginCreateOrUpdateAndWait(
      o.resourceGroup,
      diskName,
      { location: o.location, ...zones, sku: { name: 'Premium_LRS' }, creationData: { createOption: 'Upload', uploadSizeBytes: dataDiskBytes(o) } },
      pollFast,
    );
    await c.compute.disks.beginGrantAccessAndWait(o.resourceGroup, diskName, { access: 'Write', durationInSeconds: 600 }, pollFast);
    await c.compute.disks.beginRevokeAccessAndWait(o.resourceGroup, diskName, pollFast);
    ids.push(disk.id!);
  }
  return ids;
}
