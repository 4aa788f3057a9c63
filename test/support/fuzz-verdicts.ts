// What the fuzz tests (test/integration/fuzz-objects.test.ts) accept as the end of a fuzzed object: a
// refusal by the API server that a person can read, or, once admitted, an operator verdict that ends
// retries — Stalled with a reason, a Failed (or cleaned-up) FailoverRequest with a reason, a valid policy
// Ready, or a wait on a named object that does not exist (WaitingFor…: it may be applied later, as Argo
// CD or kubectl apply order things) — never a retry loop (AzureError), never Ready for an Azure object.
import type { Condition } from '../../src/api/types.ts';
import type { CustomObject } from '../../src/kube/custom-resources.ts';
import type { FuzzObject } from './fuzz-objects.ts';

export type Verdict = { settled: false } | { settled: true; problem?: string };

const PENDING: Verdict = { settled: false };
const OK: Verdict = { settled: true };
const problem = (why: string): Verdict => ({ settled: true, problem: why });

export type Observed = CustomObject & { status?: { observedGeneration?: number; conditions?: Condition[]; phase?: string } };

const find = (o: Observed, type: string) => o.status?.conditions?.find((c) => c.type === type);

/** A reason is a CamelCase word; a message says something. */
function explained(c: Condition | undefined): boolean {
  return Boolean(c && /^[A-Z][A-Za-z0-9]*$/.test(c.reason) && (c.message ?? '').trim().length > 0);
}

/** The operator's verdict on an admitted object, once it has one. */
export function operatorVerdict(kind: FuzzObject['kind'], o: Observed | undefined): Verdict {
  if (!o) return problem('the object disappeared');
  if (kind === 'RecoveryPoint') return OK; // written by the datapath; the operator has no controller for it
  if (o.status?.observedGeneration !== o.metadata.generation) return PENDING;
  if (kind === 'FailoverRequest') return failoverVerdict(o);
  const stalled = find(o, 'Stalled');
  const ready = find(o, 'Ready');
  const reconciling = find(o, 'Reconciling');
  if (stalled?.status === 'True') return explained(stalled) ? OK : problem(`Stalled without a reason or message: ${JSON.stringify(stalled)}`);
  if (ready?.status === 'True') return kind === 'ReplicationPolicy' && explained(ready) ? OK : problem(`became Ready: ${JSON.stringify(ready)}`);
  if (reconciling?.status === 'True' && /^WaitingFor/.test(reconciling.reason)) return explained(reconciling) ? OK : problem(`waits without a message: ${JSON.stringify(reconciling)}`);
  if (reconciling?.status === 'True' && /^Azure/.test(reconciling.reason)) return problem(`retried instead of stalled: ${reconciling.reason}: ${reconciling.message}`);
  return PENDING;
}

function failoverVerdict(o: Observed): Verdict {
  const phase = o.status?.phase;
  if (phase === 'Failed') {
    const succeeded = find(o, 'Succeeded');
    return succeeded?.status === 'False' && explained(succeeded) ? OK : problem(`Failed without a reason: ${JSON.stringify(o.status)}`);
  }
  if (phase === 'CleanedUp') return OK; // a Test request with cleanup: true, nothing to remove
  if (phase === 'Succeeded' || phase === 'Committed') return problem(`a fuzzed failover reached ${phase}`);
  return PENDING;
}

/** True when the API server's refusal names what is wrong in words (not an internal error). */
export function clearRefusal(code: number, message: string): string | undefined {
  if (code !== 422 && code !== 400) return `HTTP ${code}: ${message}`;
  if (!message.trim()) return 'an empty message';
  if (/internal error|panic|goroutine|stack trace|no such overload|unexpected/i.test(message)) return `not a message for a person: ${message}`;
  // A CEL rule that cannot read a value says so in its own words; the schema must say why beside it.
  if (/type conversion error/i.test(message) && !/should match/.test(message)) return `only a CEL conversion error: ${message}`;
  if (!/(Invalid value|Required value|Unsupported value|Too long|Too many|must|should|expected|cannot|immutable|exceed|invalid)/i.test(message)) return `no reason given: ${message}`;
  return undefined;
}
