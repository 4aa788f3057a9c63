// Bearer tokens for sandbox storage accounts.
//
// Azurite's `--oauth basic` mode (node_modules/azurite/dist/src/blob/authentication/BlobTokenAuthenticator.js)
// accepts a JWT over HTTPS only, does NOT check its signature, and requires:
//   - `aud`: "https://storage.azure.com" (with or without trailing "/"), the storage app id
//     "e406a681-f3d4-42a8-90b6-c2b029497af1", or "https://<account>.blob.core.windows.net";
//   - `iss`: starting with "https://sts.windows.net/" (or the sovereign-cloud / ppe STS hosts);
//   - `iat`, `nbf`, `exp` (seconds), with nbf <= now <= exp;
//   - the account in the URL to exist (createAccount()).
// Any credential the sandbox hands out for storage (scope https://storage.azure.com/.default) must produce
// such a token; sandboxAccessToken() makes one valid for ten years, unsigned (alg "none"): the sandbox has
// no identity provider and Azurite would ignore a signature anyway.
import type { AccessToken, TokenCredential } from '@azure/core-auth';

export const SANDBOX_TENANT_ID = '72f988bf-0000-4000-8000-5a4e0b0c5a4d';
export const STORAGE_AUDIENCE = 'https://storage.azure.com';

const TEN_YEARS_S = 10 * 365 * 24 * 3600;

function b64url(obj: object): string {
  return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

/**
 * The identities the sandbox issues tokens for, by object id (the token's `oid` and `appid`): `sandbox` (the
 * sandbox's own clients, the CLI and tests; Owner when the ARM emulator enforces roles), and distinct
 * `operator` and `datapath` principals, whose role assignments `sandbox up --azure-rbac` makes.
 */
export const SANDBOX_PRINCIPALS = {
  sandbox: '00000000-0000-4000-8000-00000000a11c',
  operator: '00000000-0000-4000-8000-0000000000e1',
  datapath: '00000000-0000-4000-8000-0000000000d1',
} as const;
export type SandboxPrincipal = keyof typeof SANDBOX_PRINCIPALS;

const cached = new Map<SandboxPrincipal, { token: string; exp: number }>();

/** A long-lived unsigned JWT Azurite accepts as a storage bearer token (see module comment), naming `principal`. */
export function sandboxAccessToken(principal: SandboxPrincipal = 'sandbox'): string {
  const now = Math.floor(Date.now() / 1000);
  const hit = cached.get(principal);
  if (hit && hit.exp - now > 365 * 24 * 3600) return hit.token;
  const { token, exp } = tokenForObjectId(SANDBOX_PRINCIPALS[principal], principal === 'sandbox' ? 'site-recovery-sandbox' : `site-recovery-${principal}`);
  cached.set(principal, { token, exp });
  return token;
}

/**
 * A token like sandboxAccessToken()'s for any object id (its `oid` and `appid`): another identity, such as a
 * namespace's own workload identity in tests of per-namespace identities.
 */
export function sandboxTokenForObjectId(oid: string): string {
  return tokenForObjectId(oid, `site-recovery-${oid}`).token;
}

function tokenForObjectId(oid: string, sub: string): { token: string; exp: number } {
  const now = Math.floor(Date.now() / 1000);
  const iat = now - 300;
  const exp = now + TEN_YEARS_S;
  const payload = {
    aud: STORAGE_AUDIENCE,
    iss: `https://sts.windows.net/${SANDBOX_TENANT_ID}/`,
    iat,
    nbf: iat,
    exp,
    tid: SANDBOX_TENANT_ID,
    oid,
    sub,
    appid: oid,
    scp: 'user_impersonation',
    ver: '1.0',
  };
  return { token: `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(payload)}.`, exp };
}

/** TokenCredential returning sandboxAccessToken() for any scope (use for storage clients only). */
export function sandboxStorageCredential(): TokenCredential {
  return {
    async getToken(): Promise<AccessToken> {
      const token = sandboxAccessToken();
      return { token, expiresOnTimestamp: Date.now() + 3600_000, tokenType: 'Bearer' };
    },
  };
}
