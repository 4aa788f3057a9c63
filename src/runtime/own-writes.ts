/**
 * The versions of objects a reconciler wrote itself, so that its controller can tell its own writes from
 * everyone else's when the informer reports them. Without this, every pass that writes status or adds a
 * finalizer is followed by a pass for its own write, which finds nothing to do but still reads Azure:
 * enabling N VMs cost about 2N reconciles.
 *
 * A write's result carries the resourceVersion the API server gave the object; the watch event for that
 * write carries the same one. A version is recognized once (then forgotten), and only the last few
 * versions of each object are kept (a write whose event never comes — a relist folded it into a later
 * one — cannot make the list grow).
 */
import { keyOf, refOf, type CustomObject, type CustomResourceClient } from '../kube/custom-resources.ts';

/** How many versions of one object are remembered (a pass writes a finalizer, a pending mark, its status). */
const KEPT_PER_OBJECT = 8;

/** The client methods that write an object and return what the API server stored. */
const WRITES = new Set<string | symbol>(['applyStatus', 'mergePatch']);

export class OwnWrites {
  private readonly versions = new Map<string, string[]>();

  /** Remembers `object`'s resourceVersion as one this reconciler wrote. */
  note(object: CustomObject): void {
    const version = object.metadata.resourceVersion;
    if (!version) return;
    const key = keyOf(refOf(object));
    const list = this.versions.get(key) ?? [];
    list.push(version);
    if (list.length > KEPT_PER_OBJECT) list.shift();
    this.versions.set(key, list);
  }

  /** True when `object` is, as reported, the result of one of the noted writes (that write is forgotten). */
  take(object: CustomObject): boolean {
    const key = keyOf(refOf(object));
    const list = this.versions.get(key);
    const at = list?.indexOf(object.metadata.resourceVersion ?? '') ?? -1;
    if (!list || at < 0) return false;
    list.splice(0, at + 1); // the watch reports versions in order: older ones will not come
    if (!list.length) this.versions.delete(key);
    return true;
  }

  /** Forgets an object (deleted). */
  forget(object: CustomObject): void {
    this.versions.delete(keyOf(refOf(object)));
  }

  /** `client`, noting the result of each of its writes (status applies and merge patches). */
  recording<T extends CustomObject>(client: CustomResourceClient<T>): CustomResourceClient<T> {
    return new Proxy(client, {
      get: (target, property, receiver) => {
        const value: unknown = Reflect.get(target, property, receiver);
        if (!WRITES.has(property) || typeof value !== 'function') return value;
        return async (...args: unknown[]) => {
          const written = (await (value as (...a: unknown[]) => Promise<T>).apply(target, args));
          this.note(written);
          return written;
        };
      },
    });
  }
}
