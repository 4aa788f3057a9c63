// The properties of a virtual machine that describe its shape rather than its disks and NICs, accepted and
// returned in the shapes of the Compute REST API, specification/compute/resource-manager/Microsoft.Compute/
// ComputeRP/stable/2024-07-01/virtualMachine.json (Azure/azure-rest-api-specs):
// - `properties.securityProfile` (SecurityProfile: `securityType` Standard | TrustedLaunch | ConfidentialVM,
//   `uefiSettings` {secureBootEnabled, vTpmEnabled}), stored as given;
// - `properties.licenseType` (string, e.g. Windows_Server, RHEL_BYOS, None);
// - `properties.diagnosticsProfile.bootDiagnostics` ({enabled, storageUri}), stored as given;
// - `identity` (VirtualMachineIdentity: `type` SystemAssigned | UserAssigned | "SystemAssigned,
//   UserAssigned" | None, `userAssignedIdentities` a map from identity id to {principalId, clientId}, both
//   read-only and filled by the service; a system-assigned identity gets read-only principalId, tenantId);
// - `properties.hardwareProfile.vmSize`, refused SkuNotAvailable where the size is not offered
//   (../../sku-availability.ts).
// The VM's `instanceView.hyperVGeneration` is its OS disk's `hyperVGeneration` (V1 when it has none).
import type { ArmEngine } from '../../engine.ts';
import { invalidParameter } from '../../errors.ts';
import type { Json } from '../../store.ts';
import { clone, isObj, uuid } from '../common.ts';

const SECURITY_TYPES = ['Standard', 'TrustedLaunch', 'ConfidentialVM'];
const IDENTITY_TYPES = ['SystemAssigned', 'UserAssigned', 'SystemAssigned, UserAssigned', 'None'];
const TENANT_ID = '00000000-0000-4000-8000-0000000a2a7e';

/** The security profile a VM PUT asks for, checked against the enum the spec documents. */
export function checkSecurityProfile(props: Json): Json | undefined {
  const sp = props.securityProfile;
  if (sp === undefined || sp === null) return undefined;
  if (!isObj(sp)) throw invalidParameter('The value of parameter securityProfile is invalid.', 'securityProfile');
  if (sp.securityType !== undefined && !SECURITY_TYPES.includes(String(sp.securityType))) {
    throw invalidParameter(`The value '${String(sp.securityType)}' of parameter 'securityProfile.securityType' is invalid.`, 'securityProfile.securityType');
  }
  return clone(sp);
}

/** The identity block of a VM as the service returns it: ids kept, principal and client ids filled. */
export function vmIdentity(req: Json, previous: Json | undefined): Json | undefined {
  const given = req.identity;
  if (given === undefined) return previous;
  if (!isObj(given) || !IDENTITY_TYPES.includes(String(given.type))) {
    throw invalidParameter(`The value '${String(given?.type)}' of parameter 'identity.type' is invalid.`, 'identity.type');
  }
  if (given.type === 'None') return undefined;
  const out: Json = { type: given.type };
  if (String(given.type).includes('SystemAssigned')) {
    out.principalId = previous?.principalId ?? uuid();
    out.tenantId = TENANT_ID;
  }
  if (String(given.type).includes('UserAssigned')) {
    const ids = isObj(given.userAssignedIdentities) ? Object.keys(given.userAssignedIdentities) : [];
    if (!ids.length) throw invalidParameter("Required parameter 'identity.userAssignedIdentities' is missing (null).", 'identity.userAssignedIdentities');
    out.userAssignedIdentities = Object.fromEntries(ids.map((id) => [id, previous?.userAssignedIdentities?.[id] ?? { principalId: uuid(), clientId: uuid() }]));
  }
  return out;
}

/** The shape properties stored in the VM body's `properties`. */
export function shapeProperties(props: Json, existing: Json | undefined): Json {
  const security = checkSecurityProfile(props) ?? existing?.securityProfile;
  const license = props.licenseType ?? existing?.licenseType;
  const diagnostics = props.diagnosticsProfile ?? existing?.diagnosticsProfile;
  return {
    ...(security ? { securityProfile: security } : {}),
    ...(typeof license === 'string' && license ? { licenseType: license } : {}),
    ...(isObj(diagnostics) ? { diagnosticsProfile: clone(diagnostics) } : {}),
  };
}

/** A VM PUT's size must be offered where the VM goes. */
export function assertSizeOffered(e: ArmEngine, vmSize: string, location: string, zones: string[] | undefined, vmId: string): void {
  e.skus.assertOffered(vmSize, location, zones?.[0], vmId, /^\/subscriptions\/([^/]+)/i.exec(vmId)?.[1] ?? e.subscriptionId);
}

/** The OS disk's generation: what the VM's instance view reports. */
export function vmHyperVGeneration(e: ArmEngine, vm: Json): string {
  const osId: string | undefined = vm.properties?.storageProfile?.osDisk?.managedDisk?.id;
  return (osId ? e.store.get(osId)?.body.properties.hyperVGeneration : undefined) ?? 'V1';
}

/** Whether a VM PUT asks for Trusted Launch. */
export function trustedLaunch(props: Json): boolean {
  return props.securityProfile?.securityType === 'TrustedLaunch';
}
