// ARM throttling and request statistics of a running sandbox, scriptable (tests) and from the command line
// (`site-recovery sandbox up --arm-throttling [--arm-throttling-scale F]`, `sandbox arm-stats [--reset]`):
// both drive the ARM emulator's control endpoint (/_sandbox/throttling, /_sandbox/stats). What throttling
// enforces, with Azure's documentation, is in arm/throttling.ts; what is counted, in arm/stats.ts.
//
//   const conn = connectSandbox('.sandbox');                       // or { endpoint, token } of an in-process emulator
//   await setArmThrottling(conn, { enabled: true, scale: 0.02 });  // reads: 5 tokens refilled at 0.5/s
//   const stats = await armStats(conn, { reset: true });           // { reads, writes, deletes, throttled, byOperation, byClient, … }
import type { ArmStatsSummary } from './arm/stats.ts';
import type { ThrottlingConfig } from './arm/throttling.ts';
import { sandboxControl } from './control.ts';
import type { SandboxControl } from './control.ts';

export type { ArmStatsSummary, KindCounts, OperationCounts } from './arm/stats.ts';
export type { ThrottlingConfig } from './arm/throttling.ts';
export { ARM_BUCKETS, GLOBAL_FACTOR } from './arm/throttling.ts';

/** Turns ARM's throttling on or off, or changes its scale; the buckets start full. Returns the configuration. */
export async function setArmThrottling(conn: SandboxControl, change: Partial<ThrottlingConfig>): Promise<ThrottlingConfig> {
  return (await (await sandboxControl(conn, 'PUT', 'throttling', change)).json()) as ThrottlingConfig;
}

export async function armThrottling(conn: SandboxControl): Promise<ThrottlingConfig> {
  return (await (await sandboxControl(conn, 'GET', 'throttling')).json()) as ThrottlingConfig;
}

/** Reads, writes, deletes and throttled answers since the start or the last reset; `reset` starts over in the same step. */
export async function armStats(conn: SandboxControl, opts: { reset?: boolean } = {}): Promise<ArmStatsSummary> {
  const body = (await (await sandboxControl(conn, 'GET', opts.reset ? 'stats?reset=true' : 'stats')).json()) as ArmStatsSummary & { operations?: unknown };
  const { reads, writes, deletes, throttled, total, byOperation, byClient } = body;
  return { reads, writes, deletes, throttled, total, byOperation, byClient };
}
