/**
 * What the last look at a shared target resource found (the target resource group, the storage accounts:
 * resources many VMs use), kept a few seconds for every VM converging the same resource meanwhile:
 * enabling the VMs of one network mapping reads each of them once every few seconds instead of once per
 * VM. Only a look that found nothing to do is kept (the resource exists, is ready and up to date); a VM
 * that must create or update the resource looks itself. A resource deleted meanwhile is found by the next
 * pass that looks (at the latest the drift check). Looks are shared within a namespace only (in namespaced
 * tenancy each namespace reads Azure with its own identity). An operator restart forgets them.
 */
import type { ExternalResource, Observation } from '../../azure/external-resource.ts';

/** How long a look at a shared resource is used by other VMs' passes. */
export const SHARED_OBSERVATION_TTL_MS = 5_000;

export class SharedObservations {
  private readonly ttlMs: number;
  private readonly byId = new Map<string, { at: number; observation: Observation<unknown> }>();

  constructor(ttlMs = SHARED_OBSERVATION_TTL_MS) {
    this.ttlMs = ttlMs;
  }

  /** `resource`, observed from a recent look in `namespace` when one found nothing to do, else from Azure. */
  cached<T>(namespace: string, resource: ExternalResource<T>, now: () => number = Date.now): ExternalResource<T> {
    const key = `${namespace} ${resource.role} ${resource.id.toLowerCase()}`;
    const observe = async (): Promise<Observation<T>> => {
      const kept = this.byId.get(key);
      if (kept && now() - kept.at < this.ttlMs) return kept.observation as Observation<T>;
      this.byId.delete(key);
      const at = now();
      const observation = await resource.observe();
      if (observation.exists && observation.ready && !observation.failed && observation.upToDate && observation.retryAfterMs === undefined) this.byId.set(key, { at, observation });
      return observation;
    };
    return {
      role: resource.role,
      id: resource.id,
      manage: resource.manage,
      observe,
      create: () => resource.create(),
      update: (current) => resource.update(current),
      delete: () => resource.delete(),
    };
  }
}
