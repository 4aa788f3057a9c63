/**
 * A blob request Azure Storage refused for want of a role's data action says only "This request is not
 * authorized to perform this operation using this permission." (403, code AuthorizationPermissionMismatch:
 * https://github.com/microsoft/AzureStorageExplorer/issues/3767). To make the condition or event clear, this
 * names the data action the request needed and where: read for GET/HEAD (Get Blob, properties, page ranges,
 * List Blobs), write for PUT (Put Blob/Page/Block, metadata, snapshot, lease, copy), delete for DELETE
 * ("Permissions for calling data operations",
 * https://learn.microsoft.com/en-us/rest/api/storageservices/authorize-with-azure-active-directory).
 */
export const PERMISSION_MISMATCH = 'AuthorizationPermissionMismatch';
const BLOB_DATA = 'Microsoft.Storage/storageAccounts/blobServices/containers/blobs';
const VERB: Record<string, string> = { GET: 'read', HEAD: 'read', PUT: 'write', DELETE: 'delete' };

interface RefusedRequest {
  statusCode?: number;
  code?: string;
  request?: { method?: string; url?: string };
}

/** One line naming the missing data action and the account/container, for a 403 AuthorizationPermissionMismatch; else undefined. */
export function missingDataAction(error: unknown): string | undefined {
  const e = error as RefusedRequest | undefined;
  if (e?.statusCode !== 403 || e.code !== PERMISSION_MISMATCH) return undefined;
  const verb = VERB[(e.request?.method ?? '').toUpperCase()];
  let where = '';
  try {
    const url = new URL(e.request?.url ?? '');
    // Path-style (an emulator) or virtual-host style (<account>.blob.core.windows.net/<container>/…).
    const segs = url.pathname.split('/').filter(Boolean);
    const [account, container] = /\.blob\./.test(url.hostname) ? [url.hostname.split('.')[0], segs[0]] : [segs[0], segs[1]];
    where = ` on ${account}/${container ?? ''}`;
  } catch {
    // no URL: the action alone
  }
  const action = verb ? `'${BLOB_DATA}/${verb}'` : 'a blob data action';
  return `${PERMISSION_MISMATCH}: the identity's roles lack data action ${action}${where}`;
}
