// Background verification of sealed recovery points (issue #20, item 3) against the real operator and
// datapath (in this process), the real API server and local Azure. The datapath records, when it seals a
// point, the CRC-64s capture computed for what the cycle wrote; the operator, on the policy's budget, has
// storage check the point's replica snapshot against them: the first point (the initial sync, every
// allocated range) is verified Passed without any request from the test. A point whose replica block was
// corrupted after its data was recorded fails, naming the disk and the offset of the differing chunk, with
// a Warning event, the RecoveryPointVerified=False condition on the ReplicatedVM and the fleet gauge the
// alert reads.
import crypto from 'node:crypto';
import { BlobClient, BlockBlobClient, ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxStorageCredential } from '../../sandbox/src/storage/token.ts';
import { POINT_VERIFIED_CONDITION, REPLICATED_VM_LABEL } from '../../src/api/contract.ts';
import type { RecoveryPoint } from '../../src/api/types.ts';
import { API_VERSION } from '../../src/api/types.ts';
import { removeScratch, stagedChecksum } from '../../src/azure/storage-checksums.ts';
import { checksumRecordUrl, readChecksumRecord, writeChecksumRecord, type RecordedRange } from '../../src/azure/verify/point-checksums.ts';
import { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { registry } from '../../src/runtime/metrics.ts';
import { diskBlob, writeRandom } from '../support/datapath-sandbox.ts';
import { waitForEvents } from '../support/events.ts';
import { startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import { enforceShippedRoles, nothingRefused } from '../support/shipped-roles.ts';
import { waitForObject } from '../support/wait.ts';

const MiB = 1024 * 1024;
const DISK_BYTES = 8 * MiB;
const rg = 'ptverify-src';

let fx: FailoverFixture;
let points: CustomResourceClient<RecoveryPoint>;

beforeAll(async () => {
  fx = await startFailoverFixture({ principals: true, namespacePrefix: 'ptverify', rg, disks: 2, diskBytes: DISK_BYTES });
  enforceShippedRoles(fx.sb);
  for (const [i, id] of fx.sourceDiskIds.entries()) await writeRandom(diskBlob(fx.sb, id), 2 * MiB, (i + 1) * MiB);
  await fx.runInProcess('dp-ptverify');
  await fx.protect(1);
  points = new CustomResourceClient<RecoveryPoint>(fx.kc, 'RecoveryPoint');
}, 300_000);

afterAll(async () => {
  await fx?.close();
});

const vmRef = () => ({ namespace: fx.ns, name: fx.vmName });

describe('background verification of recovery points', () => {
  it('verifies the first sealed point against the checksums recorded at capture, without being asked', async () => {
    const vm = await waitForObject(fx.kc, fx.clients.vms, vmRef(), (o) => Boolean(o?.status?.conditions?.some((c) => c.type === POINT_VERIFIED_CONDITION)), 'a point verified', 60_000);
    expect(vm!.status!.conditions!.find((c) => c.type === POINT_VERIFIED_CONDITION)).toMatchObject({ status: 'True', reason: 'Passed' });
    const point = (await points.list(fx.ns, `${REPLICATED_VM_LABEL}=${fx.vmName}`)).items.find((p) => p.status?.verified);
    expect(point!.status!.verified).toMatchObject({ method: 'CycleChecksums', result: 'Passed' });
    expect(point!.status!.verified!.message).toMatch(/^os: \d+ bytes in \d+ recorded range\(s\) match; lun0: \d+ bytes in \d+ recorded range\(s\) match$/);
    // The initial sync's record lists every allocated range of each disk (2 MiB written on each).
    const first = (await points.list(fx.ns, `${REPLICATED_VM_LABEL}=${fx.vmName}`)).items.find((p) => p.spec.cycle === 1)!;
    for (const disk of first.spec.disks) {
      let bytes = 0;
      for await (const r of readChecksumRecord(new BlobClient(checksumRecordUrl(disk.blobUrl, 1), sandboxStorageCredential()), { cycle: 1 })) bytes += r.n;
      expect(bytes, disk.name).toBeGreaterThanOrEqual(2 * MiB);
    }
  });

  it('a point whose replica block was corrupted fails verification naming the disk and the offset; event, condition and gauge follow', async () => {
    const real = (await points.list(fx.ns, `${REPLICATED_VM_LABEL}=${fx.vmName}`)).items[0]!;
    const disk = real.spec.disks[0]!;
    // A replica blob of its own in the replica container, recorded as the datapath records a cycle, then
    // corrupted in one 512-byte page before its snapshot is taken (as a bad write or bit rot would).
    const container = new ContainerClient(disk.blobUrl.replace(/\/[^/]+$/, ''), sandboxStorageCredential());
    const blob = container.getPageBlobClient(`corrupt-${crypto.randomBytes(3).toString('hex')}.vhd`);
    await blob.create(DISK_BYTES);
    await blob.uploadPages(crypto.randomBytes(2 * MiB), MiB, 2 * MiB);
    const cycle = 900_000;
    const ranges = await recordedRanges(container, blob.url, [
      { o: MiB, n: MiB },
      { o: 2 * MiB, n: MiB },
    ]);
    await writeChecksumRecord(new BlockBlobClient(checksumRecordUrl(blob.url, cycle), sandboxStorageCredential()), { cycle, disk: 'os', full: false, sizeBytes: DISK_BYTES }, toAsync(ranges));
    const corruptAt = 2 * MiB + 3 * 512;
    await blob.uploadPages(crypto.randomBytes(512), corruptAt, 512);
    const snapshot = (await blob.createSnapshot()).snapshot!;
    const name = `${fx.vmName}-corrupt`;
    await points.create(fx.ns, {
      apiVersion: API_VERSION,
      kind: 'RecoveryPoint',
      metadata: { name, labels: { [REPLICATED_VM_LABEL]: fx.vmName } },
      spec: { replicatedVMName: fx.vmName, time: new Date().toISOString(), consistency: 'CrashConsistent', cycle, disks: [{ ...disk, blobUrl: blob.url, snapshot }] },
    } as RecoveryPoint);
    // Verify every second from now on: the newest point (this one) is next.
    await fx.clients.policies.mergePatch({ namespace: fx.ns, name: 'fast' }, { spec: { verification: { pointsPerDay: 86_400 } } });

    const failed = await waitForObject(fx.kc, points, { namespace: fx.ns, name }, (p) => Boolean(p?.status?.verified), 'the corrupted point verified', 30_000);
    expect(failed!.status!.verified).toMatchObject({ method: 'CycleChecksums', result: 'Failed', disk: 'os', offset: 2 * MiB, bytesVerified: MiB });
    expect(failed!.status!.verified!.message).toBe(`os: differs at offset ${2 * MiB} (1 of 2 recorded range(s))`);
    const vm = await waitForObject(fx.kc, fx.clients.vms, vmRef(), (o) => o?.status?.conditions?.find((c) => c.type === POINT_VERIFIED_CONDITION)?.status === 'False', 'condition False', 30_000);
    expect(vm!.status!.conditions!.find((c) => c.type === POINT_VERIFIED_CONDITION)).toMatchObject({ reason: 'VerificationFailed', message: expect.stringContaining(`recovery point ${name} differs from the checksums recorded at capture on disk os at offset ${2 * MiB}`) });
    const [event] = await waitForEvents(fx.kc, fx.ns, fx.vmName, 'VerificationFailed', 1);
    expect(event!.type).toBe('Warning');
    expect(event!.message).toContain(`recovery point ${name} FAILED verification (CycleChecksums): os: differs at offset ${2 * MiB}`);
    expect(await registry.getSingleMetricAsString('site_recovery_replicatedvm_point_verification_failed')).toContain(`{namespace="${fx.ns}",name="${fx.vmName}",reason="VerificationFailed"} 1`);
    // Later points of the VM are verified too (and pass), yet the condition stays False while the bad point is retained.
    await waitForEvents(fx.kc, fx.ns, fx.vmName, 'RecoveryPointVerified', 2);
    const later = await fx.clients.vms.get(vmRef());
    expect(later!.status!.conditions!.find((c) => c.type === POINT_VERIFIED_CONDITION)).toMatchObject({ status: 'False', reason: 'VerificationFailed' });
  });
});

/** The checksums storage computes for `ranges` of the blob (what capture records), staged into a scratch blob. */
async function recordedRanges(container: ContainerClient, url: string, ranges: { o: number; n: number }[]): Promise<RecordedRange[]> {
  const scratch = container.getBlockBlobClient(`verify-scratch/test-${crypto.randomBytes(3).toString('hex')}`);
  const token = (await sandboxStorageCredential().getToken('https://storage.azure.com/.default'))!.token;
  try {
    const out: RecordedRange[] = [];
    for (const [i, r] of ranges.entries()) {
      const staged = await scratch.stageBlockFromURL(Buffer.from(`b${i}`).toString('base64'), url, r.o, r.n, { sourceAuthorization: { scheme: 'Bearer', value: token } });
      out.push({ ...r, ...stagedChecksum(staged)! });
    }
    return out;
  } finally {
    await removeScratch(scratch);
  }
}

async function* toAsync<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

// Beyond azure-roles.test.ts's scenario: the operator's blob data actions (the replica read, scratch blobs).
nothingRefused(() => fx.sb, {
  operator: ['Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read', 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write', 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete'],
});
