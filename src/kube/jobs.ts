/**
 * batch/v1 Jobs, for the probe a drill runs against its test VM: create (an existing Job of the same name
 * is returned: a retried create is the same Job), get (undefined when absent) and delete (with its pods,
 * in the background; an absent Job counts as deleted). The calls are the operator's; the chart grants them
 * (templates/rbac-operator.yaml).
 */
import { BatchV1Api, type KubeConfig, type V1Job } from '@kubernetes/client-node';
import { isConflict, isNotFound } from './errors.ts';

export interface JobClient {
  create(namespace: string, job: V1Job): Promise<V1Job>;
  get(namespace: string, name: string): Promise<V1Job | undefined>;
  delete(namespace: string, name: string): Promise<void>;
}

export function jobClient(kubeConfig: KubeConfig): JobClient {
  const api = kubeConfig.makeApiClient(BatchV1Api);
  const get = async (namespace: string, name: string) => {
    try {
      return await api.readNamespacedJob({ namespace, name });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  };
  return {
    async create(namespace, job) {
      try {
        return await api.createNamespacedJob({ namespace, body: job });
      } catch (error) {
        const name = job.metadata?.name;
        const existing = isConflict(error) && name ? await get(namespace, name) : undefined;
        if (existing) return existing;
        throw error;
      }
    },
    get,
    async delete(namespace, name) {
      try {
        await api.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background' });
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    },
  };
}
