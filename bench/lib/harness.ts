// What the end-to-end benchmarks share: a control plane, local Azure, a namespace, and the operator and a
// datapath replica running in this process (stopped by `close`); and a polling wait.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { FailoverRequest } from '../../src/api/types.ts';
import { buildDatapath } from '../../src/datapath/datapath.ts';
import { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { buildOperator } from '../../src/operator/run-operator.ts';
import { startControlPlane } from '../../sandbox/src/kube/controlplane.ts';
import { startDatapathSandbox, type DatapathSandbox } from '../../test/support/datapath-sandbox.ts';
import { crClients, type Clients } from '../../test/support/operator-fixtures.ts';

export interface Harness {
  kc: KubeConfig;
  sb: DatapathSandbox;
  ns: string;
  clients: Clients;
  failovers: CustomResourceClient<FailoverRequest>;
  close(): Promise<void>;
}

export async function startHarness(ns: string, cycleIntervalMs: number): Promise<Harness> {
  const cp = await startControlPlane({});
  const sb = await startDatapathSandbox();
  const kc = cp.kubeConfig;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  const stop = new AbortController();
  const runs = [
    buildOperator({ kubeConfig: kc, azure: sb.azure, namespace: ns }).run(stop.signal),
    buildDatapath({ kubeConfig: kc, azure: sb.azure, identity: 'dp-bench', namespace: ns, port: 0, leaseDurationMs: 3000, worker: { cycleIntervalMs, statusIntervalMs: 1000, retryMs: 300 } }).run(stop.signal),
  ];
  return {
    kc,
    sb,
    ns,
    clients: crClients(kc),
    failovers: new CustomResourceClient<FailoverRequest>(kc, 'FailoverRequest'),
    async close() {
      stop.abort();
      await Promise.allSettled(runs);
      await sb.close();
      await cp.stop();
    },
  };
}

/** Reads until `ok` holds (every `everyMs`), or throws after `timeoutMs`. */
export async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
