/**
 * The Azure credential of a process. In a cluster: DefaultAzureCredential (workload identity, managed
 * identity, environment, Azure CLI). For emulators and tests only, through configuration: a fixed
 * bearer token for every scope (SITE_RECOVERY_ACCESS_TOKEN).
 */
import { DefaultAzureCredential } from '@azure/identity';
import type { AccessToken, TokenCredential } from '@azure/core-auth';

export class StaticTokenCredential implements TokenCredential {
  private readonly token: string;
  constructor(token: string) {
    this.token = token;
  }
  async getToken(): Promise<AccessToken> {
    return { token: this.token, expiresOnTimestamp: Date.now() + 3600_000, tokenType: 'Bearer' };
  }
}

export function credentialFromEnvironment(env: NodeJS.ProcessEnv = process.env): TokenCredential {
  const staticToken = env.SITE_RECOVERY_ACCESS_TOKEN;
  if (staticToken) return new StaticTokenCredential(staticToken);
  return new DefaultAzureCredential();
}
