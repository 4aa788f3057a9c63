// `site-recovery sandbox arm get ID`: a resource's JSON exactly as ARM returns it (the response body of a
// GET on the id, not the SDK's model), for scripts and for a person checking what the operator created.
// The api-version is the provider's current stable one unless --api-version names another.
import type { SandboxConnection } from './client.ts';

/** Stable api-versions of the providers the emulator serves (resource groups have none: Microsoft.Resources). */
const API_VERSIONS: Record<string, string> = {
  'microsoft.compute': '2024-07-01',
  'microsoft.network': '2024-05-01',
  'microsoft.storage': '2023-05-01',
  'microsoft.resources': '2021-04-01',
};

export function apiVersionFor(id: string): string {
  const ns = /\/providers\/([^/]+)\//i.exec(id)?.[1]?.toLowerCase() ?? 'microsoft.resources';
  return API_VERSIONS[ns] ?? API_VERSIONS['microsoft.resources']!;
}

/** The raw JSON body of GET `id`; ARM's error (`code: message`) when it answers with one. */
export async function armGet(conn: SandboxConnection, id: string, apiVersion = apiVersionFor(id)): Promise<string> {
  // The sandbox's CA is trusted process-wide (connectSandbox), so a plain fetch reaches the emulator.
  const url = `${conn.endpoint.replace(/\/$/, '')}/${id.replace(/^\//, '')}?api-version=${encodeURIComponent(apiVersion)}`;
  const response = await fetch(url, { headers: { authorization: `Bearer ${conn.token}`, accept: 'application/json' } });
  const body = (await response.json()) as { error?: { code?: string; message?: string } };
  if (!response.ok) throw new Error(`${body.error?.code ?? response.status}: ${body.error?.message ?? 'request failed'}`);
  return JSON.stringify(body, null, 2);
}
