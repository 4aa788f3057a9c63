// The compute emulator's VM shape through the official SDK (issue 18): security profile, license type,
// identity, boot diagnostics and tags accepted and returned as the Compute spec documents them; a Trusted
// Launch VM's OS disk created Gen2 with its security type; a size not offered in a region or zone refused
// 409 SkuNotAvailable with Azure's documented message before anything is created; invalid security and
// identity types refused 400. A zone-redundant disk attaches to a VM in any zone. A VM joins a proximity
// placement group and a capacity reservation group of its region.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VirtualMachine } from '@azure/arm-compute';
import { fast, network, startHarness } from './sandbox-arm-support.ts';
import type { Harness } from './sandbox-arm-support.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const loc = 'westeurope';
const identity = '/subscriptions/s/resourceGroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app-id';

async function putVm(rg: string, name: string, extra: Partial<VirtualMachine>) {
  const net = await network(h.c, rg);
  const nicId = await net.nicId(`${name}-nic`);
  return h.c.compute.virtualMachines.createOrUpdate(
    rg,
    name,
    {
      location: loc,
      hardwareProfile: { vmSize: 'Standard_D2s_v3' },
      storageProfile: {
        imageReference: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest' },
        osDisk: { createOption: 'FromImage', diskSizeGB: 1, managedDisk: { storageAccountType: 'Premium_LRS' } },
      },
      osProfile: { computerName: name, adminUsername: 'azureuser', adminPassword: 'not-returned-1!' },
      networkProfile: { networkInterfaces: [{ id: nicId }] },
      ...extra,
    },
    fast,
  );
}

describe('virtual machine shape', () => {
  it('accepts and returns security profile, license, identity, boot diagnostics and tags; the OS disk of a Trusted Launch VM is V2', async () => {
    const vm = await putVm('rg-shape', 'tl', {
      tags: { env: 'prod' },
      securityProfile: { securityType: 'TrustedLaunch', uefiSettings: { secureBootEnabled: true, vTpmEnabled: true } },
      licenseType: 'RHEL_BYOS',
      identity: { type: 'UserAssigned', userAssignedIdentities: { [identity]: {} } },
      diagnosticsProfile: { bootDiagnostics: { enabled: true } },
    });
    const got = await h.c.compute.virtualMachines.get('rg-shape', 'tl');
    for (const v of [vm, got]) {
      expect(v.tags).toEqual({ env: 'prod' });
      expect(v.securityProfile).toEqual({ securityType: 'TrustedLaunch', uefiSettings: { secureBootEnabled: true, vTpmEnabled: true } });
      expect(v.licenseType).toBe('RHEL_BYOS');
      expect(v.diagnosticsProfile?.bootDiagnostics?.enabled).toBe(true);
      expect(v.identity?.type).toBe('UserAssigned');
      expect(v.identity?.userAssignedIdentities?.[identity]).toMatchObject({ principalId: expect.any(String), clientId: expect.any(String) });
    }
    const os = await h.c.compute.disks.get('rg-shape', got.storageProfile!.osDisk!.name!);
    expect([os.hyperVGeneration, os.securityProfile?.securityType]).toEqual(['V2', 'TrustedLaunch']);
    expect((await h.c.compute.virtualMachines.instanceView('rg-shape', 'tl')).hyperVGeneration).toBe('V2');

    // An update without these properties keeps them; identity None removes the identity.
    const updated = await h.c.compute.virtualMachines.update('rg-shape', 'tl', { identity: { type: 'None' } }, fast);
    expect(updated.identity).toBeUndefined();
    expect(updated.securityProfile?.securityType).toBe('TrustedLaunch');
    expect(updated.licenseType).toBe('RHEL_BYOS');
  });

  it('attaches a zone-redundant disk (in no zone) to a zonal VM, and refuses a locally redundant disk of another zone', async () => {
    await h.c.resources.resourceGroups.createOrUpdate('rg-zrs', { location: loc });
    const zrs = await h.c.compute.disks.createOrUpdate('rg-zrs', 'zrs', { location: loc, sku: { name: 'Premium_ZRS' }, creationData: { createOption: 'Empty' }, diskSizeGB: 1 }, fast);
    const lrs = await h.c.compute.disks.createOrUpdate('rg-zrs', 'lrs', { location: loc, zones: ['1'], sku: { name: 'Premium_LRS' }, creationData: { createOption: 'Empty' }, diskSizeGB: 1 }, fast);
    const vm = await putVm('rg-zrs', 'z', { zones: ['2'], storageProfile: { imageReference: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest' }, osDisk: { createOption: 'FromImage', diskSizeGB: 1 }, dataDisks: [{ lun: 0, createOption: 'Attach', managedDisk: { id: zrs.id! } }] } });
    expect(vm.storageProfile?.dataDisks?.[0]?.managedDisk?.id).toBe(zrs.id);
    const wrongZone = putVm('rg-zrs', 'z2', { zones: ['2'], storageProfile: { imageReference: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server', version: 'latest' }, osDisk: { createOption: 'FromImage', diskSizeGB: 1 }, dataDisks: [{ lun: 0, createOption: 'Attach', managedDisk: { id: lrs.id! } }] } });
    await expect(wrongZone).rejects.toMatchObject({ statusCode: 400 });
  });

  it('joins a proximity placement group and a capacity reservation group of its region (each lists the VM), and refuses one elsewhere or missing', async () => {
    const { compute, resources } = h.c;
    await resources.resourceGroups.createOrUpdate('rg-place', { location: loc });
    const ppg = await compute.proximityPlacementGroups.createOrUpdate('rg-place', 'ppg', { location: loc });
    const crg = await compute.capacityReservationGroups.createOrUpdate('rg-place', 'crg', { location: loc });
    const far = await compute.proximityPlacementGroups.createOrUpdate('rg-place', 'far', { location: 'northeurope' });
    await expect(putVm('rg-place', 'bad1', { proximityPlacementGroup: { id: far.id! } })).rejects.toMatchObject({ statusCode: 400, code: 'InvalidParameter' });
    await expect(putVm('rg-place', 'bad2', { capacityReservation: { capacityReservationGroup: { id: `${crg.id}-missing` } } })).rejects.toMatchObject({ statusCode: 404 });
    const vm = await putVm('rg-place', 'placed', { proximityPlacementGroup: { id: ppg.id! }, capacityReservation: { capacityReservationGroup: { id: crg.id! } } });
    expect([vm.proximityPlacementGroup?.id, vm.capacityReservation?.capacityReservationGroup?.id]).toEqual([ppg.id, crg.id]);
    expect((await compute.proximityPlacementGroups.get('rg-place', 'ppg')).virtualMachines?.map((v) => v.id)).toEqual([vm.id]);
    expect((await compute.capacityReservationGroups.get('rg-place', 'crg')).virtualMachinesAssociated?.map((v) => v.id)).toEqual([vm.id]);
  });

  it('a Standard VM is Gen1 without a security profile', async () => {
    await putVm('rg-shape', 'std', {});
    const got = await h.c.compute.virtualMachines.get('rg-shape', 'std');
    expect(got.securityProfile).toBeUndefined();
    expect((await h.c.compute.virtualMachines.instanceView('rg-shape', 'std')).hyperVGeneration).toBe('V1');
  });

  it('refuses a size not offered in the region or zone with SkuNotAvailable, creating nothing', async () => {
    h.arm.skus.restrict('Standard_E4s_v5', loc, ['2']);
    h.arm.skus.restrict('Standard_M8ms', loc);
    try {
      const zonal = putVm('rg-sku', 'z', { zones: ['2'], hardwareProfile: { vmSize: 'Standard_E4s_v5' } });
      await expect(zonal).rejects.toMatchObject({ statusCode: 409, code: 'SkuNotAvailable' });
      await expect(zonal).rejects.toThrow(
        /^The requested size for resource '\/subscriptions\/.+\/virtualMachines\/z' is currently not available in location 'westeurope' zones '2' for subscription '.+'\. Please try another size or deploy to a different location or zones\.$/,
      );
      const regional = putVm('rg-sku', 'm', { hardwareProfile: { vmSize: 'Standard_M8ms' } });
      await expect(regional).rejects.toThrow(/not available in location 'westeurope' for subscription/);
      const disks = [];
      for await (const d of h.c.compute.disks.listByResourceGroup('rg-sku')) disks.push(d.name);
      expect(disks).toEqual([]);
      // Offered in another zone, and without a zone the zonal restriction does not apply.
      expect((await putVm('rg-sku', 'z1', { zones: ['1'], hardwareProfile: { vmSize: 'Standard_E4s_v5' } })).hardwareProfile?.vmSize).toBe('Standard_E4s_v5');
    } finally {
      h.arm.skus.clear();
    }
  });

  it('refuses an unknown security type and identity type', async () => {
    await expect(putVm('rg-bad', 'b1', { securityProfile: { securityType: 'Secure' as never } })).rejects.toMatchObject({ statusCode: 400, code: 'InvalidParameter' });
    await expect(putVm('rg-bad', 'b2', { identity: { type: 'Managed' as never } })).rejects.toMatchObject({ statusCode: 400, code: 'InvalidParameter' });
    await expect(
      h.c.compute.disks.createOrUpdate('rg-bad', 'd1', { location: loc, securityProfile: { securityType: 'Secure' as never }, creationData: { createOption: 'Empty' }, diskSizeGB: 1 }, fast),
    ).rejects.toMatchObject({ statusCode: 400 });
  });
});
