// vitest globalSetup of the `integration` project: one real control plane (etcd + kube-apiserver) for the
// whole run, with the CRDs of crds/ installed. Test files reach it through inject('kubeconfigPath') or
// $KUBECONFIG (set here, before the forked workers start); test/support/kube.ts wraps both.
// SITE_RECOVERY_USE_EXISTING_CLUSTER=1 uses the cluster of $KUBECONFIG instead; KUBEBUILDER_ASSETS points
// at prebuilt binaries (see sandbox/src/kube/).
//
// A CRD that the API server refuses does not abort the run: the others are installed, and the refusal is
// handed to the tests (inject('crdInstallError')), where test/integration/controlplane-examples.test.ts
// reports it, so unrelated suites still run.
import type { TestProject } from 'vitest/node';
import { pinnedVersions } from '../../sandbox/src/kube/binaries.ts';
import { DEFAULT_CRD_DIR, startControlPlane } from '../../sandbox/src/kube/controlplane.ts';
import { CrdInstallError, installCrds } from '../../sandbox/src/kube/crds.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfigPath: string;
    kubeServer: string;
    /** The Kubernetes release the local control plane was built from, e.g. v1.34.4 ('' for an existing cluster). */
    kubeVersion: string;
    /** Names of the CRDs from crds/ that are installed and Established. */
    installedCrds: string[];
    /** Why some CRDs of crds/ were refused ('' when all were installed). */
    crdInstallError: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cp = await startControlPlane({ crdDir: null });
  try {
    let installed: string[] = [];
    let crdError = '';
    try {
      installed = await installCrds(cp.kubeConfig, DEFAULT_CRD_DIR);
    } catch (err) {
      if (!(err instanceof CrdInstallError)) throw err;
      installed = err.installed;
      crdError = err.message;
      console.error(`[controlplane] ${err.message}`);
    }
    process.env.KUBECONFIG = cp.kubeconfigPath;
    project.provide('kubeconfigPath', cp.kubeconfigPath);
    project.provide('kubeServer', cp.server);
    project.provide('kubeVersion', cp.existing ? '' : (await pinnedVersions()).kubernetes);
    project.provide('installedCrds', installed);
    project.provide('crdInstallError', crdError);
  } catch (err) {
    await cp.stop();
    throw err;
  }
  return () => cp.stop();
}
