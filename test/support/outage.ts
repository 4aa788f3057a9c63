// Regional outages in tests (issue #14): SDK clients that show an outage's failures as they come (no
// retries, every request given up after a short timeout), and what a failed call met, in the outage's
// own words. Outages themselves are started and ended through the sandbox package (startOutage,
// endOutage), over the same control endpoint `site-recovery sandbox outage` uses.
import { ComputeManagementClient } from '@azure/arm-compute';
import { NetworkManagementClient } from '@azure/arm-network';
import { ResourceManagementClient } from '@azure/arm-resources';
import { StorageManagementClient } from '@azure/arm-storage';
import { staticTokenCredential } from '../../sandbox/src/arm/index.ts';
import type { OutageFailure } from '../../sandbox/src/outage.ts';

export interface OutageClients {
  resources: ResourceManagementClient;
  network: NetworkManagementClient;
  compute: ComputeManagementClient;
  storage: StorageManagementClient;
}

/** ARM clients that never retry: each request meets the outage once. */
export function noRetryClients(arm: { endpoint: string; subscriptionId: string }, token: string): OutageClients {
  const cred = staticTokenCredential(token);
  const o = { endpoint: arm.endpoint, retryOptions: { maxRetries: 0 } };
  return {
    resources: new ResourceManagementClient(cred, arm.subscriptionId, o),
    network: new NetworkManagementClient(cred, arm.subscriptionId, o),
    compute: new ComputeManagementClient(cred, arm.subscriptionId, o),
    storage: new StorageManagementClient(cred, arm.subscriptionId, o),
  };
}

/** Options that give a call up after `ms` (what a client does with a request that hangs). */
export const giveUpAfter = (ms = 500): { abortSignal: AbortSignal } => ({ abortSignal: AbortSignal.timeout(ms) });

/**
 * What a call met: 'ok', or the outage failure it got ('unavailable': 503 ServiceUnavailable, 'internal':
 * 500 InternalServerError, both with an ARM error body; 'reset': the connection dropped; 'hang': no answer
 * until the call gave up), else `other: <status> <code> <message>`.
 */
export async function outcome(call: Promise<unknown>): Promise<OutageFailure | 'ok' | `other: ${string}`> {
  try {
    await call;
    return 'ok';
  } catch (err) {
    const e = err as { statusCode?: number; code?: string; name?: string; message?: string };
    if (e.statusCode === 503 && e.code === 'ServiceUnavailable') return 'unavailable';
    if (e.statusCode === 500 && e.code === 'InternalServerError') return 'internal';
    if (e.name === 'AbortError' || e.code === 'ABORT_ERR' || e.code === 'TimeoutError') return 'hang';
    if (e.code === 'ECONNRESET' || /socket hang up|ECONNRESET/i.test(e.message ?? '')) return 'reset';
    return `other: ${e.statusCode} ${e.code} ${e.name} ${e.message?.slice(0, 200)}`;
  }
}
