/**
 * What a failed-over VM carries over from its source VM besides disks and NICs: generation, security type
 * (Trusted Launch with its secure boot and vTPM settings), license type, tags, user-assigned identities,
 * whether it has a system-assigned identity, and boot diagnostics. Read at enable time (and on every pass while the source answers), recorded in
 * status and saved in the target region, so a failover never reads the source VM.
 *
 * A Confidential VM is refused here, before anything is created: its disks are encrypted with keys bound
 * to the VM's own TPM state, which the replica cannot carry, and ASR does not support it either.
 */
import type { Disk, VirtualMachine } from '@azure/arm-compute';
import type { SourceVmProperties } from '../api/types.ts';

export interface ShapeRefusal {
  reason: string;
  message: string;
}

/** Why the VM cannot be protected because of its security type, if it cannot. */
export function securityRefusal(vm: VirtualMachine): ShapeRefusal | undefined {
  const type = vm.securityProfile?.securityType;
  if (type && type !== 'TrustedLaunch' && type !== 'Standard') {
    return {
      reason: 'ConfidentialVmNotSupported',
      message: `the VM's security type is ${type}: Confidential VMs cannot be replicated (their disks are encrypted with keys bound to the VM's own TPM); only Standard and TrustedLaunch VMs can`,
    };
  }
  return undefined;
}

/** The properties carried over, from the VM and its OS disk. */
export function sourceVmProperties(vm: VirtualMachine, osDisk: Disk | undefined): SourceVmProperties {
  const security = vm.securityProfile;
  const trusted = security?.securityType === 'TrustedLaunch';
  const identities = Object.keys(vm.identity?.userAssignedIdentities ?? {});
  // identity.type: SystemAssigned | UserAssigned | 'SystemAssigned, UserAssigned' | None (VirtualMachineIdentity).
  const systemAssigned = vm.identity?.type?.includes('SystemAssigned') ?? false;
  const boot = vm.diagnosticsProfile?.bootDiagnostics;
  const generation = osDisk?.hyperVGeneration;
  return {
    ...(generation === 'V1' || generation === 'V2' ? { hyperVGeneration: generation } : {}),
    securityType: trusted ? 'TrustedLaunch' : 'Standard',
    ...(trusted ? { secureBootEnabled: security?.uefiSettings?.secureBootEnabled ?? false, vTpmEnabled: security?.uefiSettings?.vTpmEnabled ?? false } : {}),
    ...(vm.licenseType ? { licenseType: vm.licenseType } : {}),
    ...(vm.tags && Object.keys(vm.tags).length ? { tags: { ...vm.tags } } : {}),
    ...(identities.length ? { userAssignedIdentityIds: identities } : {}),
    systemAssignedIdentity: systemAssigned,
    ...(boot ? { bootDiagnostics: { enabled: boot.enabled ?? false } } : {}),
  };
}
