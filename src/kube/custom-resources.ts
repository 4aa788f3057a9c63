/**
 * Typed access to this project's custom resources. Status is written with server-side apply under a
 * field manager (so the operator and the datapath own different fields and never fight); metadata
 * changes (finalizers) use merge patches guarded by resourceVersion.
 */
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig, type V1ObjectMeta } from '@kubernetes/client-node';
import { API_VERSION, GROUP, RESOURCES, VERSION, type KindName } from '../api/types.ts';
import { isNotFound } from './errors.ts';

export interface ObjectRef {
  namespace: string;
  name: string;
}

/** Reads one object by reference: a client (from the API server) or an informer's cache. */
export interface ObjectReader<T> {
  get(ref: ObjectRef): Promise<T | undefined>;
}

/**
 * Any of our custom objects. Note: custom objects arrive as plain JSON, so timestamps in metadata are
 * ISO strings at run time whatever V1ObjectMeta's types say; test them for presence only.
 */
export interface CustomObject {
  apiVersion: string;
  kind: string;
  metadata: V1ObjectMeta;
  spec?: unknown;
  status?: unknown;
}

export interface ListResult<T> {
  items: T[];
  metadata: { resourceVersion?: string; continue?: string };
}

export class CustomResourceClient<T extends CustomObject> {
  readonly kind: KindName;
  readonly plural: string;
  private readonly api: CustomObjectsApi;

  constructor(kubeConfig: KubeConfig, kind: KindName) {
    this.kind = kind;
    this.plural = RESOURCES[kind].plural;
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
  }

  /** The REST path for list/watch, namespaced or across all namespaces. */
  path(namespace?: string): string {
    return namespace ? `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${this.plural}` : `/apis/${GROUP}/${VERSION}/${this.plural}`;
  }

  async get(ref: ObjectRef): Promise<T | undefined> {
    try {
      return (await this.api.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: this.plural, ...ref })) as T;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async list(namespace?: string, labelSelector?: string): Promise<ListResult<T>> {
    const common = { group: GROUP, version: VERSION, plural: this.plural, labelSelector };
    const result = namespace
      ? await this.api.listNamespacedCustomObject({ ...common, namespace })
      : await this.api.listClusterCustomObject(common);
    return result as ListResult<T>;
  }

  async create(namespace: string, body: Omit<T, 'apiVersion' | 'kind'> & Partial<Pick<T, 'apiVersion' | 'kind'>>, fieldManager?: string): Promise<T> {
    const object = { apiVersion: API_VERSION, kind: this.kind, ...body };
    return (await this.api.createNamespacedCustomObject({ group: GROUP, version: VERSION, plural: this.plural, namespace, body: object, fieldManager })) as T;
  }

  /** Applies `status` (server-side apply on the status subresource) as `fieldManager`, taking ownership. */
  async applyStatus(ref: ObjectRef, status: unknown, fieldManager: string): Promise<T> {
    const body = { apiVersion: API_VERSION, kind: this.kind, metadata: { name: ref.name, namespace: ref.namespace }, status };
    return (await this.api.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: this.plural, ...ref, body, fieldManager, force: true },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    )) as T;
  }

  /** A JSON merge patch on the object; include metadata.resourceVersion in `patch` to fail on a conflict. */
  async mergePatch(ref: ObjectRef, patch: unknown, fieldManager?: string): Promise<T> {
    return (await this.api.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, plural: this.plural, ...ref, body: patch, fieldManager },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as T;
  }

  /** Deletes the object; a missing object counts as deleted. */
  async delete(ref: ObjectRef): Promise<void> {
    try {
      await this.api.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: this.plural, ...ref, propagationPolicy: 'Background' });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

export function refOf(object: CustomObject): ObjectRef {
  return { namespace: object.metadata.namespace ?? 'default', name: object.metadata.name ?? '' };
}

export function keyOf(ref: ObjectRef): string {
  return `${ref.namespace}/${ref.name}`;
}

export function refFromKey(key: string): ObjectRef {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}
