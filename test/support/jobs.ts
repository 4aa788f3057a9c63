// Jobs in a sandbox without a kubelet: the local control plane runs no kube-controller-manager and no
// kubelet (the envtest approach), so no pod ever runs, and a test plays the Job controller's part and ends
// a Job by writing its status, as envtest-based operator tests do. What it writes is what the Job
// controller writes when a Job ends (Kubernetes 1.31+ refuses a finished Job's status without these:
// startTime, completionTime for Complete, SuccessCriteriaMet before Complete, FailureTarget before Failed).
// The operator's side — creating the Job with its environment, waiting on it, deleting it — is real.
import { BatchV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Job } from '@kubernetes/client-node';

/** The Job (the operator records an action Running only after it created its Job). */
export async function readJob(kc: KubeConfig, namespace: string, name: string): Promise<V1Job> {
  return kc.makeApiClient(BatchV1Api).readNamespacedJob({ namespace, name });
}

/** The names of the Jobs in `namespace` that carry `labelSelector`. */
export async function jobNames(kc: KubeConfig, namespace: string, labelSelector: string): Promise<string[]> {
  return (await kc.makeApiClient(BatchV1Api).listNamespacedJob({ namespace, labelSelector })).items.map((j) => j.metadata?.name ?? '');
}

/** Ends a Job as the Job controller would: Complete (succeeded) or Failed; returns the Job as written. */
export async function endJob(kc: KubeConfig, namespace: string, name: string, outcome: 'Complete' | 'Failed', message?: string): Promise<V1Job> {
  const now = new Date();
  const text = message ?? (outcome === 'Complete' ? 'Reached expected number of succeeded pods' : 'Job has reached the specified backoff limit');
  const condition = (type: string) => ({ type, status: 'True', lastProbeTime: now, lastTransitionTime: now, reason: outcome === 'Complete' ? 'CompletionsReached' : 'BackoffLimitExceeded', message: text });
  const status =
    outcome === 'Complete'
      ? { startTime: now, completionTime: now, succeeded: 1, active: 0, conditions: [condition('SuccessCriteriaMet'), condition('Complete')] }
      : { startTime: now, failed: 1, active: 0, conditions: [condition('FailureTarget'), condition('Failed')] };
  return kc.makeApiClient(BatchV1Api).patchNamespacedJobStatus({ namespace, name, body: { status } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
}
