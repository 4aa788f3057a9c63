// What the end-to-end benchmarks share: a control plane, local Azure, a namespace, and the operator and a
// datapath replica running in this process (stopped by `close`); a way to move them to a brand-new
// cluster over the same local Azure (as after losing the operator's cluster); and a polling wait.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { FailoverRequest } from '../../src/api/types.ts';
import { buildDatapath } from '../../src/datapath/datapath.ts';
import { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { buildOperator } from '../../src/operator/run-operator.ts';
import { startControlPlane, type ControlPlane } from '../../sandbox/src/kube/controlplane.ts';
import { startDatapathSandbox, type DatapathSandbox } from '../../test/support/datapath-sandbox.ts';
import { crClients, type Clients } from '../../test/support/operator-fixtures.ts';

export interface Harness {
  kc: KubeConfig;
  sb: DatapathSandbox;
  ns: string;
  clients: Clients;
  failovers: CustomResourceClient<FailoverRequest>;
  /**
   * Stops the operator and the datapath, starts a brand-new control plane (CRDs installed, the namespace
   * created), lets `apply` write the same manifests there, and runs the operator and datapath against it.
   * `kc`, `clients` and `failovers` then speak to the new cluster.
   */
  freshCluster(apply: (clients: Clients) => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(ns: string, cycleIntervalMs: number): Promise<Harness> {
  const planes: ControlPlane[] = [await startControlPlane({})];
  const sb = await startDatapathSandbox();
  let stop = new AbortController();
  let runs: Promise<unknown>[] = [];
  const run = (kc: KubeConfig) => {
    stop = new AbortController();
    runs = [
      buildOperator({ kubeConfig: kc, azure: sb.azure, namespace: ns }).run(stop.signal),
      buildDatapath({ kubeConfig: kc, azure: sb.azure, identity: 'dp-bench', namespace: ns, port: 0, leaseDurationMs: 3000, worker: { cycleIntervalMs, statusIntervalMs: 1000, retryMs: 300 } }).run(stop.signal),
    ];
  };
  const stopProcesses = async () => {
    stop.abort();
    await Promise.allSettled(runs);
  };
  const first = (planes[0] as ControlPlane).kubeConfig;
  await first.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
  run(first);
  const harness: Harness = {
    kc: first,
    sb,
    ns,
    clients: crClients(first),
    failovers: new CustomResourceClient<FailoverRequest>(first, 'FailoverRequest'),
    async freshCluster(apply) {
      await stopProcesses();
      const plane = await startControlPlane({});
      planes.push(plane);
      harness.kc = plane.kubeConfig;
      harness.clients = crClients(plane.kubeConfig);
      harness.failovers = new CustomResourceClient<FailoverRequest>(plane.kubeConfig, 'FailoverRequest');
      await plane.kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: ns } } });
      await apply(harness.clients);
      run(plane.kubeConfig);
    },
    async close() {
      await stopProcesses();
      await sb.close();
      for (const plane of planes) await plane.stop();
    },
  };
  return harness;
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
