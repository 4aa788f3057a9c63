// Azure RBAC on blob data at the storage front (`sandbox up --azure-rbac`, the ARM emulator's role assignments):
// a request authorized with a bearer token (Entra ID) must be allowed by the caller's roles — a blob operation
// by their DataActions, the few account and container operations that are ARM actions (Get User Delegation
// Key, container properties) by their Actions — at the scope of the account's ARM id (and the container), or
// it gets Azure Storage's refusal. Requests signed with the account key or a SAS are not RBAC's business
// (front-shared-key.ts refuses the key where the account disallows it). Accounts ARM does not know (the hidden
// managed-disk account) are not checked.
//
// Which operation needs what, from "Permissions for calling data operations"
// (https://learn.microsoft.com/en-us/rest/api/storageservices/authorize-with-azure-active-directory):
//   Get Blob, Get Blob Properties/Metadata, Get Page Ranges, List Blobs → .../containers/blobs/read;
//   Put Blob, Put Page, Put Block(List), Set Blob Properties/Metadata, Snapshot Blob, Copy, Lease Blob
//     → .../containers/blobs/write (Put Blob of a new blob also accepts .../blobs/add/action: not modelled,
//     write is what the product's roles use);
//   Delete Blob (and a snapshot) → .../containers/blobs/delete; a version → .../blobs/deleteBlobVersion/action;
//   Get/Set Blob Tags → .../containers/blobs/tags/read|write;
//   Get User Delegation Key → Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action
//     (an action, at the account or above: https://learn.microsoft.com/answers/questions/1650711);
//   container properties, create, delete → .../blobServices/containers/read|write|delete (actions).
//
// The refusal, as Azure Storage answers it: 403, x-ms-error-code AuthorizationPermissionMismatch, XML body
// <Error><Code>AuthorizationPermissionMismatch</Code><Message>This request is not authorized to perform this
// operation using this permission.\nRequestId:…\nTime:…</Message></Error>
// (https://github.com/microsoft/AzureStorageExplorer/issues/3767 the body; https://github.com/Azure/kusto-copy/issues/79
// the status and headers). Azure does not name the missing permission; the sandbox logs it and records the
// denial (`/_sandbox/rbac`), as ARM's emulator does for actions.
import type { IncomingMessage } from 'node:http';
import { principalOf, type ArmRbac, type RequestAction } from '../arm/rbac.ts';
import { HttpError, header, queryMap } from './front-upstream.ts';

export const AUTHORIZATION_PERMISSION_MISMATCH = 'AuthorizationPermissionMismatch';
const BLOB = 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs';
const CONTAINER = 'Microsoft.Storage/storageAccounts/blobServices/containers';

/** What the front needs of the ARM emulator: its role assignments and the ARM id of an account by name. */
export interface StorageRbac {
  rbac: Pick<ArmRbac, 'enabled' | 'refusesData' | 'check'>;
  /** The account's ARM id; undefined for an account ARM does not know. */
  accountId(account: string): string | undefined;
}

/** A blob service request's permission: a data action, or an ARM action; with the path below the account it applies to. */
export interface BlobPermission {
  action: string;
  data: boolean;
  /** Below the account's id: `/blobServices/default` or `/blobServices/default/containers/<c>`. */
  under: string;
}

const VERB: Record<string, string> = { GET: 'read', HEAD: 'read', PUT: 'write', DELETE: 'delete' };

/** The permission a blob service request needs (see the header); undefined for one the table does not name. */
export function blobPermission(method: string, url: URL): BlobPermission | undefined {
  const segs = url.pathname.split('/').map((s) => decodeURIComponent(s));
  const container = segs[2];
  const blob = segs.slice(3).join('/');
  const q = queryMap(url);
  const comp = q.get('comp')?.toLowerCase();
  const verb = VERB[method.toUpperCase()];
  if (!container) {
    if (method.toUpperCase() === 'POST' && comp === 'userdelegationkey') return { action: 'Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action', data: false, under: '/blobServices/default' };
    if (comp === 'list') return { action: `${CONTAINER}/read`, data: false, under: '/blobServices/default' };
    return verb ? { action: `Microsoft.Storage/storageAccounts/blobServices/${verb}`, data: false, under: '/blobServices/default' } : undefined;
  }
  const under = `/blobServices/default/containers/${container}`;
  if (!blob) {
    if (comp === 'list') return { action: `${BLOB}/read`, data: true, under };
    return verb ? { action: `${CONTAINER}/${verb}`, data: false, under } : undefined;
  }
  if (comp === 'tags') return verb === 'read' || verb === 'write' ? { action: `${BLOB}/tags/${verb}`, data: true, under } : undefined;
  if (verb === 'delete' && q.has('versionid')) return { action: `${BLOB}/deleteBlobVersion/action`, data: true, under };
  return verb ? { action: `${BLOB}/${verb}`, data: true, under } : undefined;
}

/** The 403 to answer `req` with when the caller's roles do not allow it; undefined when they do or RBAC does not apply. */
export function rbacRefusal(s: StorageRbac | undefined, req: IncomingMessage): HttpError | undefined {
  if (!s?.rbac.enabled) return undefined;
  const authorization = header(req.headers, 'authorization');
  if (!/^Bearer\s/i.test(authorization ?? '')) return undefined;
  const url = new URL(req.url ?? '/', 'https://front.invalid');
  const account = decodeURIComponent(url.pathname.split('/')[1] ?? '');
  const id = account ? s.accountId(account) : undefined;
  const permission = id ? blobPermission(req.method ?? 'GET', url) : undefined;
  if (!id || !permission) return undefined;
  const principal = principalOf(authorization);
  const a: RequestAction = { action: permission.action, scope: `${id}${permission.under}` };
  const refused = permission.data ? s.rbac.refusesData(principal, a) : s.rbac.check(principal, a) !== undefined;
  return refused ? new HttpError(403, AUTHORIZATION_PERMISSION_MISMATCH, 'This request is not authorized to perform this operation using this permission.') : undefined;
}
