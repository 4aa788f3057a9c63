// Runs the Argo CD health checks of deploy/argocd/health/<group>/<Kind>/health.lua against their test cases
// (health_test.yaml, Argo CD's own format) with gopher-lua, the Lua 5.1 interpreter Argo CD runs them with
// (built from tools/lua by test/support/lua.ts; $LUA overrides it): the object is the global `obj`, the
// script returns { status, message }.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { RESOURCES } from '../../src/api/types.ts';
import { ensureLua, LUA_BUILD_TIMEOUT_MS } from '../support/lua.ts';
import { ARGOCD_HEALTH_DIR, argocdHealthConfigMap, luaLiteral, renderArgocdHealth } from '../support/helm-generate.ts';

let LUA = '';
beforeAll(async () => {
  LUA = await ensureLua();
}, LUA_BUILD_TIMEOUT_MS);

interface HealthTest {
  healthStatus: { status: string; message?: string };
  inputPath: string;
}

const HARNESS = `
local script = assert(loadfile(arg[1]))
local input = assert(loadfile(arg[2]))
obj = input()
local hs = script()
if type(hs) ~= "table" then error("health.lua returned " .. type(hs)) end
io.write(tostring(hs.status), "\\n", tostring(hs.message))
`;

// argoproj/argo-cd's resource_customizations layout: <group>/<Kind>/{health.lua,health_test.yaml,testdata/}.
const dirs = fs
  .readdirSync(ARGOCD_HEALTH_DIR, { withFileTypes: true })
  .filter((g) => g.isDirectory())
  .flatMap((g) => fs.readdirSync(path.join(ARGOCD_HEALTH_DIR, g.name), { withFileTypes: true }).filter((k) => k.isDirectory()).map((k) => `${g.name}/${k.name}`))
  .sort();

describe('Argo CD health checks (Lua 5.1)', () => {
  it('has a health check for every kind of the API, with test cases', () => {
    const expected = Object.keys(RESOURCES).map((kind) => `siterecovery.io/${kind}`).sort();
    expect(dirs).toEqual(expected);
    for (const dir of dirs) {
      expect(fs.existsSync(path.join(ARGOCD_HEALTH_DIR, dir, 'health.lua')), dir).toBe(true);
      expect(fs.existsSync(path.join(ARGOCD_HEALTH_DIR, dir, 'health_test.yaml')), dir).toBe(true);
    }
  });

  it('runs the scripts with a Lua 5.1 interpreter', () => {
    const probe = path.join(tmp, 'version.lua');
    fs.writeFileSync(probe, 'io.write(_VERSION)');
    const out = spawnSync(LUA, [probe], { encoding: 'utf8' });
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe('Lua 5.1');
  });

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'argocd-health-'));
  const harness = path.join(tmp, 'harness.lua');
  fs.writeFileSync(harness, HARNESS);

  /** The { status, message } health.lua of `dir` gives `object`. */
  const runHealth = (dir: string, object: unknown, name: string) => {
    const input = path.join(tmp, `${dir.replace('/', '_')}-${name}.lua`);
    fs.writeFileSync(input, `return ${luaLiteral(object)}\n`);
    const out = spawnSync(LUA, [harness, path.join(ARGOCD_HEALTH_DIR, dir, 'health.lua'), input], { encoding: 'utf8' });
    expect(out.stderr, out.stderr).toBe('');
    expect(out.status).toBe(0);
    const [status, ...message] = out.stdout.split('\n');
    return { status, message: message.join('\n') };
  };

  it('gives a ReplicatedVM the same health message whatever its RPO, newest point or sync progress (no churn in Argo CD)', () => {
    const dir = 'siterecovery.io/ReplicatedVM';
    type Vm = { status: { rpoSeconds?: number; lastRecoveryPoint?: { time: string }; initialSync?: { percent: number }; conditions: { type: string; message?: string }[] } };
    for (const file of ['protected', 'rpo-warning', 'rpo-critical', 'initial-sync']) {
      const object = parse(fs.readFileSync(path.join(ARGOCD_HEALTH_DIR, dir, 'testdata', `${file}.yaml`), 'utf8')) as Vm;
      const later = structuredClone(object);
      later.status.rpoSeconds = (object.status.rpoSeconds ?? 0) + 317;
      later.status.lastRecoveryPoint = { ...object.status.lastRecoveryPoint, time: '2026-11-25T11:45:00Z' };
      later.status.initialSync = { ...object.status.initialSync, percent: 87 };
      for (const c of later.status.conditions) if (c.message) c.message = c.message.replace(/\d{4}-\d\d-\d\dT[\d:]+Z/g, '2026-11-25T11:45:00Z');
      const before = runHealth(dir, object, `${file}-before`);
      expect(runHealth(dir, later, `${file}-later`), file).toEqual(before);
      expect(before.message, file).not.toMatch(/\d+s\b|%|\d{4}-\d\d-\d\d/);
    }
  });

  for (const dir of dirs) {
    const kind = dir.slice('siterecovery.io/'.length);
    const base = path.join(ARGOCD_HEALTH_DIR, dir);
    const tests = (parse(fs.readFileSync(path.join(base, 'health_test.yaml'), 'utf8')) as { tests: HealthTest[] }).tests;
    describe(kind, () => {
      it('covers every status the script can give, from files of its own kind', () => {
        const statuses = new Set(tests.map((t) => t.healthStatus.status));
        expect(statuses.has('Healthy')).toBe(true);
        if (kind !== 'RecoveryPoint') {
          for (const s of ['Progressing', 'Degraded']) expect(statuses.has(s), s).toBe(true);
        }
        for (const t of tests) {
          const object = parse(fs.readFileSync(path.join(base, t.inputPath), 'utf8')) as { kind: string; apiVersion: string };
          expect(object.kind, t.inputPath).toBe(kind);
          expect(object.apiVersion, t.inputPath).toBe('siterecovery.io/v1alpha1');
        }
        const files = fs.readdirSync(path.join(base, 'testdata')).map((f) => `testdata/${f}`).sort();
        expect(files).toEqual(tests.map((t) => t.inputPath).sort());
      });

      it.each(tests.map((t) => [path.basename(t.inputPath, '.yaml'), t] as const))('%s', (_name, t) => {
        const object = parse(fs.readFileSync(path.join(base, t.inputPath), 'utf8')) as unknown;
        expect(runHealth(dir, object, path.basename(t.inputPath, '.yaml'))).toEqual({ status: t.healthStatus.status, message: t.healthStatus.message ?? 'nil' });
      });
    });
  }

  it('uses only Lua 5.1 (no goto, integer division, bit operators or utf8 library)', () => {
    for (const dir of dirs) {
      const code = fs.readFileSync(path.join(ARGOCD_HEALTH_DIR, dir, 'health.lua'), 'utf8').replace(/--.*$/gm, '');
      expect(code, dir).not.toMatch(/\bgoto\b|\/\/|\butf8\.|::\w+::|[^~=<>]=\s*~|<<|>>/);
    }
  });

  it('keeps every health.lua as generated from the one template', () => {
    const generated = renderArgocdHealth();
    expect([...generated.keys()].sort()).toEqual(dirs);
    for (const [dir, script] of generated) {
      const committed = fs.readFileSync(path.join(ARGOCD_HEALTH_DIR, dir, 'health.lua'), 'utf8');
      expect(committed, `${dir}/health.lua is stale: run \`npm run generate:packaging\``).toBe(script);
    }
  });

  it('ships ignoreResourceUpdates filters for every kind in the argocd-cm example (status churn does not refresh Applications)', () => {
    const cm = parse(fs.readFileSync(path.join(ARGOCD_HEALTH_DIR, '..', 'argocd-cm-health.yaml'), 'utf8')) as { data: Record<string, string> };
    expect(cm.data['resource.ignoreResourceUpdatesEnabled']).toBe('true');
    for (const kind of Object.keys(RESOURCES)) {
      expect(cm.data[`resource.customizations.health.siterecovery.io_${kind}`], kind).toBeDefined();
      expect(parse(cm.data[`resource.customizations.ignoreResourceUpdates.siterecovery.io_${kind}`] ?? ''), kind).toEqual({ jsonPointers: ['/status'] });
    }
  });

  it('ships the same scripts in the argocd-cm example', () => {
    const committed = fs.readFileSync(path.join(ARGOCD_HEALTH_DIR, '..', 'argocd-cm-health.yaml'), 'utf8');
    expect(committed, 'deploy/argocd/argocd-cm-health.yaml is stale: run `node test/support/helm-generate.ts`').toBe(argocdHealthConfigMap());
  });
});
