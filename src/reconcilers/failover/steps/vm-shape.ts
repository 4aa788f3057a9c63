/**
 * The shape of a failed-over VM and its disks, from the registration recorded at enable time (status,
 * saved in the target region too), never from the source VM, which may be in a region that is down:
 * - disk type per disk: spec.targetDiskTypes, else the source disk's SKU (ASR's default), else
 *   Premium_LRS for a registration recorded before disk types were;
 * - the OS disk's generation and, for Trusted Launch, its security type (Azure needs a V2 disk with
 *   securityType TrustedLaunch under a Trusted Launch VM);
 * - the sizes to try in order: spec.targetVmSize (else the source size), then spec.targetVmSizeFallbacks;
 * - security profile (secure boot and vTPM as the source has them), license type, tags, user-assigned
 *   identities (the same ones: identities are global), a system-assigned identity when the source has one
 *   (a new principal: Azure creates it with the VM; the source principal's role assignments stay with it),
 *   and boot diagnostics (managed storage: the source's storage account is in the source region).
 */
import type { ReplicatedVM } from '../../../api/types.ts';
import type { VmShape } from '../../../azure/resources/virtual-machine.ts';

const LEGACY_DISK_TYPE = 'Premium_LRS';
const DEFAULT_SIZE = 'Standard_D2s_v3';

export function targetDiskType(vm: ReplicatedVM, diskName: string): string {
  const chosen = vm.spec.targetDiskTypes?.find((d) => d.disk === diskName)?.diskType;
  return chosen ?? vm.status?.disks?.find((d) => d.name === diskName)?.diskType ?? LEGACY_DISK_TYPE;
}

export function osDiskShape(vm: ReplicatedVM): { hyperVGeneration?: 'V1' | 'V2'; trustedLaunch?: boolean } {
  const props = vm.status?.sourceVmProperties;
  const generation = props?.hyperVGeneration ?? vm.status?.disks?.find((d) => d.role === 'OS')?.hyperVGeneration;
  return {
    ...(generation ? { hyperVGeneration: generation } : {}),
    ...(props?.securityType === 'TrustedLaunch' ? { trustedLaunch: true } : {}),
  };
}

/** The sizes to try, in order, without repeats. */
export function vmSizes(vm: ReplicatedVM): string[] {
  const first = vm.spec.targetVmSize ?? vm.status?.sourceVmSize ?? DEFAULT_SIZE;
  return [...new Set([first, ...(vm.spec.targetVmSizeFallbacks ?? [])])];
}

export function vmShape(vm: ReplicatedVM): VmShape {
  const props = vm.status?.sourceVmProperties ?? {};
  return {
    ...(props.securityType === 'TrustedLaunch'
      ? { securityProfile: { securityType: 'TrustedLaunch', uefiSettings: { secureBootEnabled: props.secureBootEnabled ?? false, vTpmEnabled: props.vTpmEnabled ?? false } } }
      : {}),
    ...(props.licenseType ? { licenseType: props.licenseType } : {}),
    ...(props.tags ? { tags: Object.fromEntries(Object.entries(props.tags).filter((e): e is [string, string] => e[1] !== undefined)) } : {}),
    ...(props.userAssignedIdentityIds?.length ? { userAssignedIdentityIds: props.userAssignedIdentityIds } : {}),
    ...(props.systemAssignedIdentity ? { systemAssignedIdentity: true } : {}),
    ...(props.bootDiagnostics ? { bootDiagnostics: props.bootDiagnostics.enabled ?? false } : {}),
  };
}
