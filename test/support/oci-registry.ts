/**
 * A local OCI registry for the packaging tests: go-containerregistry's in-memory registry, built from the
 * Go module in tools/oci-registry/ (go-tool.ts), started on a free port of 127.0.0.1 and stopped with the
 * test. No Docker, no network.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { ensureGoTool } from './go-tool.ts';

export interface OciRegistry {
  /** host:port */
  address: string;
  stop(): Promise<void>;
}

export const OCI_REGISTRY_BUILD_TIMEOUT_MS = 5 * 60_000;

export async function startOciRegistry(): Promise<OciRegistry> {
  const binary = await ensureGoTool({ name: 'oci-registry', pinned: 'github.com/google/go-containerregistry', description: 'an in-memory OCI registry (go-containerregistry)' });
  const child = spawn(binary, [], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([once(lines, 'line').then(([line]) => String(line)), exited.then(([code]) => { throw new Error(`oci-registry exited with ${String(code)} before listening`); })]);
  const address = /^listening on (\S+)$/.exec(first)?.[1];
  if (!address) throw new Error(`oci-registry: unexpected first line ${first}`);
  return {
    address,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
