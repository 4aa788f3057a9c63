// The pure parts of carrying a VM's shape over (issue 18): zone mapping, the sizes a failover tries, the
// disk type per disk, what is read from a source VM, and the refusal of Confidential VMs.
import { describe, expect, it } from 'vitest';
import type { ReplicatedVM } from '../../src/api/types.ts';
import { securityRefusal, sourceVmProperties } from '../../src/azure/source-vm-shape.ts';
import { osDiskShape, targetDiskType, vmShape, vmSizes } from '../../src/reconcilers/failover/steps/vm-shape.ts';
import { targetZoneOf } from '../../src/reconcilers/replicated-vm/zone-mapping.ts';

const rvm = (spec: Partial<ReplicatedVM['spec']>, status: ReplicatedVM['status'] = {}): ReplicatedVM =>
  ({
    apiVersion: 'siterecovery.io/v1alpha1',
    kind: 'ReplicatedVM',
    metadata: { name: 'vm' },
    spec: { sourceVirtualMachineId: '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm', targetLocation: 'northeurope', policyRef: { name: 'p' }, networkMappingRef: { name: 'n' }, ...spec },
    status,
  }) as ReplicatedVM;

describe('zone mapping', () => {
  it('keeps the zone number by default, follows a mapping, and lets targetZone win', () => {
    expect(targetZoneOf({}, '1')).toBe('1');
    expect(targetZoneOf({ zoneMappings: [{ sourceZone: '1', targetZone: '3' }] }, '1')).toBe('3');
    expect(targetZoneOf({ zoneMappings: [{ sourceZone: '1', targetZone: '3' }] }, '2')).toBe('2');
    expect(targetZoneOf({ targetZone: '2', zoneMappings: [{ sourceZone: '1', targetZone: '3' }] }, '1')).toBe('2');
    expect(targetZoneOf({}, undefined)).toBeUndefined();
    expect(targetZoneOf({ targetZone: '2' }, undefined)).toBe('2');
  });
});

describe('sizes and disk types at failover', () => {
  it('tries targetVmSize (else the source size), then the fallbacks, once each', () => {
    expect(vmSizes(rvm({}, { sourceVmSize: 'Standard_D4s_v5' }))).toEqual(['Standard_D4s_v5']);
    expect(vmSizes(rvm({ targetVmSize: 'Standard_E4s_v5', targetVmSizeFallbacks: ['Standard_D4s_v5', 'Standard_E4s_v5'] }, { sourceVmSize: 'Standard_D4s_v5' }))).toEqual(['Standard_E4s_v5', 'Standard_D4s_v5']);
  });

  it('gives each disk its source disk type unless the spec names one; Premium_LRS for a registration without types', () => {
    const vm = rvm({ targetDiskTypes: [{ disk: 'lun0', diskType: 'StandardSSD_LRS' }] }, {
      disks: [
        { name: 'os', role: 'OS', sourceDiskId: 'a', sizeBytes: 1, diskType: 'Standard_LRS', hyperVGeneration: 'V2' },
        { name: 'lun0', role: 'Data', lun: 0, sourceDiskId: 'b', sizeBytes: 1, diskType: 'Standard_LRS' },
        { name: 'lun1', role: 'Data', lun: 1, sourceDiskId: 'c', sizeBytes: 1 },
      ],
    });
    expect(['os', 'lun0', 'lun1'].map((d) => targetDiskType(vm, d))).toEqual(['Standard_LRS', 'StandardSSD_LRS', 'Premium_LRS']);
    expect(osDiskShape(vm)).toEqual({ hyperVGeneration: 'V2' });
  });

  it('builds the Trusted Launch security profile, license, tags, identities and boot diagnostics from the registration', () => {
    const vm = rvm({}, { sourceVmProperties: { securityType: 'TrustedLaunch', secureBootEnabled: true, vTpmEnabled: false, hyperVGeneration: 'V2', licenseType: 'Windows_Server', tags: { a: 'b' }, userAssignedIdentityIds: ['id1'], bootDiagnostics: { enabled: true } } });
    expect(vmShape(vm)).toEqual({
      securityProfile: { securityType: 'TrustedLaunch', uefiSettings: { secureBootEnabled: true, vTpmEnabled: false } },
      licenseType: 'Windows_Server',
      tags: { a: 'b' },
      userAssignedIdentityIds: ['id1'],
      bootDiagnostics: true,
    });
    expect(osDiskShape(vm)).toEqual({ hyperVGeneration: 'V2', trustedLaunch: true });
    expect(vmShape(rvm({}, { sourceVmProperties: { securityType: 'Standard' } }))).toEqual({});
    expect(vmShape(rvm({}, { sourceVmProperties: { securityType: 'Standard', systemAssignedIdentity: true } }))).toEqual({ systemAssignedIdentity: true });
  });
});

describe('reading a source VM', () => {
  it('refuses a Confidential VM with a reason and a message naming it; Standard and Trusted Launch pass', () => {
    expect(securityRefusal({ location: 'westeurope', securityProfile: { securityType: 'ConfidentialVM' } })).toMatchObject({ reason: 'ConfidentialVmNotSupported', message: expect.stringContaining('ConfidentialVM') });
    expect(securityRefusal({ location: 'westeurope', securityProfile: { securityType: 'TrustedLaunch' } })).toBeUndefined();
    expect(securityRefusal({ location: 'westeurope' })).toBeUndefined();
  });

  it('records generation from the OS disk, and only what the VM has', () => {
    expect(sourceVmProperties({ location: 'westeurope' }, { location: 'westeurope', hyperVGeneration: 'V1' })).toEqual({ hyperVGeneration: 'V1', securityType: 'Standard', systemAssignedIdentity: false });
    expect(
      sourceVmProperties(
        { location: 'westeurope', securityProfile: { securityType: 'TrustedLaunch', uefiSettings: { secureBootEnabled: true } }, tags: { env: 'prod' }, identity: { type: 'SystemAssigned, UserAssigned', userAssignedIdentities: { id1: {} } } },
        { location: 'westeurope', hyperVGeneration: 'V2' },
      ),
    ).toEqual({ hyperVGeneration: 'V2', securityType: 'TrustedLaunch', secureBootEnabled: true, vTpmEnabled: false, tags: { env: 'prod' }, userAssignedIdentityIds: ['id1'], systemAssignedIdentity: true });
    expect(sourceVmProperties({ location: 'westeurope', identity: { type: 'SystemAssigned' } }, undefined)).toEqual({ securityType: 'Standard', systemAssignedIdentity: true });
    expect(sourceVmProperties({ location: 'westeurope', identity: { type: 'UserAssigned', userAssignedIdentities: { id1: {} } } }, undefined)).toEqual({ securityType: 'Standard', userAssignedIdentityIds: ['id1'], systemAssignedIdentity: false });
  });
});
