// Regional outages of a running sandbox, scriptable (tests) and from the command line (`site-recovery
// sandbox outage REGION` / `restore REGION`): both drive the ARM emulator's control endpoint
// /_sandbox/outages, which the storage front of the same `sandbox up` process consults too. What an
// outage does is described (with Azure's documentation) in outages.ts.
//
//   const conn = connectSandbox('.sandbox');            // or { endpoint, token } of an in-process emulator
//   await startOutage(conn, 'westeurope');              // everything located in westeurope stops answering
//   await endOutage(conn, 'westeurope');                // and comes back, unchanged
import { sandboxControl } from './control.ts';
import type { SandboxControl } from './control.ts';
import type { Outage, OutageFailure } from './outages.ts';

export type { Outage, OutageFailure } from './outages.ts';
export { OUTAGE_FAILURES, REGION_DOWN_CODE } from './outages.ts';

/** What the control endpoint needs: the ARM endpoint and a bearer token (a SandboxConnection has both). */
export type OutageControl = SandboxControl;

const control = sandboxControl;

/**
 * Takes a region down. `failures`: the rotation ARM requests there go through (default: 503, 500,
 * connection reset, hang); storage requests there are reset or hang.
 */
export async function startOutage(conn: OutageControl, region: string, opts: { failures?: OutageFailure[] } = {}): Promise<Outage> {
  const r = await control(conn, 'PUT', `outages/${encodeURIComponent(region)}`, opts.failures ? { failures: opts.failures } : {});
  return (await r.json()) as Outage;
}

/** Brings a region back; false when it was not down. */
export async function endOutage(conn: OutageControl, region: string): Promise<boolean> {
  return (await control(conn, 'DELETE', `outages/${encodeURIComponent(region)}`)).status !== 404;
}

/** The regions down now. */
export async function listOutages(conn: OutageControl): Promise<Outage[]> {
  return ((await (await control(conn, 'GET', 'outages')).json()) as { value: Outage[] }).value;
}
