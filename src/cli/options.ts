/**
 * Command-line values every command parses the same way: whole numbers that are checked (a typo is a
 * one-line usage error, not NaN workers), the metrics port, and the namespace a user command acts in.
 *
 * The metrics port: an explicit `--metrics-port` or METRICS_PORT must be free (else the process stops
 * with one line saying so). Without either, 8080 is used when free; when it is taken — an operator and
 * several datapath replicas started side by side on one host with no flags (DESIGN.md §6) — the process
 * serves on a free port instead and logs which, rather than dying on EADDRINUSE.
 */
import { createServer } from 'node:net';
import { InvalidArgumentError } from 'commander';
import type { KubeConfig } from '@kubernetes/client-node';
import { formatDuration, parseDuration } from '../util/duration.ts';
import { parseArmBudget, type ArmBudgetLimits } from '../azure/arm-budget.ts';

export const DEFAULT_METRICS_PORT = 8080;

/** A parser for a whole number in [min, max] (commander argParser). */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    }
    return n;
  };
}

export const portNumber = wholeNumber(0, 65_535);

/**
 * A parser for a namespace name: a DNS-1123 label, as the API server requires. An empty value is refused
 * rather than read as "no namespace", which would list or watch every namespace (commander argParser).
 */
export function namespaceName(value: string): string {
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(value)) {
    throw new InvalidArgumentError(`expected a namespace name (lowercase letters, digits and '-', at most 63), got ${JSON.stringify(value)}`);
  }
  return value;
}

/** A parser for a duration (30s, 5m, 1h30m) of at least `minMs` (commander argParser). */
export function durationAtLeast(minMs: number): (value: string) => number {
  return (value: string) => {
    let ms: number;
    try {
      ms = parseDuration(value.trim());
    } catch (error) {
      throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
    }
    if (ms < minMs) throw new InvalidArgumentError(`expected at least ${formatDuration(minMs)}, got ${JSON.stringify(value)}`);
    return ms;
  };
}

/** `--arm-budget`: reads=250@25,writes=200@10,deletes=200@10 (any subset) or off (commander argParser). */
export function armBudgetOption(value: string): ArmBudgetLimits | 'off' {
  try {
    return parseArmBudget(value) ?? 'off';
  } catch (error) {
    throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
  }
}

/** Help of `--arm-budget`, the same for the operator and the datapath. */
export const ARM_BUDGET_HELP =
  'ARM requests per subscription, region and principal, as token buckets (size@refill per second; a kind left out keeps ARM\'s published value) or off: the datapath replicas share it, the operator checks policies\' intervals against it (default: SITE_RECOVERY_ARM_BUDGET, else reads=250@25,writes=200@10,deletes=200@10)';

/** The explicit metrics port (flag, else METRICS_PORT), or undefined when none was given. */
export function explicitMetricsPort(flag: number | undefined, env: NodeJS.ProcessEnv = process.env): number | undefined {
  if (flag !== undefined) return flag;
  return env.METRICS_PORT ? portNumber(env.METRICS_PORT) : undefined;
}

/** Whether nothing listens on `port` (on all interfaces) right now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '0.0.0.0', () => probe.close(() => resolve(true)));
  });
}

/** The port to serve metrics on: the explicit one, else 8080 when free, else 0 (any free port). */
export async function metricsPort(explicit: number | undefined): Promise<number> {
  if (explicit !== undefined) return explicit;
  return (await portIsFree(DEFAULT_METRICS_PORT)) ? DEFAULT_METRICS_PORT : 0;
}

/** The namespace of the kubeconfig's current context (as kubectl uses it), else "default". */
export function contextNamespace(kubeConfig: KubeConfig): string {
  const context = kubeConfig.getContextObject(kubeConfig.getCurrentContext());
  return context?.namespace || 'default';
}

/**
 * The name to show in usage lines: `kubectl siterecovery` when the binary runs as the kubectl plugin
 * (kubectl runs `kubectl-siterecovery` found on PATH), else `site-recovery`.
 */
export function programName(executable: string | undefined): string {
  const base = (executable ?? '').split(/[\\/]/).pop() ?? '';
  return base.startsWith('kubectl-') ? `kubectl ${base.slice('kubectl-'.length).replace(/\.[cm]?js$/, '').replace(/_/g, '-')}` : 'site-recovery';
}
