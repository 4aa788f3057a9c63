// The ARM emulator's control endpoint /_sandbox/… (arm/server.ts), as tests and the `sandbox` commands of
// another process reach it: the ARM endpoint and the sandbox's bearer token (a SandboxConnection has both).
import type { SandboxConnection } from './client.ts';

export type SandboxControl = Pick<SandboxConnection, 'endpoint' | 'token'>;

/** One control request; a 404 is returned to the caller (it has a meaning there), other failures throw. */
export async function sandboxControl(conn: SandboxControl, method: string, what: string, body?: unknown): Promise<Response> {
  const r = await fetch(`${conn.endpoint}/_sandbox/${what}`, {
    method,
    headers: { Authorization: `Bearer ${conn.token}`, 'Content-Type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (r.ok || r.status === 404) return r;
  const text = await r.text();
  throw new Error(`sandbox control ${method} ${what} failed: ${r.status} ${text.slice(0, 300)}`);
}
