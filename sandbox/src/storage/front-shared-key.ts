// Storage accounts with shared key access disabled (`allowSharedKeyAccess: false`, set through ARM): the
// front refuses, as Azure does, every request to such an account authorized with the account key — a
// SharedKey or SharedKeyLite Authorization header, or a SAS signed with the key (a service or account SAS:
// `sig` without the `skoid` of a user delegation SAS) — with 403 KeyBasedAuthenticationNotPermitted.
// Bearer tokens (Entra ID) and user delegation SAS go on.
//
// Azure's answer, as services report it (x-ms-error-code and an XML body, the message followed by the
// request id and time like every storage error; front-upstream.ts xmlError):
//   403, <Error><Code>KeyBasedAuthenticationNotPermitted</Code><Message>Key based authentication is not
//   permitted on this storage account.\nRequestId:…\nTime:…</Message></Error>
//   https://github.com/Azure/AI-Landing-Zones/issues/64 (the XML body and headers),
//   https://github.com/microsoft/AzureStorageExplorer/issues/8090 (x-ms-error-code, the same message);
//   the behaviour: AllowSharedKeyAccess false means "all requests, including shared access signatures, must
//   be authorized with Azure AD" (https://learn.microsoft.com/en-us/dotnet/api/azure.provisioning.storage.storageaccount.allowsharedkeyaccess);
//   a service or account SAS is signed with the account key, a user delegation SAS with Entra ID credentials
//   (https://docs.azure.cn/en-us/storage/blobs/storage-blob-user-delegation-sas-create-java); "clients must use
//   Azure AD or a user delegation SAS" (https://learn.microsoft.com/answers/questions/1094660/connection-string-for-accessing-storage-with-a-man.html).
import type { IncomingMessage } from 'node:http';
import { HttpError, header } from './front-upstream.ts';

export const KEY_BASED_AUTH_NOT_PERMITTED = 'KeyBasedAuthenticationNotPermitted';

/** The accounts whose shared key access is disabled, and the refusal of a request to one of them. */
export class SharedKeyAccess {
  private readonly disabled = new Set<string>();

  set(account: string, allowed: boolean): void {
    if (allowed) this.disabled.delete(account);
    else this.disabled.add(account);
  }

  allowed(account: string): boolean {
    return !this.disabled.has(account);
  }

  /** The 403 to answer `req` with, if it uses the key of an account that disallows it. */
  refusal(req: IncomingMessage): HttpError | undefined {
    if (this.disabled.size === 0) return undefined;
    const url = new URL(req.url ?? '/', 'https://front.invalid');
    const account = url.pathname.split('/')[1];
    if (!account || this.allowed(account)) return undefined;
    const sharedKey = /^SharedKey(Lite)?\s/i.test(header(req.headers, 'authorization') ?? '');
    const keySas = url.searchParams.has('sig') && !url.searchParams.has('skoid');
    if (!sharedKey && !keySas) return undefined;
    return new HttpError(403, KEY_BASED_AUTH_NOT_PERMITTED, 'Key based authentication is not permitted on this storage account.');
  }
}
