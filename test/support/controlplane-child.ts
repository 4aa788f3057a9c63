// Fixture for test/integration/controlplane-harness.test.ts: starts a control plane (no CRDs), prints
// {"dir", "pids"} as one JSON line and then idles until killed, so a test can kill this process with
// SIGKILL and check that nothing it started survives.
import { startControlPlane } from '../../sandbox/src/kube/controlplane.ts';

const cp = await startControlPlane({ crdDir: null });
process.stdout.write(`${JSON.stringify({ dir: cp.dir, pids: cp.pids })}\n`);
setInterval(() => {}, 60_000);
