/**
 * Cache garbage of a VM: what earlier owners (or an earlier session of this replica) left behind when they
 * stopped mid-way. At the start of a session: restore points other than the diff base, and cache data of
 * cycles the journal does not list as pending (or of their abandoned capture attempts). Failures here are
 * logged and retried at the next session; they never stop replication.
 */
import type { ContainerClient } from '@azure/storage-blob';
import { errorMessage } from './errors.ts';
import { cyclePrefix } from './manifest.ts';
import { cycleOfRestorePoint } from './restore-points.ts';
import type { Session, VmContext } from './worker-context.ts';

/** Leftovers of earlier owners: restore points other than the diff base, cache data of no pending cycle. */
export async function collectGarbage(ctx: VmContext, session: Session): Promise<void> {
  const { journal, points, cache, signal } = session;
  try {
    const base = journal.state.base?.restorePoint;
    for (const name of await points.list(signal)) {
      if (name !== base && cycleOfRestorePoint(name) !== undefined) await points.remove(name, signal);
    }
  } catch (error) {
    ctx.log.warn('removing leftover restore points failed; will retry', { error: errorMessage(error) });
  }
  try {
    const keep = new Map(journal.state.pending.map((p) => [cyclePrefix(p.cycle), `${cyclePrefix(p.cycle)}${p.attempt}/`]));
    for await (const item of cache.listBlobsByHierarchy('/', { prefix: 'cycles/' })) {
      if (item.kind !== 'prefix') continue;
      const attempt = keep.get(item.name);
      if (!attempt) await deletePrefix(cache, item.name);
      else {
        for await (const sub of cache.listBlobsByHierarchy('/', { prefix: item.name })) {
          if (sub.kind === 'prefix' && sub.name !== attempt) await deletePrefix(cache, sub.name);
        }
      }
    }
  } catch (error) {
    ctx.log.warn('removing leftover cache data failed; will retry', { error: errorMessage(error) });
  }
}

/** Deletes every blob under a prefix (16 at a time). */
export async function deletePrefix(container: ContainerClient, prefix: string): Promise<void> {
  const names: string[] = [];
  const flush = async () => {
    await Promise.all(names.splice(0).map((name) => container.deleteBlob(name).catch((error: unknown) => {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    })));
  };
  for await (const blob of container.listBlobsFlat({ prefix })) {
    names.push(blob.name);
    if (names.length >= 16) await flush();
  }
  await flush();
}
