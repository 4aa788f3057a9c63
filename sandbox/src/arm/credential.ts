// A TokenCredential that always returns one static bearer token: what the sandbox hands to the Azure SDK
// clients (the ARM emulator accepts any bearer token; Azurite's OAuth checks its own JWT).
import type { AccessToken, TokenCredential } from '@azure/core-auth';

export function staticTokenCredential(token: string): TokenCredential {
  return {
    async getToken(): Promise<AccessToken> {
      return { token, expiresOnTimestamp: Date.now() + 24 * 60 * 60 * 1000, tokenType: 'Bearer' };
    },
  };
}
