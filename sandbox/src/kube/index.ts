export { startControlPlane, useExistingClusterFromEnv, DEFAULT_CRD_DIR } from './controlplane.ts';
export type { ControlPlane, StartControlPlaneOptions } from './controlplane.ts';
export { ensureBinaries, pinnedVersions, defaultCacheDir } from './binaries.ts';
export type { ControlPlaneBinaries, ControlPlaneVersions } from './binaries.ts';
export { CrdInstallError, apiErrorMessage, installCrds, readManifests, waitForCrdsEstablished } from './crds.ts';
export { impersonate, serviceAccountKubeConfig, serviceAccountUsername } from './identity.ts';
