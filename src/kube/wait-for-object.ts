/**
 * Waiting on one object without sleeping: read it, then watch it until a predicate holds (undefined =
 * deleted). A watch that ends (server timeout, lost connection) is read and watched again.
 */
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import type { CustomObject, CustomResourceClient, ObjectRef } from './custom-resources.ts';
import { kubeErrorMessage } from './errors.ts';

/** The wait timed out or was interrupted (its message says which, and what was awaited). */
export class WaitError extends Error {}

export interface WaitOptions<T> {
  what: string;
  timeoutMs: number;
  signal?: AbortSignal;
  onUpdate?: (object: T | undefined) => void;
}

/** Reads the object, then watches it until `predicate` holds (undefined = deleted). */
export async function waitForObject<T extends CustomObject>(
  kc: KubeConfig,
  client: CustomResourceClient<T>,
  ref: ObjectRef,
  predicate: (object: T | undefined) => boolean,
  opts: WaitOptions<T>,
): Promise<T | undefined> {
  const first = await client.get(ref);
  opts.onUpdate?.(first);
  if (predicate(first)) return first;
  return new Promise<T | undefined>((resolve, reject) => {
    let request: { abort(): void } | undefined;
    let settled = false;
    const finish = (error: Error | undefined, value?: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      request?.abort();
      if (error) reject(error);
      else resolve(value);
    };
    const onAbort = () => finish(new WaitError(`interrupted while waiting for ${opts.what}`));
    opts.signal?.addEventListener('abort', onAbort);
    if (opts.signal?.aborted) return onAbort();
    const timer = setTimeout(() => finish(new WaitError(`timed out after ${Math.round(opts.timeoutMs / 1000)} s waiting for ${opts.what}`)), opts.timeoutMs);
    const start = async () => {
      if (settled) return;
      const current = await client.get(ref);
      opts.onUpdate?.(current);
      if (predicate(current)) return finish(undefined, current);
      const req = await new Watch(kc).watch(
        client.path(ref.namespace),
        { fieldSelector: `metadata.name=${ref.name}`, resourceVersion: current?.metadata.resourceVersion },
        (phase: string, object: T) => {
          const value = phase === 'DELETED' ? undefined : object;
          opts.onUpdate?.(value);
          if (predicate(value)) finish(undefined, value);
        },
        // The watch ended (timeout, connection lost): read again and watch again.
        (error?: unknown) => {
          if (settled) return;
          if (error && !isAbort(error)) setTimeout(() => void start().catch((e: unknown) => finish(new Error(kubeErrorMessage(e)))), 500);
          else void start().catch((e: unknown) => finish(new Error(kubeErrorMessage(e))));
        },
      );
      if (settled) req.abort();
      else request = req;
    };
    start().catch((e: unknown) => finish(new Error(kubeErrorMessage(e))));
  });
}

function isAbort(error: unknown): boolean {
  return (error as { name?: string })?.name === 'AbortError';
}
