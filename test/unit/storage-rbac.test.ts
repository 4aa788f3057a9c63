// Azure RBAC on blob data (sandbox/src/storage/front-rbac.ts): the permission each blob request needs, the
// storage front's refusal when the caller's roles lack it, and the product's one-line naming of a refused
// request (src/azure/storage-permission.ts).
import type { IncomingMessage } from 'node:http';
import { RestError, createHttpHeaders, createPipelineRequest } from '@azure/core-rest-pipeline';
import { describe, expect, it } from 'vitest';
import { ArmRbac } from '../../sandbox/src/arm/rbac.ts';
import { OWNER, STORAGE_BLOB_DATA_OWNER } from '../../sandbox/src/azure-roles.ts';
import { blobPermission, rbacRefusal } from '../../sandbox/src/storage/front-rbac.ts';
import { sandboxAccessToken, SANDBOX_PRINCIPALS } from '../../sandbox/src/storage/token.ts';
import { missingDataAction } from '../../src/azure/storage-permission.ts';

const BLOB = 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs';
const ACCOUNT_ID = '/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/acct';
const at = (path: string) => new URL(path, 'https://front.invalid');

describe('the permission a blob request needs', () => {
  it.each([
    ['GET', '/acct/c/b', `${BLOB}/read`, true, '/blobServices/default/containers/c'],
    ['HEAD', '/acct/c/dir/b?snapshot=2026-01-01T00:00:00Z', `${BLOB}/read`, true, '/blobServices/default/containers/c'],
    ['GET', '/acct/c/b?comp=pagelist&prevsnapshot=x', `${BLOB}/read`, true, '/blobServices/default/containers/c'],
    ['PUT', '/acct/c/b?comp=page', `${BLOB}/write`, true, '/blobServices/default/containers/c'],
    ['PUT', '/acct/c/b?comp=lease', `${BLOB}/write`, true, '/blobServices/default/containers/c'],
    ['DELETE', '/acct/c/b', `${BLOB}/delete`, true, '/blobServices/default/containers/c'],
    ['DELETE', '/acct/c/b?versionid=v1', `${BLOB}/deleteBlobVersion/action`, true, '/blobServices/default/containers/c'],
    ['GET', '/acct/c/b?comp=tags', `${BLOB}/tags/read`, true, '/blobServices/default/containers/c'],
    ['GET', '/acct/c?restype=container&comp=list', `${BLOB}/read`, true, '/blobServices/default/containers/c'],
    ['PUT', '/acct/c?restype=container', 'Microsoft.Storage/storageAccounts/blobServices/containers/write', false, '/blobServices/default/containers/c'],
    ['POST', '/acct/?restype=service&comp=userdelegationkey', 'Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action', false, '/blobServices/default'],
  ])('%s %s needs %s', (method, path, action, data, under) => {
    expect(blobPermission(method, at(path))).toEqual({ action, data, under });
  });
});

describe('the front under enforcement', () => {
  const request = (method: string, path: string, authorization?: string) => ({ method, url: path, headers: authorization ? { authorization } : {} }) as unknown as IncomingMessage;
  const bearer = (who: 'operator' | 'datapath' | 'sandbox') => `Bearer ${sandboxAccessToken(who)}`;
  const rbac = new ArmRbac({
    enabled: true,
    assignments: [
      { principalId: SANDBOX_PRINCIPALS.sandbox, role: OWNER, scope: '/subscriptions/s1' },
      { principalId: SANDBOX_PRINCIPALS.datapath, role: { Name: 'reader', Actions: [], DataActions: [`${BLOB}/read`] }, scope: '/subscriptions/s1/resourceGroups/rg1' },
    ],
  });
  const front = { rbac, accountId: (a: string) => (a === 'acct' ? ACCOUNT_ID : undefined) };

  it("answers Azure Storage's 403 AuthorizationPermissionMismatch to a bearer token whose DataActions lack the operation, and records the denial", () => {
    expect(rbacRefusal(front, request('GET', '/acct/c/b', bearer('datapath')))).toBeUndefined();
    const refused = rbacRefusal(front, request('PUT', '/acct/c/b?comp=page', bearer('datapath')));
    expect(refused).toMatchObject({ status: 403, code: 'AuthorizationPermissionMismatch', message: 'This request is not authorized to perform this operation using this permission.' });
    expect(rbac.denied().at(-1)).toEqual({ principalId: SANDBOX_PRINCIPALS.datapath, action: `${BLOB}/write`, scope: `${ACCOUNT_ID}/blobServices/default/containers/c`, dataAction: true });
    // Owner's Actions ['*'] grant no data action, as in Azure; an ARM action (user delegation key) is an Action.
    expect(rbacRefusal(front, request('GET', '/acct/c/b', bearer('sandbox')))?.status).toBe(403);
    expect(rbacRefusal(front, request('POST', '/acct/?restype=service&comp=userdelegationkey', bearer('sandbox')))).toBeUndefined();
    expect(rbacRefusal(front, request('POST', '/acct/?restype=service&comp=userdelegationkey', bearer('datapath')))?.code).toBe('AuthorizationPermissionMismatch');
  });

  it('leaves the account key, SAS, accounts ARM does not know and a front without enforcement alone', () => {
    expect(rbacRefusal(front, request('PUT', '/acct/c/b', 'SharedKey acct:sig'))).toBeUndefined();
    expect(rbacRefusal(front, request('PUT', '/acct/c/b?sig=x&skoid=y'))).toBeUndefined();
    expect(rbacRefusal(front, request('PUT', '/sandboxmanageddisks/disks/b', bearer('datapath')))).toBeUndefined();
    expect(rbacRefusal({ ...front, rbac: new ArmRbac({ enabled: false }) }, request('PUT', '/acct/c/b', bearer('datapath')))).toBeUndefined();
    expect(rbacRefusal(undefined, request('PUT', '/acct/c/b', bearer('datapath')))).toBeUndefined();
  });

  it('the sandbox as Storage Blob Data Owner reads and writes blobs', () => {
    const owner = new ArmRbac({ enabled: true, assignments: [{ principalId: SANDBOX_PRINCIPALS.sandbox, role: STORAGE_BLOB_DATA_OWNER, scope: '/subscriptions/s1' }] });
    expect(rbacRefusal({ ...front, rbac: owner }, request('PUT', '/acct/c/b', bearer('sandbox')))).toBeUndefined();
  });
});

describe("the product's message for a refused blob request", () => {
  const refused = (method: string, url: string, code = 'AuthorizationPermissionMismatch', statusCode = 403) =>
    new RestError('This request is not authorized to perform this operation using this permission.\nRequestId:r\nTime:t', {
      code,
      statusCode,
      request: createPipelineRequest({ method: method as 'PUT', url, headers: createHttpHeaders() }),
    });

  it('names the data action by the method and the account/container, path-style or virtual-host style', () => {
    expect(missingDataAction(refused('PUT', 'https://127.0.0.1:1/acct/cache/vm/b?comp=page'))).toBe(`AuthorizationPermissionMismatch: the identity's roles lack data action '${BLOB}/write' on acct/cache`);
    expect(missingDataAction(refused('HEAD', 'https://acct.blob.core.windows.net/target/b'))).toBe(`AuthorizationPermissionMismatch: the identity's roles lack data action '${BLOB}/read' on acct/target`);
    expect(missingDataAction(refused('DELETE', 'https://acct.blob.core.windows.net/target/b'))).toContain(`'${BLOB}/delete'`);
  });

  it('says nothing of other errors', () => {
    expect(missingDataAction(refused('PUT', 'https://h/a/c/b', 'KeyBasedAuthenticationNotPermitted'))).toBeUndefined();
    expect(missingDataAction(refused('PUT', 'https://h/a/c/b', 'AuthorizationPermissionMismatch', 409))).toBeUndefined();
    expect(missingDataAction(new Error('x'))).toBeUndefined();
  });
});
