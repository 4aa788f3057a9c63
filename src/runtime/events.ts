/**
 * Kubernetes Events for important transitions (what `kubectl describe` shows). Repeats of the same
 * reason and message on the same object within a short window are counted on one Event, as client-go's
 * recorder does, so a retry loop does not flood the API server.
 */
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { createLogger } from '../util/logger.ts';
import type { CustomObject } from '../kube/custom-resources.ts';

const log = createLogger('events');

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  record(object: CustomObject, type: EventType, reason: string, message: string): void;
}

export class KubeEventRecorder implements EventRecorder {
  private readonly api: CoreV1Api;
  private readonly component: string;
  private readonly host: string;
  private readonly recent = new Map<string, { name: string; count: number; first: Date }>();

  constructor(kubeConfig: KubeConfig, component: string, host: string) {
    this.api = kubeConfig.makeApiClient(CoreV1Api);
    this.component = component;
    this.host = host;
  }

  record(object: CustomObject, type: EventType, reason: string, message: string): void {
    void this.write(object, type, reason, message).catch((error: unknown) => {
      log.warn('could not record event', { reason, object: object.metadata.name, error: error instanceof Error ? error.message : String(error) });
    });
  }

  private async write(object: CustomObject, type: EventType, reason: string, message: string): Promise<void> {
    const namespace = object.metadata.namespace ?? 'default';
    const now = new Date();
    const dedupeKey = `${namespace}/${object.metadata.uid}/${type}/${reason}/${message}`;
    const seen = this.recent.get(dedupeKey);
    if (seen && now.getTime() - seen.first.getTime() < 10 * 60_000) {
      seen.count += 1;
      await this.api.patchNamespacedEvent(
        { name: seen.name, namespace, body: { count: seen.count, lastTimestamp: now.toISOString() } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      return;
    }
    const name = `${object.metadata.name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`;
    await this.api.createNamespacedEvent({
      namespace,
      body: {
        metadata: { name, namespace },
        involvedObject: { apiVersion: object.apiVersion, kind: object.kind, name: object.metadata.name, namespace, uid: object.metadata.uid, resourceVersion: object.metadata.resourceVersion },
        type,
        reason,
        message: message.slice(0, 1024),
        source: { component: this.component, host: this.host },
        reportingComponent: this.component,
        reportingInstance: this.host,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
    this.recent.set(dedupeKey, { name, count: 1, first: now });
    if (this.recent.size > 5000) this.recent.delete(this.recent.keys().next().value as string);
  }
}
