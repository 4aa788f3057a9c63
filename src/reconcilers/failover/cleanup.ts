/**
 * Test cleanup (spec.cleanup: true, or deleting a Test request): removes what the test created — the VM
 * first (it holds its NICs and disks), then the NICs, then their public IP addresses, then the disks — through the resource contract's
 * `removeResource`, which deletes only what carries this request's owner tag. A pass starts the deletes
 * of one kind and asks to look again while anything of it remains.
 */
import type { FailoverResource } from '../../api/types.ts';
import type { AzureClients } from '../../azure/clients.ts';
import { reconcileErrorFor } from '../../azure/errors.ts';
import { removeResource, type ExternalResource } from '../../azure/external-resource.ts';
import { managedDiskResource } from '../../azure/resources/managed-disk.ts';
import { networkInterfaceResource } from '../../azure/resources/network-interface.ts';
import { publicIpAddressResource } from '../../azure/resources/public-ip-address.ts';
import { virtualMachineResource } from '../../azure/resources/virtual-machine.ts';
import type { ReconcileContext, ReconcileResult } from '../../runtime/controller.ts';
import { POLL_MS } from '../../runtime/step.ts';
import { CLEANUP_ORDER } from './procedures.ts';
import type { FailoverPass } from './state.ts';

/** The resource behind a status.targetResources entry, for observing and deleting it. */
function resourceOf(az: AzureClients, entry: FailoverResource, owner: string): ExternalResource<unknown> {
  switch (entry.kind) {
    case 'VirtualMachine':
      return virtualMachineResource(az, entry.id, owner);
    case 'NetworkInterface':
      return networkInterfaceResource(az, entry.id, owner);
    case 'PublicIpAddress':
      return publicIpAddressResource(az, entry.id, owner);
    case 'Disk':
      return managedDiskResource(az, entry.id, owner);
    default:
      throw new Error(`cannot remove ${entry.id}: ${entry.kind} is not a failover resource`);
  }
}

/**
 * Deletes one entry (true when gone). A missing Azure role action (403 AuthorizationFailed) is shown in the
 * Reconciling condition, naming the action, even while the request is being deleted, then retried.
 */
async function removeEntry(pass: FailoverPass, entry: FailoverResource): Promise<boolean> {
  try {
    return await removeResource(resourceOf(pass.deps.az.forResource(entry.id), entry, pass.owner), { role: entry.kind, id: entry.id, created: true });
  } catch (error) {
    const denied = reconcileErrorFor(error, `cleanup: removing ${entry.id}`);
    if (denied.reason === 'AuthorizationFailed') await pass.save({ state: 'progressing', reason: denied.reason, message: denied.message });
    throw error;
  }
}

/** Returns a requeue while anything remains; records CleaningUp / CleanedUp unless the request is being deleted. */
export async function cleanUp(pass: FailoverPass, ctx: ReconcileContext): Promise<ReconcileResult | undefined> {
  const { fo } = pass;
  const resources = pass.status.targetResources ?? [];
  const deleting = Boolean(fo.metadata.deletionTimestamp);
  for (const kind of CLEANUP_ORDER) {
    let remaining = 0;
    for (const entry of resources.filter((r) => r.kind === kind)) {
      if (!(await removeEntry(pass, entry))) remaining++;
    }
    if (remaining) {
      pass.status.phase = 'CleaningUp';
      if (!deleting) await pass.save();
      return { requeueAfterMs: POLL_MS };
    }
  }
  ctx.events.record(fo, 'Normal', 'CleanedUp', `removed ${resources.length} test resource(s)`);
  if (!deleting) {
    pass.status.phase = 'CleanedUp';
    await pass.save({ state: 'ready', reason: 'CleanedUp', message: 'every test resource was removed' });
  }
  return undefined;
}
