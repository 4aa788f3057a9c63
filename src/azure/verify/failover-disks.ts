/**
 * The one loop that verifies a failed-over VM disk by disk, for the `site-recovery drill` command and the
 * DrillSchedule's runs: each disk of the recovery point is paired by name with the failed-over VM's disk
 * (vm-disks.ts) and checked by the engine (disk-verifier.ts) against what it must equal. One result shape
 * per disk — method, pass, bytes verified and read, time, first differing offset or why it could not be
 * checked — reported as each disk finishes (`onDisk`) and returned together. A disk that cannot be checked
 * fails with the reason while the others are still checked; an abort stops the loop (the abort's error).
 */
import type { TokenCredential } from '@azure/core-auth';
import type { AzureClients } from '../clients.ts';
import { DiskVerifier, type DiskVerification, type VerifyExpected, type VerifyMethod } from './disk-verifier.ts';
import { vmDisksByName } from './vm-disks.ts';

/** A disk of the point: its name, the source's size, what it must equal, and a blob beside which scratch goes. */
export interface PointDisk {
  name: string;
  sizeBytes: number;
  /** What the failed-over disk must equal, or why that is not known. */
  expected: VerifyExpected | { error: string };
  scratchBesideBlobUrl: string;
}

export interface DiskCheck extends DiskVerification {
  name: string;
  /** The failed-over managed disk, when the VM has one of that name. */
  targetDiskId?: string;
}

export interface FailoverDisksCheck {
  disks: DiskCheck[];
  pass: boolean;
  bytesVerified: number;
  bytesRead: number;
  seconds: number;
}

export interface VerifyFailoverRequest {
  /** The failed-over VM. */
  vmId: string;
  disks: readonly PointDisk[];
  method: VerifyMethod;
  /** What the verification is for (namespace/name of the FailoverRequest), tagged on its snapshots. */
  tag: string;
  signal?: AbortSignal | undefined;
  onDisk?: (check: DiskCheck) => void;
}

export async function verifyFailoverDisks(az: AzureClients, credential: TokenCredential, r: VerifyFailoverRequest): Promise<FailoverDisksCheck> {
  const t0 = performance.now();
  const targetDisks = await vmDisksByName(az, r.vmId, r.signal);
  const verifier = new DiskVerifier(az, credential, r.tag);
  const disks: DiskCheck[] = [];
  for (const d of r.disks) {
    r.signal?.throwIfAborted();
    const targetDiskId = targetDisks.get(d.name);
    let check: DiskCheck;
    try {
      if (!targetDiskId) throw new Error(`the failed-over VM has no disk ${d.name}`);
      if ('error' in d.expected) throw new Error(d.expected.error);
      // Imported disks are rounded up to whole GiB: compare the source's size.
      const v = await verifier.verify({ method: r.method, diskId: targetDiskId, expected: d.expected, sizeBytes: d.sizeBytes, scratchBesideBlobUrl: d.scratchBesideBlobUrl, signal: r.signal });
      check = { ...v, name: d.name, targetDiskId };
    } catch (error) {
      if (r.signal?.aborted) throw error;
      check = { name: d.name, method: r.method, pass: false, bytesVerified: 0, bytesRead: 0, seconds: 0, error: error instanceof Error ? error.message : String(error), ...(targetDiskId ? { targetDiskId } : {}) };
    }
    disks.push(check);
    r.onDisk?.(check);
  }
  return {
    disks,
    pass: disks.every((d) => d.pass),
    bytesVerified: disks.reduce((n, d) => n + d.bytesVerified, 0),
    bytesRead: disks.reduce((n, d) => n + d.bytesRead, 0),
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
}
