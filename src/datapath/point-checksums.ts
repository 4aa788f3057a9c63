/**
 * The checksum record of a point being sealed (src/azure/verify/point-checksums.ts): for every disk of the
 * point, the (offset, length, CRC-64) of each chunk its cycle wrote, copied from the cycle's manifest in the
 * cache into target storage beside the replica blob — before the replica is snapshotted, so no sealed point
 * lacks one. The operator verifies sampled points against it later (src/reconcilers/point-verification/),
 * when the cache and the source region may be gone. Cost: per disk and cycle one read of the manifest from
 * the cache and one upload of a smaller file to the target account (no ARM call; bytes ≈ 60 per 4 MiB
 * chunk written). Writing it again (a seal retried) writes the same record.
 */
import type { ContainerClient } from '@azure/storage-blob';
import { checksumRecordName, writeChecksumRecord, type RecordedRange } from '../azure/verify/point-checksums.ts';
import type { CycleRecord } from './journal.ts';
import { manifestName, readManifest } from './manifest.ts';
import type { TargetDisk } from './target.ts';

/** Writes the checksum record of `record`'s cycle beside each replica blob of the point. */
export async function recordPointChecksums(cache: ContainerClient, replica: ContainerClient, record: CycleRecord, targets: readonly TargetDisk[], signal?: AbortSignal): Promise<void> {
  for (const target of targets) {
    const entry = record.disks[target.name];
    if (!entry) continue;
    const manifest = cache.getBlobClient(manifestName(record.cycle, record.attempt, target.name));
    const body = (await manifest.download(0, undefined, { abortSignal: signal })).readableStreamBody;
    if (!body) throw new Error(`manifest of ${target.name} for cycle ${record.cycle} has no body`);
    async function* ranges(): AsyncGenerator<RecordedRange> {
      for await (const { item } of readManifest(body as never, { cycle: record.cycle, disk: target.name })) {
        if (item.t !== 'd') continue;
        yield item.x !== undefined ? { o: item.o, n: item.n, x: item.x } : { o: item.o, n: item.n, m: item.m ?? '' };
      }
    }
    const header = { cycle: record.cycle, disk: target.name, full: entry.full, sizeBytes: entry.sizeBytes };
    await writeChecksumRecord(replica.getBlockBlobClient(checksumRecordName(target.blob.name, record.cycle)), header, ranges(), signal);
  }
}
