/**
 * The versions of objects a reconciler wrote itself, so that its controller can tell its own writes from
 * everyone else's when the informer reports them. Without this, every pass that writes status or adds a
 * finalizer is followed by a pass for its own write, which finds nothing to do but still reads Azure:
 * enabling N VMs cost about 2N reconciles.
 *
 * A write's result carries the resourceVersion the API server gave the object; the watch event for that
 * write carries the same one. A version is recognized once (then forgotten), and only the last few
 * versions of each object are kept (a write whose event never comes — a relist folded it into a later
 * one — cannot make the list grow). The watch often reports a write before the write's own response has
 * been read (measured: more than half of them with 100 VMs): an update that may be such a write is held
 * (`hold`) until the object's writes in flight return, then dropped if one of them made it, else handed to
 * `missed` (the controller enqueues the object).
 */
import { keyOf, refFromKey, refOf, type CustomObject, type CustomResourceClient, type ObjectRef } from '../kube/custom-resources.ts';

/** How many versions of one object are remembered (a pass writes a finalizer, a pending mark, its status). */
const KEPT_PER_OBJECT = 8;

/** The client methods that write an object and return what the API server stored. */
const WRITES = new Set<string | symbol>(['applyStatus', 'mergePatch']);

export class OwnWrites {
  private readonly versions = new Map<string, string[]>();
  /** Writes in flight, by object. */
  private readonly writing = new Map<string, number>();
  /** Versions reported while a write of the object was in flight, not yet known to be its. */
  private readonly held = new Map<string, string[]>();
  private readonly missed: (key: string) => void;

  /** `missed`: called with an object's key when a held update turns out not to be one of its writes. */
  constructor(missed: (key: string) => void = () => undefined) {
    this.missed = missed;
  }

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

  /**
   * Holds an update of `object` while one of its writes is in flight (true: held, to be judged when the
   * writes return); false when none is in flight (it is not one of its writes).
   */
  hold(object: CustomObject): boolean {
    const key = keyOf(refOf(object));
    const version = object.metadata.resourceVersion;
    if (!this.writing.get(key) || !version) return false;
    this.held.set(key, [...(this.held.get(key) ?? []), version]);
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
          const key = keyOf(args[0] as ObjectRef);
          this.writing.set(key, (this.writing.get(key) ?? 0) + 1);
          try {
            const written = await (value as (...a: unknown[]) => Promise<T>).apply(target, args);
            this.note(written);
            return written;
          } finally {
            this.settle(key);
          }
        };
      },
    });
  }

  /** A write of `key` returned: once none is in flight, the updates held meanwhile are judged. */
  private settle(key: string): void {
    const left = (this.writing.get(key) ?? 1) - 1;
    if (left > 0) return void this.writing.set(key, left);
    this.writing.delete(key);
    const held = this.held.get(key);
    if (!held) return;
    this.held.delete(key);
    const missed = held.filter((version) => !this.take({ metadata: { ...refFromKey(key), resourceVersion: version } } as CustomObject));
    if (missed.length) this.missed(key);
  }
}
