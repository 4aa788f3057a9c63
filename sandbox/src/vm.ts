// `site-recovery sandbox vm create`: a source VM for replication, made through the ARM API exactly as a
// user would: resource group, virtual network `<RG>-vnet` (10.x.0.0/16, subnet `default` 10.x.0.0/24) unless
// it exists, NIC, VM with an OS disk from an image and N empty data disks; then the OS disk gets initial
// (non-zero) content, as an image would have given it.
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
  osDiskSizeGiB: number;
  vnet?: string;
  zone?: string;
  vmSize?: string;
}

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
  const nicName = `${o.name}-nic`;
  let nic = await exists(c.network.networkInterfaces.get(o.resourceGroup, nicName));
  nic ??= await c.network.networkInterfaces.createOrUpdate(
    o.resourceGroup,
    nicName,
    { location: o.location, ipConfigurations: [{ name: 'ipconfig1', subnet: { id: subnet.id } }] },
    pollFast,
  );
  return c.compute.virtualMachines.createOrUpdate(
    o.resourceGroup,
    o.name,
    {
      location: o.location,
      ...(o.zone ? { zones: [o.zone] } : {}),
      hardwareProfile: { vmSize: o.vmSize ?? 'Standard_D2s_v3' },
      storageProfile: {
        imageReference: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest' },
        osDisk: { createOption: 'FromImage', diskSizeGB: o.osDiskSizeGiB, caching: 'ReadWrite', managedDisk: { storageAccountType: 'Premium_LRS' } },
        dataDisks: Array.from({ length: o.dataDisks }, (_, lun) => ({
          lun,
          createOption: 'Empty' as const,
          diskSizeGB: o.dataDiskSizeGiB,
          managedDisk: { storageAccountType: 'Premium_LRS' as const },
        })),
      },
      osProfile: { computerName: o.name, adminUsername: 'azureuser', linuxConfiguration: { disablePasswordAuthentication: true } },
      networkProfile: { networkInterfaces: [{ id: nic.id!, primary: true }] },
    },
    pollFast,
  );
}
