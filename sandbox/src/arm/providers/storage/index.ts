// Microsoft.Storage in the ARM emulator: storageAccounts (create is a long-running operation backed by the
// storage backend's createAccount), their blobServices/containers (state only in the data plane) and
// checkNameAvailability, one file each.
import type { ArmEngine } from '../../engine.ts';
import { registerContainers } from './containers.ts';
import { registerNameAvailability } from './name-availability.ts';
import { registerStorageAccounts } from './storage-accounts.ts';

export function registerStorage(engine: ArmEngine): void {
  registerContainers(engine);
  registerStorageAccounts(engine);
  registerNameAvailability(engine);
}
