/**
 * Power operations on a VM that are not resources of their own — the source VM a planned failover shuts
 * down, the original VM re-protect deallocates, the failed-over VM a failover starts — and its power
 * state. Each call starts at most one ARM operation and returns; callers observe the power state on later
 * passes. Each takes an optional abort signal: a call into a region that may be down gets its own short
 * deadline (the SDK's retries included) instead of the client's. (The disks, NICs and VMs a failover creates are resources: `resources/managed-disk.ts`,
 * `resources/network-interface.ts`, `resources/virtual-machine.ts`.) Each addresses the VM's own subscription
 * (the clients' `forResource`): a failed-over VM may be in another one than the operator's.
 */
import type { AzureClients } from './clients.ts';
import { parseArmId } from './arm-id.ts';
import { startOperation } from './resources/observe.ts';

/** Options of one call: e.g. `{ abortSignal: AbortSignal.timeout(ms) }` for a region that may not answer. */
export interface CallOptions {
  abortSignal?: AbortSignal;
}

/** The VM's power state code, e.g. running, stopped, deallocated (undefined when unknown). */
export async function powerState(az: AzureClients, vmId: string, options: CallOptions = {}): Promise<string | undefined> {
  const id = parseArmId(vmId);
  const view = await az.forResource(vmId).compute.virtualMachines.instanceView(id.resourceGroup, id.name, options);
  return view.statuses?.find((s) => s.code?.startsWith('PowerState/'))?.code?.slice('PowerState/'.length);
}

export async function startPowerOff(az: AzureClients, vmId: string, options: CallOptions = {}): Promise<void> {
  const id = parseArmId(vmId);
  await startOperation(az.forResource(vmId).compute.virtualMachines.powerOff(id.resourceGroup, id.name, options));
}

/** Stops and deallocates a VM: its disks can then be read (granted access) and its compute is released. */
export async function startDeallocate(az: AzureClients, vmId: string, options: CallOptions = {}): Promise<void> {
  const id = parseArmId(vmId);
  await startOperation(az.forResource(vmId).compute.virtualMachines.deallocate(id.resourceGroup, id.name, options));
}

export async function startVm(az: AzureClients, vmId: string): Promise<void> {
  const id = parseArmId(vmId);
  await startOperation(az.forResource(vmId).compute.virtualMachines.start(id.resourceGroup, id.name));
}
