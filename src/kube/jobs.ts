/**
 * batch/v1 Jobs for a recovery plan's actions: create (an existing Job of the same name counts as
 * created, so a create re-sent after a crash is harmless), list by label, delete (a missing Job counts as
 * deleted), and the one reading of a Job's status the operator relies on — its Complete or Failed
 * condition, which the Job controller sets when the Job ends.
 */
import { BatchV1Api, type KubeConfig, type V1Job } from '@kubernetes/client-node';
import { isConflict, isNotFound } from './errors.ts';

export type JobOutcome = 'Running' | 'Succeeded' | 'Failed';

export interface JobClient {
  create(namespace: string, job: V1Job): Promise<void>;
  list(namespace: string, labelSelector: string): Promise<V1Job[]>;
  delete(namespace: string, name: string): Promise<void>;
}

export class KubeJobClient implements JobClient {
  private readonly api: BatchV1Api;

  constructor(kubeConfig: KubeConfig) {
    this.api = kubeConfig.makeApiClient(BatchV1Api);
  }

  async create(namespace: string, job: V1Job): Promise<void> {
    try {
      await this.api.createNamespacedJob({ namespace, body: job });
    } catch (error) {
      if (!isConflict(error)) throw error;
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

/** How a Job ended, from the conditions the Job controller sets (Complete or Failed, status True). */
export function jobOutcome(job: V1Job): JobOutcome {
  const isTrue = (type: string) => job.status?.conditions?.some((c) => c.type === type && c.status === 'True') === true;
  if (isTrue('Failed')) return 'Failed';
  if (isTrue('Complete')) return 'Succeeded';
  return 'Running';
}
