// A production-shaped VM fails over as it is (issue 18): a Trusted Launch Gen2 VM (secure boot, vTPM) with
// tags, a zone, a non-default size, a license type, a system-assigned and a user-assigned identity (the
// target gets a new principal, named in an event), boot diagnostics, accelerated
// networking and Standard_LRS disks, its data disk encrypted with a customer-managed key (a disk encryption
// set), fails over (Test, then Planned) and the target read back through the SDK has all of them, in the
// mapped zone, with the disk types the spec and the source say and the data disk encrypted with the mapped
// target set. A disk whose set is not mapped, or mapped to a set outside the target region, is refused
// before anything is created. The failed-over VM joins the proximity placement group and capacity reservation
// group the spec names in the target region (one elsewhere or missing is refused). Zone to zone within one region: refused into the source's own zone, then
// mapped to another zone it replicates and fails over (Test and Planned) into that zone of the same region. Sizes not
// offered in the target zone fall back to spec.targetVmSizeFallbacks; none offered is refused with a
// clear reason; a Confidential VM is refused before anything is created. With the source region down, a
// failover builds the same VM from the registration alone (nothing is read from the source at failover).
// A VM in an availability set fails over into the mirrored set. Real operator and datapath (in
// this process), real API server, local Azure.
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCE_ROLE } from '../../src/api/contract.ts';
import type { FailoverRequest, ReplicatedVMSpec } from '../../src/api/types.ts';
import { parseArmId } from '../../src/azure/arm-id.ts';
import { AzureClients } from '../../src/azure/clients.ts';
import { readSavedRegistration } from '../../src/azure/saved-registration.ts';
import type { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { createSmallVm, SOURCE_LOCATION } from '../support/datapath-sandbox.ts';
import { finished, startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import { enforceShippedRoles, nothingRefused } from '../support/shipped-roles.ts';
import { waitForEvents } from '../support/events.ts';
import { conditionIs, type Clients } from '../support/operator-fixtures.ts';
import { waitForObject } from '../support/wait.ts';

const DISK_BYTES = 8 * 1024 * 1024;
const TARGET = 'northeurope';
const SIZE = 'Standard_D4s_v5';
const FALLBACK = 'Standard_D8s_v5';
const vmName = 'shaped';
const rg = 'vmshape-src';
const TAGS = { app: 'billing', env: 'prod' };

let fx: FailoverFixture;
let kc: KubeConfig;
let ns: string;
let clients: Clients;
let failovers: CustomResourceClient<FailoverRequest>;
let az: AzureClients;
let identityId: string;
let sourcePrincipal: string;
let targetSetId: string;
let ppgId: string;
let crgId: string;
const DES_RG = 'vmshape-des';
const KEY = { keyUrl: 'https://vault.example/keys/disks/0123456789abcdef' };

/** A disk encryption set named `name` in `group`, which is created in `location` if need be. */
async function diskEncryptionSet(group: string, name: string, location: string): Promise<string> {
  await fx.sb.c.resources.resourceGroups.createOrUpdate(group, { location });
  const set = await fx.sb.c.compute.diskEncryptionSets.beginCreateOrUpdateAndWait(group, name, { location, identity: { type: 'SystemAssigned' }, encryptionType: 'EncryptionAtRestWithCustomerKey', activeKey: KEY }, { updateIntervalInMs: 20 });
  return set.id as string;
}

/** Encrypts an existing source disk with disk encryption set `setId`. */
async function encrypt(group: string, diskName: string, setId: string): Promise<void> {
  const disk = await fx.sb.c.compute.disks.get(group, diskName);
  await fx.sb.c.compute.disks.beginCreateOrUpdateAndWait(group, diskName, { location: disk.location, sku: disk.sku, creationData: disk.creationData, encryption: { type: 'EncryptionAtRestWithCustomerKey', diskEncryptionSetId: setId } }, { updateIntervalInMs: 20 });
}
const foRef = (name: string) => ({ namespace: ns, name });

beforeAll(async () => {
  const spec: Partial<ReplicatedVMSpec> = {
    zoneMappings: [{ sourceZone: '1', targetZone: '2' }],
    targetVmSizeFallbacks: [FALLBACK],
    targetDiskTypes: [{ disk: 'lun0', diskType: 'StandardSSD_ZRS' }],
  };
  identityId = `/subscriptions/00000000-0000-4000-8000-00000000a2a0/resourceGroups/identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/billing-id`;
  fx = await startFailoverFixture({
    principals: true,
    namespacePrefix: 'vmshape',
    rg,
    vmName,
    disks: 2,
    diskBytes: DISK_BYTES,
    shape: {
      zone: '1',
      diskType: 'Standard_LRS',
      osDisk: { hyperVGeneration: 'V2', securityType: 'TrustedLaunch' },
      acceleratedNetworking: true,
      vm: {
        hardwareProfile: { vmSize: SIZE },
        securityProfile: { securityType: 'TrustedLaunch', uefiSettings: { secureBootEnabled: true, vTpmEnabled: true } },
        licenseType: 'RHEL_BYOS',
        tags: TAGS,
        identity: { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { [identityId]: {} } },
        diagnosticsProfile: { bootDiagnostics: { enabled: true } },
      },
    },
    spec,
  });
  enforceShippedRoles(fx.sb);
  ({ kc, ns, clients, failovers } = fx);
  az = new AzureClients(fx.sb.azure);
  sourcePrincipal = (await az.compute.virtualMachines.get(rg, vmName)).identity?.principalId as string;
  // The data disk is encrypted with a customer-managed key; the mapping names a set in the target region
  // (the fixture reads `spec` when protect() applies the ReplicatedVM).
  const sourceSetId = await diskEncryptionSet(rg, 'source-des', SOURCE_LOCATION);
  targetSetId = await diskEncryptionSet(DES_RG, 'target-des', TARGET);
  await encrypt(rg, `${vmName}-disk1`, sourceSetId);
  spec.diskEncryptionSetMappings = [{ sourceDiskEncryptionSetId: sourceSetId, targetDiskEncryptionSetId: targetSetId }];
  ppgId = (await fx.sb.c.compute.proximityPlacementGroups.createOrUpdate(DES_RG, 'target-ppg', { location: TARGET })).id as string;
  crgId = (await fx.sb.c.compute.capacityReservationGroups.createOrUpdate(DES_RG, 'target-crg', { location: TARGET, zones: ['2'] })).id as string;
  spec.targetProximityPlacementGroupId = ppgId;
  spec.targetCapacityReservationGroupId = crgId;
  // A short resync: the operator re-reads the source VM often, so a change of it is recorded quickly.
  await fx.runInProcess('dp-vmshape', { resyncMs: 2_000 });
  await fx.protect(1);
});

afterAll(async () => {
  await fx?.close();
});

/** The failed-over VM read back through the SDK has every property of the source. */
async function expectShaped(vmId: string, size: string): Promise<void> {
  const { resourceGroup, name } = parseArmId(vmId);
  const target = await az.compute.virtualMachines.get(resourceGroup, name);
  expect(target.location).toBe(TARGET);
  expect(target.hardwareProfile?.vmSize).toBe(size);
  expect(target.zones).toEqual(['2']);
  expect(target.securityProfile).toMatchObject({ securityType: 'TrustedLaunch', uefiSettings: { secureBootEnabled: true, vTpmEnabled: true } });
  expect(target.licenseType).toBe('RHEL_BYOS');
  expect(target.tags).toMatchObject(TAGS);
  expect(Object.keys(target.identity?.userAssignedIdentities ?? {})).toEqual([identityId]);
  // A system-assigned identity of its own: a new principal, not the source VM's.
  expect(target.identity?.type).toBe('SystemAssigned, UserAssigned');
  expect(sourcePrincipal).toMatch(/^[0-9a-f-]{36}$/);
  expect(target.identity?.principalId).toMatch(/^[0-9a-f-]{36}$/);
  expect(target.identity?.principalId).not.toBe(sourcePrincipal);
  expect(target.diagnosticsProfile?.bootDiagnostics?.enabled).toBe(true);
  expect(target.proximityPlacementGroup?.id).toBe(ppgId);
  expect(target.capacityReservation?.capacityReservationGroup?.id).toBe(crgId);
  expect((await az.compute.virtualMachines.instanceView(resourceGroup, name)).hyperVGeneration).toBe('V2');

  const osDiskId = parseArmId(target.storageProfile?.osDisk?.managedDisk?.id as string);
  const os = await az.compute.disks.get(osDiskId.resourceGroup, osDiskId.name);
  expect(os.sku?.name).toBe('Standard_LRS');
  expect(os.hyperVGeneration).toBe('V2');
  expect(os.securityProfile?.securityType).toBe('TrustedLaunch');
  expect(os.zones).toEqual(['2']);
  const dataId = parseArmId(target.storageProfile?.dataDisks?.[0]?.managedDisk?.id as string);
  const data = await az.compute.disks.get(dataId.resourceGroup, dataId.name);
  expect(data.sku?.name).toBe('StandardSSD_ZRS');
  expect(data.zones ?? []).toEqual([]); // zone-redundant: in no zone, attached to the zonal VM
  expect(data.encryption).toEqual({ type: 'EncryptionAtRestWithCustomerKey', diskEncryptionSetId: targetSetId });
  expect(os.encryption?.type).toBe('EncryptionAtRestWithPlatformKey');

  const nicId = parseArmId(target.networkProfile?.networkInterfaces?.[0]?.id as string);
  expect((await az.network.networkInterfaces.get(nicId.resourceGroup, nicId.name)).enableAcceleratedNetworking).toBe(true);
}

describe('a Trusted Launch Gen2 VM with tags, a zone, a size, a license and Standard_LRS disks', () => {
  it('records what the target needs at enable time, in status and in the registration saved in the target region', async () => {
    const vm = await clients.vms.get({ namespace: ns, name: vmName });
    const expected = {
      hyperVGeneration: 'V2',
      securityType: 'TrustedLaunch',
      secureBootEnabled: true,
      vTpmEnabled: true,
      licenseType: 'RHEL_BYOS',
      tags: TAGS,
      userAssignedIdentityIds: [identityId],
      systemAssignedIdentity: true,
      bootDiagnostics: { enabled: true },
    };
    expect(vm?.status?.sourceVmProperties).toEqual(expected);
    expect(vm?.status?.targetZone).toBe('2');
    expect(vm?.status?.disks?.map((d) => d.diskType)).toEqual(['Standard_LRS', 'Standard_LRS']);
    expect(vm?.status?.disks?.map((d) => d.diskEncryptionSetId && parseArmId(d.diskEncryptionSetId).name)).toEqual([undefined, 'source-des']);
    expect(vm?.status?.sourceNetworkInterfaces?.[0]?.acceleratedNetworking).toBe(true);
    const container = vm?.status?.targetResources?.find((r) => r.role === RESOURCE_ROLE.replicaContainer)?.id as string;
    const saved = await readSavedRegistration(az, container);
    expect(saved?.sourceVmProperties).toEqual(expected);
    expect(saved?.disks?.[0]).toMatchObject({ diskType: 'Standard_LRS', hyperVGeneration: 'V2' });
  });

  it('keeps the recorded properties current: a tag added to the source VM reaches status and the saved registration', async () => {
    await fx.sb.c.compute.virtualMachines.beginUpdateAndWait(rg, vmName, { tags: { ...TAGS, owner: 'team-a' } }, { updateIntervalInMs: 20 });
    const vm = await waitForObject(kc, clients.vms, { namespace: ns, name: vmName }, (o) => o?.status?.sourceVmProperties?.tags?.owner === 'team-a', 'new tag recorded', 60_000);
    expect(vm?.status?.sourceVmProperties?.securityType).toBe('TrustedLaunch');
    const container = vm?.status?.targetResources?.find((r) => r.role === RESOURCE_ROLE.replicaContainer)?.id as string;
    expect((await readSavedRegistration(az, container))?.sourceVmProperties?.tags).toEqual({ ...TAGS, owner: 'team-a' });
  });

  it('Test failover: the target VM has all of them, in the mapped zone', async () => {
    await failovers.create(ns, { metadata: { name: 'drill' }, spec: { replicatedVMName: vmName, type: 'Test' } });
    const fo = await waitForObject(kc, failovers, foRef('drill'), finished, 'test failover done', 120_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    await expectShaped(fo?.status?.targetVirtualMachineId as string, SIZE);
    // The new principal is reported in status and in an event, with what it lacks.
    const { resourceGroup, name } = parseArmId(fo?.status?.targetVirtualMachineId as string);
    const principal = (await az.compute.virtualMachines.get(resourceGroup, name)).identity?.principalId as string;
    expect(fo?.status?.targetPrincipalId).toBe(principal);
    const [event] = await waitForEvents(kc, ns, 'drill', 'SystemAssignedIdentityCreated', 1);
    expect(event?.message).toBe(`the failed-over VM has a new system-assigned identity, principal ${principal}: the role assignments of the source VM's principal are not copied; grant this principal what the VM needs`);
  });

  it('with the source region down, a Test failover builds the same VM from the registration alone', async () => {
    fx.sb.arm.outages.start(SOURCE_LOCATION);
    try {
      await failovers.create(ns, { metadata: { name: 'drill-outage' }, spec: { replicatedVMName: vmName, type: 'Test' } });
      const fo = await waitForObject(kc, failovers, foRef('drill-outage'), finished, 'test failover during the outage done', 120_000);
      expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
      await expectShaped(fo?.status?.targetVirtualMachineId as string, SIZE);
    } finally {
      fx.sb.arm.outages.end(SOURCE_LOCATION);
    }
    // Replication resumes (a Planned failover below needs the source region answering again).
    const cycle = (await clients.vms.get({ namespace: ns, name: vmName }))?.status?.replication?.cycle ?? 0;
    await waitForObject(kc, clients.vms, { namespace: ns, name: vmName }, (o) => !conditionIs('SourceRegionUnavailable', 'True')(o) && (o?.status?.replication?.cycle ?? 0) > cycle, 'replicating again', 120_000);
  });

  it('refuses with SkuNotAvailable, naming the sizes, when no size is offered in the target zone', async () => {
    const targetGroup = parseArmId((await failovers.get(foRef('drill')))?.status?.targetVirtualMachineId as string).resourceGroup;
    const vmsIn = async () => {
      const names = [];
      for await (const v of az.compute.virtualMachines.list(targetGroup)) names.push(v.name);
      return names;
    };
    const before = await vmsIn();
    fx.sb.arm.skus.restrict(SIZE, TARGET, ['2']);
    fx.sb.arm.skus.restrict(FALLBACK, TARGET, ['2']);
    await failovers.create(ns, { metadata: { name: 'no-size' }, spec: { replicatedVMName: vmName, type: 'Test' } });
    const fo = await waitForObject(kc, failovers, foRef('no-size'), finished, 'failover refused', 120_000);
    expect(fo?.status?.phase).toBe('Failed');
    const succeeded = fo?.status?.conditions?.find((c) => c.type === 'Succeeded');
    expect(succeeded).toMatchObject({ status: 'False', reason: 'SkuNotAvailable' });
    expect(succeeded?.message).toContain(`${SIZE}, ${FALLBACK}`);
    expect(fo?.status?.targetVirtualMachineId).toBeUndefined();
    expect(await vmsIn()).toEqual(before);
    await failovers.delete(foRef('no-size'));
  });

  it('Planned failover: the first size not offered in the target zone, the fallback is used, and the rest carries over', async () => {
    fx.sb.arm.skus.clear();
    fx.sb.arm.skus.restrict(SIZE, TARGET, ['2']);
    await failovers.create(ns, { metadata: { name: 'move' }, spec: { replicatedVMName: vmName, type: 'Planned' } });
    const fo = await waitForObject(kc, failovers, foRef('move'), finished, 'planned failover done', 180_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    expect(fo?.status?.steps?.find((s) => s.name === 'CreateVirtualMachine')?.message).toContain(FALLBACK);
    await expectShaped(fo?.status?.targetVirtualMachineId as string, FALLBACK);
  });
});

describe('a VM in an availability set', () => {
  it('fails over into the mirrored availability set (same fault and update domains), in no zone', async () => {
    const avsRg = 'vmshape-avs';
    await fx.sb.c.resources.resourceGroups.createOrUpdate(avsRg, { location: SOURCE_LOCATION });
    const set = await fx.sb.c.compute.availabilitySets.createOrUpdate(avsRg, 'web-set', { location: SOURCE_LOCATION, sku: { name: 'Aligned' }, platformFaultDomainCount: 3, platformUpdateDomainCount: 4 });
    await fx.protectVm({ rg: avsRg, name: 'web', location: SOURCE_LOCATION, disks: 1, shape: { vm: { availabilitySet: { id: set.id as string } } } });
    const vm = await clients.vms.get({ namespace: ns, name: 'web' });
    expect(vm?.status?.targetZone).toBeUndefined();
    const targetSetId = vm?.status?.targetAvailabilitySetId as string;
    expect(parseArmId(targetSetId).name).toBe('web-set-asr');

    await failovers.create(ns, { metadata: { name: 'web-drill' }, spec: { replicatedVMName: 'web', type: 'Test' } });
    const fo = await waitForObject(kc, failovers, foRef('web-drill'), finished, 'test failover done', 120_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    const { resourceGroup, name } = parseArmId(fo?.status?.targetVirtualMachineId as string);
    const target = await az.compute.virtualMachines.get(resourceGroup, name);
    expect(target.availabilitySet?.id?.toLowerCase()).toBe(targetSetId.toLowerCase());
    expect(target.zones ?? []).toEqual([]);
    const mirrored = await az.compute.availabilitySets.get(parseArmId(targetSetId).resourceGroup, 'web-set-asr');
    expect([mirrored.location, mirrored.platformFaultDomainCount, mirrored.platformUpdateDomainCount]).toEqual([TARGET, 3, 4]);
  });
});

describe('a disk encrypted with a customer-managed key', () => {
  it('is refused before anything is created when its disk encryption set is not mapped or mapped outside the target region; so are placement groups outside it or missing', async () => {
    const cmkRg = 'vmshape-cmk';
    const cmk = await createSmallVm(fx.sb, cmkRg, 'cmk', 2, DISK_BYTES);
    const set = await diskEncryptionSet(cmkRg, 'cmk-des', SOURCE_LOCATION);
    await encrypt(cmkRg, 'cmk-disk1', set);
    const sourceVirtualNetworkId = `/subscriptions/${fx.sb.arm.subscriptionId}/resourceGroups/${cmkRg}/providers/Microsoft.Network/virtualNetworks/${cmkRg}-vnet`;
    await clients.mappings.create(ns, { metadata: { name: 'cmk-net' }, spec: { sourceVirtualNetworkId, targetLocation: TARGET, targetResourceGroup: `${cmkRg}-asr` } });
    await clients.vms.create(ns, { metadata: { name: 'cmk' }, spec: { sourceVirtualMachineId: cmk.id as string, targetLocation: TARGET, policyRef: { name: 'fast' }, networkMappingRef: { name: 'cmk-net' } } });
    const ref = { namespace: ns, name: 'cmk' };
    const stalledWith = (reason: string) => (o: { status?: { conditions?: { type: string; status: string; reason?: string }[] } } | undefined) =>
      (o?.status?.conditions ?? []).some((c) => c.type === 'Stalled' && c.status === 'True' && c.reason === reason);
    const unmapped = await waitForObject(kc, clients.vms, ref, stalledWith('DiskEncryptionSetNotMapped'), 'unmapped set refused', 60_000);
    expect(unmapped?.status?.conditions?.find((c) => c.type === 'Stalled')?.message).toBe(`disk lun0 is encrypted with disk encryption set ${set}, which spec.diskEncryptionSetMappings does not map to a disk encryption set in the target region`);
    await clients.vms.mergePatch(ref, { spec: { diskEncryptionSetMappings: [{ sourceDiskEncryptionSetId: set, targetDiskEncryptionSetId: set }] } });
    const elsewhere = await waitForObject(kc, clients.vms, ref, stalledWith('DiskEncryptionSetNotUsable'), 'set outside the target region refused', 60_000);
    expect(elsewhere?.status?.conditions?.find((c) => c.type === 'Stalled')?.message).toBe(`target disk encryption set ${set} (for disk lun0) is in ${SOURCE_LOCATION}, not in the target region ${TARGET}`);
    expect(elsewhere?.status?.targetResources ?? []).toEqual([]);
    // Placement groups named in the target: one in the source region, one that does not exist.
    const sourcePpg = (await fx.sb.c.compute.proximityPlacementGroups.createOrUpdate(cmkRg, 'source-ppg', { location: SOURCE_LOCATION })).id as string;
    await clients.vms.mergePatch(ref, { spec: { diskEncryptionSetMappings: [{ sourceDiskEncryptionSetId: set, targetDiskEncryptionSetId: targetSetId }], targetProximityPlacementGroupId: sourcePpg } });
    const ppg = await waitForObject(kc, clients.vms, ref, stalledWith('ProximityPlacementGroupNotUsable'), 'placement group outside the target region refused', 60_000);
    expect(ppg?.status?.conditions?.find((c) => c.type === 'Stalled')?.message).toBe(`proximity placement group ${sourcePpg} is in ${SOURCE_LOCATION}, not in the target region ${TARGET}`);
    const missing = `${crgId}-missing`;
    await clients.vms.mergePatch(ref, { spec: { targetProximityPlacementGroupId: null, targetCapacityReservationGroupId: missing } });
    const crg = await waitForObject(kc, clients.vms, ref, stalledWith('CapacityReservationGroupNotUsable'), 'missing capacity reservation group refused', 60_000);
    expect(crg?.status?.conditions?.find((c) => c.type === 'Stalled')?.message).toBe(`capacity reservation group ${missing} does not exist`);
    expect(crg?.status?.targetResources ?? []).toEqual([]);
  });
});

describe('zone to zone within one region', () => {
  it('is refused into the same zone; into another zone of the region it fails over (Test and Planned) there', async () => {
    const zRg = 'vmshape-z2z';
    const zonal = await createSmallVm(fx.sb, zRg, 'zonal', 2, DISK_BYTES, SOURCE_LOCATION, { zone: '1' });
    const sourceVirtualNetworkId = `/subscriptions/${fx.sb.arm.subscriptionId}/resourceGroups/${zRg}/providers/Microsoft.Network/virtualNetworks/${zRg}-vnet`;
    await clients.mappings.create(ns, { metadata: { name: 'z2z-net' }, spec: { sourceVirtualNetworkId, targetLocation: SOURCE_LOCATION, targetResourceGroup: `${zRg}-asr` } });
    await clients.vms.create(ns, { metadata: { name: 'zonal' }, spec: { sourceVirtualMachineId: zonal.id as string, targetLocation: SOURCE_LOCATION, policyRef: { name: 'fast' }, networkMappingRef: { name: 'z2z-net' } } });
    const ref = { namespace: ns, name: 'zonal' };
    const refused = await waitForObject(kc, clients.vms, ref, conditionIs('Stalled', 'True'), 'same zone refused', 60_000);
    expect(refused?.status?.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({
      reason: 'SameRegion',
      message: `the VM is already in ${SOURCE_LOCATION}, zone 1; for zone-to-zone replication name another target zone (spec.targetZone or spec.zoneMappings), or choose another target location`,
    });
    expect(refused?.status?.targetResources ?? []).toEqual([]);

    await clients.vms.mergePatch(ref, { spec: { zoneMappings: [{ sourceZone: '1', targetZone: '3' }] } });
    await waitForObject(kc, clients.vms, ref, (o) => o?.status?.phase === 'Protected' && (o.status.replication?.cycle ?? 0) >= 1, 'protected zone to zone', 180_000);
    for (const [name, type] of [['z2z-drill', 'Test'], ['z2z-move', 'Planned']] as const) {
      await failovers.create(ns, { metadata: { name }, spec: { replicatedVMName: 'zonal', type } });
      const fo = await waitForObject(kc, failovers, foRef(name), finished, `${type} failover done`, 180_000);
      expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
      const { resourceGroup, name: vmName2 } = parseArmId(fo?.status?.targetVirtualMachineId as string);
      const target = await az.compute.virtualMachines.get(resourceGroup, vmName2);
      expect([resourceGroup, target.location, target.zones]).toEqual([`${zRg}-asr`, SOURCE_LOCATION, ['3']]);
      for (const d of [target.storageProfile?.osDisk, ...(target.storageProfile?.dataDisks ?? [])]) {
        const id = parseArmId(d?.managedDisk?.id as string);
        expect((await az.compute.disks.get(id.resourceGroup, id.name)).zones).toEqual(['3']);
      }
    }
  });
});

describe('a Confidential VM', () => {
  it('is refused with a clear reason before anything is created for it', async () => {
    const cvmRg = 'vmshape-cvm';
    const cvm = await createSmallVm(fx.sb, cvmRg, 'cvm', 1, DISK_BYTES, undefined, {
      vm: { securityProfile: { securityType: 'ConfidentialVM', uefiSettings: { secureBootEnabled: true, vTpmEnabled: true } } },
    });
    const sourceVirtualNetworkId = `/subscriptions/${fx.sb.arm.subscriptionId}/resourceGroups/${cvmRg}/providers/Microsoft.Network/virtualNetworks/${cvmRg}-vnet`;
    await clients.mappings.create(ns, { metadata: { name: 'cvm-net' }, spec: { sourceVirtualNetworkId, targetLocation: TARGET, targetResourceGroup: `${cvmRg}-asr` } });
    await clients.vms.create(ns, { metadata: { name: 'cvm' }, spec: { sourceVirtualMachineId: cvm.id as string, targetLocation: TARGET, policyRef: { name: 'fast' }, networkMappingRef: { name: 'cvm-net' } } });
    const refused = await waitForObject(kc, clients.vms, { namespace: ns, name: 'cvm' }, conditionIs('Stalled', 'True'), 'confidential VM refused', 60_000);
    const stalled = refused?.status?.conditions?.find((c) => c.type === 'Stalled');
    expect(stalled?.reason).toBe('ConfidentialVmNotSupported');
    expect(stalled?.message).toContain('ConfidentialVM');
    expect(refused?.status?.targetResources ?? []).toEqual([]);
    expect(refused?.status?.disks).toBeUndefined();
    const accounts = [];
    for await (const a of az.storage.storageAccounts.listByResourceGroup(`${cvmRg}-asr`)) accounts.push(a);
    expect(accounts).toEqual([]);
  });
});

// Beyond azure-roles.test.ts's scenario: availability sets, encryption sets, placement and reservation groups.
nothingRefused(() => fx.sb, {
  operator: [
    'Microsoft.Compute/availabilitySets/read',
    'Microsoft.Compute/availabilitySets/write',
    'Microsoft.Compute/capacityReservationGroups/read',
    'Microsoft.Compute/diskEncryptionSets/read',
    'Microsoft.Compute/proximityPlacementGroups/read',
  ],
});
