// Recovery points rebuilt from replica snapshot metadata: the metadata sealing writes reads back to the
// same spec, and only cycles every disk of which has a snapshot count as sealed points.
import type { ContainerClient } from '@azure/storage-blob';
import { describe, expect, it } from 'vitest';
import type { RecoveryPoint } from '../../src/api/types.ts';
import { parseSnapshotMetadata, sealedPointsIn, snapshotMetadata } from '../../src/datapath/point-metadata.ts';

const base = 'https://tgt.blob.example/rvm-1';
const spec = (cycle: number, snapshots: [string, string]): RecoveryPoint['spec'] => ({
  replicatedVMName: 'app',
  time: `2026-12-03T09:4${cycle}:07.123Z`,
  consistency: cycle % 2 ? 'CrashConsistent' : 'AppConsistent',
  cycle,
  disks: [
    { name: 'os', role: 'OS', sizeBytes: 16 * 1024 * 1024, blobUrl: `${base}/os.vhd`, snapshot: snapshots[0], sourceDiskId: '/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/disks/app-os' },
    { name: 'lun3', role: 'Data', lun: 3, sizeBytes: 8 * 1024 * 1024, blobUrl: `${base}/lun3.vhd`, snapshot: snapshots[1], sourceDiskId: '/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/disks/app-d3' },
  ],
});

/** A replica container listing the given snapshots (blob name, snapshot time, metadata), base blobs too. */
function container(items: Array<{ name: string; snapshot?: string; metadata?: Record<string, string> }>): ContainerClient {
  return {
    getBlobClient: (name: string) => ({ url: `${base}/${name}` }),
    async *listBlobsFlat() {
      yield* items;
    },
  } as unknown as ContainerClient;
}

const snapshotsOf = (point: RecoveryPoint['spec'], blobs = ['os.vhd', 'lun3.vhd']) =>
  point.disks.map((d, i) => ({ name: blobs[i] as string, snapshot: d.snapshot, metadata: snapshotMetadata(point, d.name) }));

describe('recovery point metadata on replica snapshots', () => {
  it('reads back what sealing wrote, whatever the case of the names storage returns', () => {
    const point = spec(1, ['s1', 's2']);
    const upper = Object.fromEntries(Object.entries(snapshotMetadata(point, 'lun3')).map(([k, v]) => [k.toUpperCase(), v]));
    expect(parseSnapshotMetadata(upper)).toEqual({ vm: 'app', cycle: 1, time: point.time, consistency: 'CrashConsistent', index: 1, count: 2, disk: { name: 'lun3', role: 'Data', lun: 3, sizeBytes: 8 * 1024 * 1024, sourceDiskId: point.disks[1]?.sourceDiskId } });
    expect(parseSnapshotMetadata({ srepoch: 'abc', srcycle: '4' })).toBeUndefined();
    expect(parseSnapshotMetadata(undefined)).toBeUndefined();
  });

  it('rebuilds exactly the sealed points: every disk snapshotted, the newest snapshot of a repeated seal, no base blobs', async () => {
    const one = spec(1, ['2026-12-03T09:41:00.0000001Z', '2026-12-03T09:41:00.0000002Z']);
    const two = spec(2, ['2026-12-03T09:42:00.0000001Z', '2026-12-03T09:42:00.0000002Z']);
    const half = spec(3, ['2026-12-03T09:43:00.0000001Z', '']);
    const repeated = { name: 'os.vhd', snapshot: '2026-12-03T09:41:59.0000000Z', metadata: snapshotMetadata(one, 'os') };
    const found = await sealedPointsIn(container([
      { name: 'os.vhd', metadata: { srepoch: 'e', srcycle: '3' } },
      ...snapshotsOf(one),
      repeated,
      ...snapshotsOf(two).reverse(),
      snapshotsOf(half)[0] as never,
      { name: 'os.vhd', snapshot: 'old', metadata: {} },
      { name: 'x.vhd', snapshot: 'foreign', metadata: { ...snapshotMetadata(one, 'os'), srpvm: 'other' } },
    ]), 'app');
    expect([...found.keys()].sort()).toEqual([1, 2]);
    expect(found.get(2)).toEqual(two);
    expect(found.get(1)).toEqual({ ...one, disks: [{ ...one.disks[0], snapshot: repeated.snapshot }, one.disks[1]] });
  });
});
