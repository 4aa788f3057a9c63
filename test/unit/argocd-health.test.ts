// Runs the Argo CD health checks of deploy/argocd/health/<group>/<Kind>/health.lua against their test cases
// (health_test.yaml, Argo CD's own format) as Argo CD runs a health check from argocd-cm: with gopher-lua
// (built from tools/lua by test/support/lua.ts), only the package, base and table libraries, the object as
// the global `obj`, a 1 s deadline; the script returns { status, message }.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { RESOURCES } from '../../src/api/types.ts';
import { ensureLua, LUA_BUILD_TIMEOUT_MS } from '../support/lua.ts';
import { ARGOCD_HEALTH_DIR, argocdHealthConfigMap, renderArgocdHealth } from '../support/helm-generate.ts';

let LUA = '';
beforeAll(async () => {
  LUA = await ensureLua();
}, LUA_BUILD_TIMEOUT_MS);

interface HealthTest {
  healthStatus: { status: string; message?: string };
  inputPath: string;
}


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

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'argocd-health-'));

  /** Runs a health script on `object` as Argo CD does; what it returned, or its error. */
  const runScript = (script: string, object: unknown, name: string) => {
    const input = path.join(tmp, `${name}.json`);
    fs.writeFileSync(input, JSON.stringify(object));
    return spawnSync(LUA, ['health', script, input], { encoding: 'utf8' });
  };

  /** The { status, message } health.lua of `dir` gives `object` (message 'nil' when it sets none). */
  const runHealth = (dir: string, object: unknown, name: string) => {
    const out = runScript(path.join(ARGOCD_HEALTH_DIR, dir, 'health.lua'), object, `${dir.replace('/', '_')}-${name}`);
    expect(out.stderr, out.stderr).toBe('');
    expect(out.status).toBe(0);
    const result = JSON.parse(out.stdout) as { status: string | null; message: string | null };
    return { status: result.status, message: result.message ?? 'nil' };
  };

  it('runs them with only the libraries Argo CD opens for argocd-cm scripts (no string, math or io)', () => {
    const probe = path.join(tmp, 'probe.lua');
    fs.writeFileSync(probe, 'return { status = "Healthy", message = _VERSION .. " " .. type(table.insert) .. " " .. type(string) .. " " .. type(io) }');
    const ok = runScript(probe, {}, 'probe');
    expect(ok.stderr).toBe('');
    expect(JSON.parse(ok.stdout)).toEqual({ status: 'Healthy', message: 'Lua 5.1 function nil nil' });
    fs.writeFileSync(probe, 'return { status = string.format("%s", "Healthy") }');
    const refused = runScript(probe, {}, 'probe-string');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/string/);
  });

  it('gives a ReplicatedVM the same health message whatever its RPO, newest point or sync progress (no churn in Argo CD)', () => {
    const dir = 'siterecovery.io/ReplicatedVM';
    type Vm = { status: { lastRecoveryPoint?: { time: string }; initialSync?: { percent: number }; conditions: { type: string; message?: string }[] } };
    for (const file of ['protected', 'rpo-warning', 'rpo-critical', 'initial-sync']) {
      const object = parse(fs.readFileSync(path.join(ARGOCD_HEALTH_DIR, dir, 'testdata', `${file}.yaml`), 'utf8')) as Vm;
      const later = structuredClone(object);
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
