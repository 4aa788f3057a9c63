// Finishing a Job the way the Job controller would. The local control plane runs no kube-controller-manager
// and no kubelet (the envtest approach): a Job's pods never run, so a test completes or fails it by writing
// its status, as envtest-based operators' tests do. What the product does with the Job — create it, watch
// it, read its outcome, delete it — is the real work under test. Since Kubernetes 1.31 the API server checks
// a Job's status transitions: Complete needs SuccessCriteriaMet, startTime and completionTime; Failed needs
// FailureTarget and startTime.
import { BatchV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Job } from '@kubernetes/client-node';

export async function finishJob(kc: KubeConfig, namespace: string, name: string, outcome: 'Complete' | 'Failed', message = ''): Promise<V1Job> {
  const api = kc.makeApiClient(BatchV1Api);
  const now = new Date();
  const condition = (type: string, reason: string) => ({ type, status: 'True', reason, message, lastProbeTime: now, lastTransitionTime: now });
  const status =
    outcome === 'Complete'
      ? { startTime: now, completionTime: now, succeeded: 1, active: 0, conditions: [condition('SuccessCriteriaMet', 'CompletionsReached'), condition('Complete', 'CompletionsReached')] }
      : { startTime: now, failed: 1, active: 0, conditions: [condition('FailureTarget', 'BackoffLimitExceeded'), condition('Failed', 'BackoffLimitExceeded')] };
  return api.patchNamespacedJobStatus({ namespace, name, body: { status } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
}
