/**
 * Which namespace the code running now reconciles an object of: the controller runs each reconcile inside
 * `inNamespace` (AsyncLocalStorage follows every await of it), so a layer below that is handed no object —
 * an Azure credential choosing the namespace's identity (src/azure/namespace-credential.ts) — can ask.
 * Outside a reconcile (informers, metrics, start-up) there is none.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const current = new AsyncLocalStorage<string>();

export function inNamespace<T>(namespace: string | undefined, fn: () => T): T {
  return namespace === undefined ? fn() : current.run(namespace, fn);
}

export function currentNamespace(): string | undefined {
  return current.getStore();
}
