// Azurite's extent garbage collection, made safe and cheap to run often (installed by azurite-child.ts).
//
// Every write to Azurite first appends its bytes as an extent, then records the extent in the blob's
// metadata. Azurite's mark-and-sweep lists all extents, then every extent some blob refers to, and deletes
// the rest. Three problems under a replication workload (many small writes):
//  - Race: an extent appended but not yet recorded when the sweep reads that blob is deleted under the
//    write (the in-memory store has no guard at all; the file store only spares the file being appended
//    to). Here an extent is deleted only when two sweeps in a row found it unreferenced: a write in flight
//    during one sweep has recorded its extent by the next.
//  - Cost: each extent's metadata is removed on its own, and LokiJS rebuilds the collection's index (a
//    full sort) after every removal: deleting k of n extents costs k·n·log n. Profiled at 72 % of Azurite's
//    CPU during a 5-minute churn benchmark. Here the removals of one sweep are made in one batch.
//  - Rate: Azurite sweeps every 10 minutes, so memory freed by deletes comes back only then, and the
//    in-memory store (half the machine's memory at most) fills up long before. Here: every minute.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const SWEEP_INTERVAL_MS = 60_000;

interface LokiCollection {
  removeWhere(filter: (doc: { id: string }) => boolean): void;
}
interface ExtentMetadataStore {
  deleteExtent(id: string): Promise<unknown>;
  db?: { getCollection(name: string): LokiCollection | null };
  EXTENTS_COLLECTION?: string;
}
export interface SweptExtentStore {
  deleteExtents(ids: Iterable<string>): Promise<number>;
  getMetadataStore?(): ExtentMetadataStore;
}

/** Sets the sweep interval Azurite's GC manager takes when the server is created (call before creating it). */
export function sweepEveryMinute(): void {
  const constants = require('azurite/dist/src/blob/utils/constants.js') as { DEFAULT_GC_INTERVAL_MS?: number };
  if (typeof constants.DEFAULT_GC_INTERVAL_MS !== 'number') throw new Error('this Azurite version has no DEFAULT_GC_INTERVAL_MS');
  constants.DEFAULT_GC_INTERVAL_MS = SWEEP_INTERVAL_MS;
}

/**
 * Makes `store` delete only extents that the previous sweep also found unreferenced, and remove their
 * metadata in one batch.
 */
export function guardExtentDeletes(store: SweptExtentStore): void {
  const remove = store.deleteExtents.bind(store);
  let suspects = new Set<string>();
  store.deleteExtents = async (ids: Iterable<string>) => {
    const seen = new Set(ids);
    const confirmed = [...seen].filter((id) => suspects.has(id));
    suspects = new Set([...seen].filter((id) => !suspects.has(id)));
    if (confirmed.length === 0) return 0;
    return batchMetadataRemovals(store.getMetadataStore?.(), () => remove(confirmed));
  };
}

/** Runs `deleting` with the metadata store's one-at-a-time removals collected, then removes them at once. */
async function batchMetadataRemovals(meta: ExtentMetadataStore | undefined, deleting: () => Promise<number>): Promise<number> {
  const collection = meta?.db?.getCollection(meta.EXTENTS_COLLECTION ?? '');
  if (!meta || !collection) return deleting();
  const removed = new Set<string>();
  const one = meta.deleteExtent;
  meta.deleteExtent = async (id: string) => {
    removed.add(id);
  };
  try {
    return await deleting();
  } finally {
    meta.deleteExtent = one;
    if (removed.size > 0) collection.removeWhere((doc) => removed.has(doc.id));
  }
}
