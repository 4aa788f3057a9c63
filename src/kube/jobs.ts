/**
 * batch/v1 Jobs, for a drill's probe and a recovery plan's actions: create (an existing Job of the same
 * name is returned: a create re-sent after a crash is the same Job), get (undefined when absent), list by
 * label, delete (with its pods, in the background; a missing Job counts as deleted), and the one reading of
 * a Job's status the operator relies on — its Complete or Failed condition, which the Job controller sets
 * when the Job ends. The calls are the operator's; the chart grants them (templates/rbac-operator.yaml).
 */
import { BatchV1Api, type KubeConfig, type V1Job } from '@kubernetes/client-node';
import { isConflict, isNotFound } from './errors.ts';

export type JobOutcome = 'Running' | 'Succeeded' | 'Failed';

export interface JobClient {
  create(namespace: string, job: V1Job): Promise<V1Job>;
  get(namespace: string, name: string): Promise<V1Job | undefined>;
  list(namespace: string, labelSelector: string): Promise<V1Job[]>;
  delete(namespace: string, name: string): Promise<void>;
}

export class KubeJobClient implements JobClient {
  private readonly api: BatchV1Api;

  constructor(kubeConfig: KubeConfig) {
    this.api = kubeConfig.makeApiClient(BatchV1Api);
  }

  async create(namespace: string, job: V1Job): Promise<V1Job> {
    try {
      return await this.api.createNamespacedJob({ namespace, body: job });
    } catch (error) {
      const name = job.metadata?.name;
      const existing = isConflict(error) && name ? await this.get(namespace, name) : undefined;
      if (existing) return existing;
      throw error;
    }
  }

  async get(namespace: string, name: string): Promise<V1Job | undefined> {
    try {
      return await this.api.readNamespacedJob({ namespace, name });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async list(namespace: string, labelSelector: string): Promise<V1Job[]> {
    return (await this.api.listNamespacedJob({ namespace, labelSelector })).items;
  }

  async delete(namespace: string, name: string): Promise<void> {
    try {
      // Background: the Job goes at once, its pods after it (garbage collector).
      await this.api.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background' });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

export function jobClient(kubeConfig: KubeConfig): JobClient {
  return new KubeJobClient(kubeConfig);
}

/** How a Job ended, from the conditions the Job controller sets (Complete or Failed, status True). */
export function jobOutcome(job: V1Job): JobOutcome {
  const isTrue = (type: string) => job.status?.conditions?.some((c) => c.type === type && c.status === 'True') === true;
  if (isTrue('Failed')) return 'Failed';
  if (isTrue('Complete')) return 'Succeeded';
  return 'Running';
}
