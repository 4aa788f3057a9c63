// Kubernetes Events of one object, for tests: list them, or wait (a watch, no sleeping) until at least
// `count` of them with a reason exist.
import { CoreV1Api, Watch, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';

const selector = (objectName: string, reason: string) => `involvedObject.name=${objectName},reason=${reason}`;

export async function listEvents(kc: KubeConfig, namespace: string, objectName: string, reason: string): Promise<CoreV1Event[]> {
  const list = await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace, fieldSelector: selector(objectName, reason) });
  return list.items;
}

/** Waits until `objectName` has at least `count` events with `reason`; returns them all. */
export async function waitForEvents(kc: KubeConfig, namespace: string, objectName: string, reason: string, count: number, timeoutMs = 60_000): Promise<CoreV1Event[]> {
  const list = await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace, fieldSelector: selector(objectName, reason) });
  const seen = new Map(list.items.map((e) => [e.metadata.name, e]));
  if (seen.size >= count) return [...seen.values()];
  return new Promise((resolve, reject) => {
    let request: { abort(): void } | undefined;
    const finish = (error?: Error) => {
      clearTimeout(timer);
      request?.abort();
      if (error) reject(error);
      else resolve([...seen.values()]);
    };
    const timer = setTimeout(() => finish(new Error(`timed out waiting for ${count} ${reason} event(s) of ${objectName}; saw: ${[...seen.values()].map((e) => e.message).join(' | ')}`)), timeoutMs);
    void new Watch(kc)
      .watch(
        `/api/v1/namespaces/${namespace}/events`,
        { fieldSelector: selector(objectName, reason), resourceVersion: list.metadata?.resourceVersion },
        (phase: string, event: CoreV1Event) => {
          if (phase === 'DELETED') return;
          seen.set(event.metadata.name, event);
          if (seen.size >= count) finish();
        },
        (error?: unknown) => {
          if (seen.size < count) finish(new Error(`event watch ended: ${String(error)}`));
        },
      )
      .then((r) => (request = r), (error: unknown) => finish(error instanceof Error ? error : new Error(String(error))));
  });
}
