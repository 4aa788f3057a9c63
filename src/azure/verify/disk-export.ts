/**
 * Read access to a managed disk as it is now, through the public data plane only, for verification: Azure
 * refuses a read SAS on a disk attached to a running VM, so the disk is first copied into an incremental
 * snapshot (allowed while its VM runs, and it does not disturb the VM) in the disk's resource group and
 * region, tagged with what it is for; that snapshot is exported with `beginGrantAccess`, used, then access is
 * revoked and the snapshot deleted — whatever happened, and not under the caller's abort signal, so an
 * interrupted verification leaves nothing of its own behind.
 */
import crypto from 'node:crypto';
import type { AzureClients } from '../clients.ts';
import { parseArmId } from '../arm-id.ts';

const POLL = { updateIntervalInMs: 250 } as const;
const SAS_SECONDS = 3600;
/** The Azure tag naming what a verification snapshot is for (the FailoverRequest, namespace/name). */
export const VERIFY_SNAPSHOT_TAG = 'siterecovery-drill';

export interface DiskExport {
  /** The read SAS URL of the snapshot (a page blob). */
  url: string;
  /** The snapshot's ARM id. */
  snapshotId: string;
}

/** Runs `use` with a read SAS of an incremental snapshot of `diskId`, then removes the snapshot. */
export async function withDiskExport<T>(az: AzureClients, diskId: string, tag: string, use: (exported: DiskExport) => Promise<T>, signal?: AbortSignal): Promise<T> {
  const { resourceGroup, name } = parseArmId(diskId);
  const compute = az.compute;
  const disk = await compute.disks.get(resourceGroup, name, { abortSignal: signal });
  const snapshotName = `${name.slice(0, 60)}-drill-${crypto.randomBytes(3).toString('hex')}`;
  let created = false;
  let result: { value: T } | undefined;
  let failure: unknown;
  try {
    const snapshot = await compute.snapshots.beginCreateOrUpdateAndWait(
      resourceGroup,
      snapshotName,
      { location: disk.location, incremental: true, tags: { [VERIFY_SNAPSHOT_TAG]: tag }, creationData: { createOption: 'Copy', sourceResourceId: disk.id } },
      { ...POLL, abortSignal: signal },
    );
    created = true;
    const access = await compute.snapshots.beginGrantAccessAndWait(resourceGroup, snapshotName, { access: 'Read', durationInSeconds: SAS_SECONDS }, { ...POLL, abortSignal: signal });
    if (!access.accessSAS) throw new Error(`no read SAS was granted for snapshot ${snapshotName}`);
    result = { value: await use({ url: access.accessSAS, snapshotId: snapshot.id ?? snapshotName }) };
  } catch (error) {
    failure = error;
  }
  let leftover: unknown;
  try {
    if (created) await compute.snapshots.beginRevokeAccessAndWait(resourceGroup, snapshotName, POLL);
    await compute.snapshots.beginDeleteAndWait(resourceGroup, snapshotName, POLL);
  } catch (error) {
    leftover = error;
  }
  if (failure !== undefined) throw failure;
  if (leftover !== undefined) throw new Error(`could not remove the verification snapshot ${snapshotName}: ${leftover instanceof Error ? leftover.message : String(leftover)}`, { cause: leftover });
  return (result as { value: T }).value;
}
