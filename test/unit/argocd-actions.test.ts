// Runs the Argo CD resource actions of deploy/argocd/health/<group>/<Kind>/actions/ against their test
// cases (action_test.yaml, Argo CD's own format) as Argo CD runs them: gopher-lua (tools/lua, `lua action`)
// with the package, base and table libraries and Argo CD's safe os library, the object as `obj`. Each
// action's output must also be a valid object of its kind (the CRD's schema).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ensureLua, LUA_BUILD_TIMEOUT_MS } from '../support/lua.ts';
import { ARGOCD_HEALTH_DIR } from '../support/helm-generate.ts';
import { REPO_ROOT } from '../support/helm.ts';

let LUA = '';
beforeAll(async () => {
  LUA = await ensureLua();
}, LUA_BUILD_TIMEOUT_MS);

interface ActionTests {
  discoveryTests: { inputPath: string; result: { name: string; disabled: boolean }[] }[];
  actionTests: { action: string; inputPath: string; expectedOutputPath: string }[];
}

/** The kinds with resource actions, and the actions each must offer. */
const EXPECTED: Record<string, string[]> = { ReplicatedVM: ['sync-now', 'test-failover'], FailoverRequest: ['cleanup'] };

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'argocd-actions-'));

function runAction(script: string, object: unknown): unknown {
  const input = path.join(scratch, `${path.basename(path.dirname(script))}-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(input, JSON.stringify(object));
  const r = spawnSync(LUA, ['action', script, input], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as unknown;
}

/** The CRD schema of a kind, as the API server would validate the object an action returns. */
function validatorFor(kind: string) {
  const files = fs.readdirSync(path.join(REPO_ROOT, 'crds'));
  for (const file of files) {
    type Crd = { spec: { names: { kind: string }; versions: { schema: { openAPIV3Schema: object } }[] } };
    const crd = parse(fs.readFileSync(path.join(REPO_ROOT, 'crds', file), 'utf8')) as Crd;
    if (crd.spec.names.kind === kind) return new Ajv({ strict: false, allErrors: true }).compile(crd.spec.versions[0]!.schema.openAPIV3Schema);
  }
  throw new Error(`no CRD for ${kind}`);
}

/** The time an action wrote, replaced by the placeholders the expected outputs use. */
function withPlaceholders(value: unknown): unknown {
  const text = JSON.stringify(value)
    .replace(/"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"/g, (m) => (Math.abs(Date.parse(JSON.parse(m) as string) - Date.now()) < 60_000 ? '"TIMESTAMP"' : m))
    .replace(/-drill-(\d{14})"/g, '-drill-DRILLTIME"');
  return JSON.parse(text) as unknown;
}

for (const [kind, actions] of Object.entries(EXPECTED)) {
  const dir = path.join(ARGOCD_HEALTH_DIR, 'siterecovery.io', kind, 'actions');
  const tests = parse(fs.readFileSync(path.join(dir, 'action_test.yaml'), 'utf8')) as ActionTests;
  const read = (file: string) => parse(fs.readFileSync(path.join(dir, file), 'utf8')) as unknown;

  describe(`Argo CD actions of ${kind}`, () => {
    it('has a discovery script and one directory per action, each tested', () => {
      const dirs = fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== 'testdata').map((d) => d.name).sort();
      expect(dirs).toEqual(actions);
      expect(new Set(tests.actionTests.map((t) => t.action))).toEqual(new Set(actions));
      const used = new Set([...tests.discoveryTests.map((t) => t.inputPath), ...tests.actionTests.flatMap((t) => [t.inputPath, t.expectedOutputPath])]);
      expect(fs.readdirSync(path.join(dir, 'testdata')).map((f) => `testdata/${f}`).sort()).toEqual([...used].sort());
    });

    it.each(tests.discoveryTests.map((t) => [t.inputPath, t] as const))('discovery: %s', (_name, t) => {
      const found = runAction(path.join(dir, 'discovery.lua'), read(t.inputPath)) as Record<string, { disabled?: boolean }>;
      const result = Object.entries(found).map(([name, a]) => ({ name, disabled: a.disabled ?? false })).sort((x, y) => x.name.localeCompare(y.name));
      expect(result).toEqual([...t.result].sort((x, y) => x.name.localeCompare(y.name)));
    });

    it.each(tests.actionTests.map((t) => [`${t.action} on ${t.inputPath}`, t] as const))('%s', (_name, t) => {
      const output = runAction(path.join(dir, t.action, 'action.lua'), read(t.inputPath));
      expect(withPlaceholders(output)).toEqual(read(t.expectedOutputPath));
      // An old-style action returns the patched object; a new-style one a list of operations.
      const objects = Array.isArray(output) ? (output as { operation: string; resource: { kind: string } }[]) : [{ operation: 'patch', resource: output as { kind: string } }];
      for (const { operation, resource } of objects) {
        expect(['patch', 'create']).toContain(operation);
        const validate = validatorFor(resource.kind);
        expect(validate(resource), JSON.stringify(validate.errors)).toBe(true);
      }
    });
  });
}
