// Waiting on the API server without sleeping: read once, then watch until the predicate holds.
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import type { CustomObject, CustomResourceClient } from '../../src/kube/custom-resources.ts';

export async function waitForObject<T extends CustomObject>(
  kc: KubeConfig,
  client: CustomResourceClient<T>,
  ref: { namespace: string; name: string },
  predicate: (object: T | undefined) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<T | undefined> {
  const first = await client.get(ref);
  if (predicate(first)) return first;
  let last: T | undefined = first;
  return new Promise<T | undefined>((resolve, reject) => {
    let request: { abort(): void } | undefined;
    let settled = false;
    const finish = (error: Error | undefined, value?: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request?.abort();
      if (error) reject(error);
      else resolve(value);
    };
    const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(last?.status ?? last ?? null).slice(0, 2000)}`)), timeoutMs);
    const start = async (resourceVersion?: string) => {
      if (settled) return;
      const current = await client.get(ref);
      last = current;
      if (predicate(current)) return finish(undefined, current);
      request = await new Watch(kc).watch(
        client.path(ref.namespace),
        { fieldSelector: `metadata.name=${ref.name}`, resourceVersion: resourceVersion ?? current?.metadata.resourceVersion },
        (phase: string, object: T) => {
          last = phase === 'DELETED' ? undefined : object;
          if (predicate(last)) finish(undefined, last);
        },
        () => void start().catch((e: unknown) => finish(e as Error)),
      );
    };
    start().catch((e: unknown) => finish(e as Error));
  });
}
