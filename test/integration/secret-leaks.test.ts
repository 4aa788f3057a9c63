// No secret leaks (issue #16, item 4): a realistic run — protect a VM, a Test failover, its cleanup, with
// the operator and a datapath replica in this process — and everything it writes where people and tools
// read: the operator's and the datapath's logs (as the process's logger formats them), Kubernetes Events,
// the status of every object, the Prometheus metrics (label values included) and the CLI's output. None
// of it may carry a SAS signature, a storage account key, the bearer token, a JWT or a connection string.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import winston from 'winston';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KindName } from '../../src/api/types.ts';
import { CustomResourceClient } from '../../src/kube/custom-resources.ts';
import { registry } from '../../src/runtime/metrics.ts';
import { rootLogger } from '../../src/util/logger.ts';
import { finished, startFailoverFixture, type FailoverFixture } from '../support/failover-fixture.ts';
import { REPO_ROOT } from '../support/helm.ts';
import { waitForObject } from '../support/wait.ts';

const MAIN = path.join(REPO_ROOT, 'src', 'cli', 'main.ts');
const KINDS: KindName[] = ['ReplicationPolicy', 'NetworkMapping', 'ReplicatedVM', 'RecoveryPoint', 'FailoverRequest'];
/** What a secret looks like, whoever wrote it. */
const SECRET_SHAPES: Array<[string, RegExp]> = [
  ['a SAS signature', /[?&;]sig=(?!\[REDACTED\])[^&\s"';]+/i],
  ['a connection string secret', /\b(AccountKey|SharedAccessKey|SharedAccessSignature)=(?!\[REDACTED\])[^;\s"']+/i],
  ['a bearer token', /\bBearer\s+(?!\[REDACTED\])[A-Za-z0-9\-._~+/]{8,}/],
  ['a JWT', /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\./],
  ['a storage account key', /(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}==(?![A-Za-z0-9+/=])/],
];

let fx: FailoverFixture;
let kc: KubeConfig;
const logs: string[] = [];
const capture = new winston.transports.Stream({
  stream: new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString());
      done();
    },
  }),
});

beforeAll(async () => {
  rootLogger.add(capture);
  fx = await startFailoverFixture({ namespacePrefix: 'leaks', rg: 'leaks-src', vmName: 'app', disks: 1, diskBytes: 8 * 1024 * 1024 });
  kc = fx.kc;
  await fx.runInProcess('dp-leaks');
  await fx.protect(1);
}, 300_000);

afterAll(async () => {
  rootLogger.remove(capture);
  await fx?.close();
});

/** Everything the run wrote where people and tools read, by where it was found. */
async function collect(cliOutput: string): Promise<Record<string, string>> {
  const found: Record<string, string> = { logs: logs.join(''), metrics: await registry.metrics(), cli: cliOutput };
  for (const kind of KINDS) found[`${kind} objects`] = JSON.stringify((await new CustomResourceClient(kc, kind).list(fx.ns)).items);
  found.events = JSON.stringify((await kc.makeApiClient(CoreV1Api).listNamespacedEvent({ namespace: fx.ns })).items.map((e) => ({ reason: e.reason, message: e.message })));
  return found;
}

/** The secrets this run actually holds: the bearer token and every storage account's key. */
async function knownSecrets(): Promise<string[]> {
  const accounts = [fx.sb.storage.diskAccount];
  for await (const a of fx.sb.c.storage.storageAccounts.list()) if (a.name) accounts.push(a.name);
  return [fx.sb.token, ...accounts.filter((a) => fx.sb.storage.hasAccount(a)).map((a) => fx.sb.storage.accountKey(a))];
}

function cli(args: string[], kubeconfig: string): string {
  const out = spawnSync(process.execPath, [MAIN, ...args, '-n', fx.ns], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: kubeconfig, LOG_LEVEL: 'debug' }, timeout: 60_000 });
  return `${out.stdout}${out.stderr}`;
}

describe('a protect, Test failover and cleanup', () => {
  it('writes no SAS signature, account key, token or connection string anywhere people or tools read', async () => {
    await fx.failovers.create(fx.ns, { metadata: { name: 'drill' }, spec: { replicatedVMName: 'app', type: 'Test' } });
    const fo = await waitForObject(kc, fx.failovers, { namespace: fx.ns, name: 'drill' }, finished, 'the test failover done', 120_000);
    expect(fo?.status?.phase, JSON.stringify(fo?.status)).toBe('Succeeded');
    await fx.failovers.mergePatch({ namespace: fx.ns, name: 'drill' }, { spec: { cleanup: true } });
    await waitForObject(kc, fx.failovers, { namespace: fx.ns, name: 'drill' }, (o) => o?.status?.phase === 'CleanedUp', 'the test failover cleaned up', 120_000);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leaks-'));
    fs.writeFileSync(path.join(dir, 'config'), kc.exportConfig());
    const cliOutput = ['status', 'points app', 'status app'].map((c) => cli(c.split(' '), path.join(dir, 'config'))).join('\n');
    fs.rmSync(dir, { recursive: true, force: true });

    const found = await collect(cliOutput);
    expect(found.logs?.length, 'the logs were captured').toBeGreaterThan(1000);
    const secrets = await knownSecrets();
    const leaks: string[] = [];
    for (const [where, text] of Object.entries(found)) {
      for (const [what, shape] of SECRET_SHAPES) {
        const m = shape.exec(text);
        if (m) leaks.push(`${where}: ${what}: …${text.slice(Math.max(0, m.index - 80), m.index + 40)}…`);
      }
      for (const secret of secrets) if (text.includes(secret)) leaks.push(`${where}: a secret of this run (${secret.slice(0, 4)}…)`);
    }
    expect(leaks).toEqual([]);
  }, 240_000);
});
