/**
 * Argo CD's own CRDs (Application, ApplicationSet, AppProject), from its Go module as the Go module proxy
 * serves it (`go mod download`, cached in Go's module cache like every module the tests build from), so
 * the Argo CD manifests are checked against the schemas Argo CD installs. Nothing is built.
 */
import path from 'node:path';
import { mustRun } from './helm.ts';

/** The Argo CD release whose CRDs the tests install (v3.2 is the newest that Go 1.26 accepts to download). */
export const ARGOCD_MODULE = 'github.com/argoproj/argo-cd/v3@v3.2.0';

/** Time for a first download of the module (about 60 MB). */
export const ARGOCD_DOWNLOAD_TIMEOUT_MS = 5 * 60_000;

/** The paths of Argo CD's CRD manifests, downloading the module once per machine. */
export async function argocdCrdFiles(): Promise<string[]> {
  const env = { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' };
  const out = await mustRun('go', ['mod', 'download', '-json', ARGOCD_MODULE], { cwd: path.dirname(new URL(import.meta.url).pathname), env });
  const { Dir, Error: error } = JSON.parse(out) as { Dir?: string; Error?: string };
  if (!Dir) throw new Error(`go mod download ${ARGOCD_MODULE}: ${error ?? 'no directory'}`);
  return ['application-crd.yaml', 'applicationset-crd.yaml', 'appproject-crd.yaml'].map((f) => path.join(Dir, 'manifests', 'crds', f));
}
