// Microsoft.Storage in the ARM emulator: what the resource types share. Type names, the account name
// rules (also what checkNameAvailability answers), an account as ARM renders it (primaryEndpoints once it
// is provisioned), and a data-plane client of a provisioned account.
import { BlobServiceClient } from '@azure/storage-blob';
import { sandboxStorageCredential } from '../../../storage/token.ts';
import type { ArmEngine } from '../../engine.ts';
import { ArmError } from '../../errors.ts';
import type { Json, StoredResource } from '../../store.ts';
import { clone } from '../common.ts';

export const STORAGE_ACCOUNT = 'Microsoft.Storage/storageAccounts';
export const BLOB_SERVICE = 'Microsoft.Storage/storageAccounts/blobServices';
export const CONTAINER = 'Microsoft.Storage/storageAccounts/blobServices/containers';
export const NS = 'Microsoft.Storage';

export const validName = (n: string): boolean => /^[a-z0-9]{3,24}$/.test(n);
export const invalidNameMessage = (n: string): string =>
  `${n} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only.`;
export const takenMessage = (n: string): string => `The storage account named ${n} is already taken.`;

export function findByName(engine: ArmEngine, name: string): StoredResource | undefined {
  return engine.store.ofType(STORAGE_ACCOUNT).find((a) => a.body.name === name);
}

export function render(engine: ArmEngine, r: StoredResource): Json {
  const out = clone(r.body);
  if (out.properties.provisioningState === 'Succeeded') {
    out.properties.primaryEndpoints = { blob: engine.storage.blobEndpoint(r.body.name) };
  }
  return out;
}

/** 409 StorageAccountIsNotProvisioned unless the account is provisioned (what data-plane operations of ARM require). */
export function assertProvisioned(account: StoredResource): void {
  if (account.body.properties.provisioningState !== 'Succeeded') {
    throw new ArmError(409, 'StorageAccountIsNotProvisioned', `The storage account provisioning state must be 'Succeeded' before executing the operation.`);
  }
}

export async function blobService(engine: ArmEngine, account: StoredResource): Promise<BlobServiceClient> {
  assertProvisioned(account);
  const name: string = account.body.name;
  // ARM's own data-plane work (containers) is not a client's: an Entra token, so that an account with
  // allowSharedKeyAccess false still has its containers managed through ARM, as on Azure.
  return new BlobServiceClient(engine.storage.blobEndpoint(name), sandboxStorageCredential());
}
