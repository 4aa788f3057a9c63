// The command line's shared values and failure paths: checked whole numbers, the metrics port falling back
// when 8080 is taken (processes side by side on one host), a port in use named in one line, the namespace
// of the kubeconfig context, and configuration errors as one line with the right exit code.
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { contextNamespace, durationAtLeast, DEFAULT_METRICS_PORT, explicitMetricsPort, metricsPort, namespaceName, portIsFree, programName, wholeNumber } from '../../src/cli/options.ts';
import { serveHealth } from '../../src/runtime/health-server.ts';

const MAIN = path.join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

function listen(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '0.0.0.0', () => resolve(server));
  });
}

describe('command-line values', () => {
  it('accepts durations from a minimum and refuses shorter or malformed ones', () => {
    expect(durationAtLeast(10_000)('10m')).toBe(600_000);
    expect(() => durationAtLeast(10_000)('5s')).toThrow(/at least 10s/);
    expect(() => durationAtLeast(10_000)('soon')).toThrow(/invalid duration/);
  });

  it('accepts whole numbers in range and refuses anything else', () => {
    expect(wholeNumber(1, 10)('7')).toBe(7);
    for (const bad of ['0', '11', 'abc', '1.5', '', '-3', '7e0']) expect(() => wholeNumber(1, 10)(bad), bad).toThrow(/whole number from 1 to 10/);
  });

  it('accepts namespace names and refuses an empty one, which would otherwise mean every namespace', () => {
    expect(namespaceName('shop-prod')).toBe('shop-prod');
    for (const bad of ['', ' ', 'Shop', '-shop', 'shop-', 'a'.repeat(64), 'shop/prod']) expect(() => namespaceName(bad), JSON.stringify(bad)).toThrow(/expected a namespace name/);
  });

  it('takes the flag, else METRICS_PORT, else leaves the choice to metricsPort', () => {
    expect(explicitMetricsPort(9090, { METRICS_PORT: '9191' })).toBe(9090);
    expect(explicitMetricsPort(undefined, { METRICS_PORT: '9191' })).toBe(9191);
    expect(explicitMetricsPort(undefined, {})).toBeUndefined();
    expect(() => explicitMetricsPort(undefined, { METRICS_PORT: 'http' })).toThrow(/whole number/);
  });

  it('serves on a free port when 8080 is taken and no port was asked for; an explicit port stays', async () => {
    const holder = await listen(DEFAULT_METRICS_PORT); // undefined when something else already holds 8080
    try {
      expect(await portIsFree(DEFAULT_METRICS_PORT)).toBe(false);
      expect(await metricsPort(undefined)).toBe(0);
      expect(await metricsPort(DEFAULT_METRICS_PORT)).toBe(DEFAULT_METRICS_PORT);
      await expect(serveHealth(DEFAULT_METRICS_PORT, '0.0.0.0', () => ({ ready: true, detail: 'ok' }))).rejects.toThrow(/port 8080 is already in use: choose another with --metrics-port/);
    } finally {
      await new Promise<void>((resolve) => (holder ? holder.close(() => resolve()) : resolve()));
    }
  });

  it('calls itself kubectl siterecovery when kubectl runs it as a plugin', () => {
    expect(programName('/usr/local/bin/kubectl-siterecovery')).toBe('kubectl siterecovery');
    expect(programName('/app/bin/site-recovery.js')).toBe('site-recovery');
    expect(programName(undefined)).toBe('site-recovery');
  });

  it("defaults a user command's namespace to the kubeconfig context's, as kubectl does", () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'apps', cluster: 'c', user: 'u', namespace: 'payments' }, { name: 'plain', cluster: 'c', user: 'u' }],
      currentContext: 'apps',
    });
    expect(contextNamespace(kc)).toBe('payments');
    kc.setCurrentContext('plain');
    expect(contextNamespace(kc)).toBe('default');
  });
});

describe('site-recovery errors', () => {
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const { AZURE_SUBSCRIPTION_ID: _drop, ...rest } = process.env;
    return spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', env: { ...rest, LOG_LEVEL: 'error', ...env }, timeout: 60_000 });
  };

  it('answers a bad flag value with one line and exit code 2', () => {
    const out = run(['operator', '--workers', 'abc']);
    expect(out.status).toBe(2);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toMatch(/--workers <n>.*expected a whole number/);
  }, 60_000);

  it("refuses `-n ''` on a user command with one line and exit code 2, instead of listing every namespace", () => {
    const out = run(['status', '-n', '']);
    expect(out.status).toBe(2);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toMatch(/--namespace <ns>.*expected a namespace name/);
  }, 60_000);

  it('refuses a drift check interval too short to be one (it would reconcile the fleet without pause)', () => {
    const out = run(['operator', '--drift-check-interval', '0s']);
    expect(out.status).toBe(2);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toMatch(/--drift-check-interval <duration>.*expected at least 10s/);
  }, 60_000);

  it('refuses an ARM budget that is not one, naming the form it takes', () => {
    const out = run(['datapath', '--arm-budget', 'writes=200']);
    expect(out.status).toBe(2);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toMatch(/--arm-budget <buckets>.*invalid ARM budget "writes=200" \(expected e\.g\. reads=250@25,writes=200@10,deletes=200@10/);
  }, 60_000);

  it('answers a configuration error with one line and exit code 1, not a stack trace', () => {
    const out = run(['operator', '--no-leader-election'], { KUBECONFIG: path.join(import.meta.dirname, 'missing-kubeconfig') });
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(/^site-recovery: .*(missing-kubeconfig|AZURE_SUBSCRIPTION_ID)/m);
    expect(out.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);
});
