// The role assignments of `sandbox up --azure-rbac` and of tests that enforce roles: the sandbox's own
// principal (its CLI, tests' setup clients) is Owner of the subscription; the operator and the datapath
// principals get the custom roles the project ships (deploy/azure-roles/*.json), at the subscription; the
// sandbox is Storage Blob Data Owner too, as Owner grants no data actions.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RbacConfig, RoleDefinition } from './arm/rbac.ts';
import { SANDBOX_PRINCIPALS } from './storage/token.ts';

const ROLES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../deploy/azure-roles');

/** Azure's built-in Owner, as far as actions go: no data actions (Owner reads no blob with its token). */
export const OWNER: RoleDefinition = { Name: 'Owner', Actions: ['*'], NotActions: [] };

/**
 * Azure's built-in Storage Blob Data Owner (https://learn.microsoft.com/en-us/azure/role-based-access-control/built-in-roles/storage#storage-blob-data-owner):
 * what the sandbox's own clients (its ARM emulator's disk access, the CLI, tests) need of blobs when the
 * storage front enforces data actions.
 */
export const STORAGE_BLOB_DATA_OWNER: RoleDefinition = {
  Name: 'Storage Blob Data Owner',
  Actions: ['Microsoft.Storage/storageAccounts/blobServices/containers/*', 'Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action'],
  DataActions: ['Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*'],
};

/** A shipped role definition: `operator` or `datapath` (deploy/azure-roles/site-recovery-<which>.json). */
export function shippedRole(which: 'operator' | 'datapath'): RoleDefinition {
  return JSON.parse(fs.readFileSync(path.join(ROLES_DIR, `site-recovery-${which}.json`), 'utf8')) as RoleDefinition;
}

/** Enforcement with the given (default: the shipped) roles of the operator and the datapath at the subscription. */
export function sandboxRbac(subscriptionId: string, roles: { operator?: RoleDefinition; datapath?: RoleDefinition } = {}): RbacConfig {
  const scope = `/subscriptions/${subscriptionId}`;
  return {
    enabled: true,
    assignments: [
      { principalId: SANDBOX_PRINCIPALS.sandbox, role: OWNER, scope },
      { principalId: SANDBOX_PRINCIPALS.sandbox, role: STORAGE_BLOB_DATA_OWNER, scope },
      { principalId: SANDBOX_PRINCIPALS.operator, role: roles.operator ?? shippedRole('operator'), scope },
      { principalId: SANDBOX_PRINCIPALS.datapath, role: roles.datapath ?? shippedRole('datapath'), scope },
    ],
  };
}
