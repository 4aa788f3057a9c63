// Waiting on the API server without sleeping, for tests: src/kube/wait-for-object.ts, with what was last
// seen added to a timeout's message.
import type { KubeConfig } from '@kubernetes/client-node';
import type { CustomObject, CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { WaitError, waitForObject as waitUntil } from '../../src/kube/wait-for-object.ts';

export async function waitForObject<T extends CustomObject>(
  kc: KubeConfig,
  client: CustomResourceClient<T>,
  ref: { namespace: string; name: string },
  predicate: (object: T | undefined) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<T | undefined> {
  let last: T | undefined;
  try {
    return await waitUntil(kc, client, ref, predicate, { what, timeoutMs, onUpdate: (o) => (last = o) });
  } catch (error) {
    if (!(error instanceof WaitError)) throw error;
    throw new WaitError(`${error.message}; last seen: ${JSON.stringify(last?.status ?? last ?? null).slice(0, 2000)}`, { cause: error });
  }
}
