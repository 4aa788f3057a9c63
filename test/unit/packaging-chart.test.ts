// Packaging checks that need neither helm nor a cluster: the chart's CRDs are the generated ones, its
// values schema accepts the shipped values and refuses typos, the Dockerfile keeps its promises, and the
// Argo CD examples are well-formed.
import fs from 'node:fs';
import path from 'node:path';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../support/helm.ts';
import { dockerignoreFilter, parseDockerfile, splitWords } from '../support/packaging-dockerfile.ts';

const CHART = path.join(REPO_ROOT, 'charts/site-recovery-operator');
const read = (...p: string[]) => fs.readFileSync(path.join(REPO_ROOT, ...p), 'utf8');
const yamlFiles = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

describe('Helm chart files', () => {
  it('ships exactly the CRDs generated in crds/ (run `cp crds/*.yaml charts/site-recovery-operator/crds/` after `npm run generate`)', () => {
    const generated = yamlFiles(path.join(REPO_ROOT, 'crds'));
    expect(yamlFiles(path.join(CHART, 'crds'))).toEqual(generated);
    for (const file of generated) {
      expect(read('charts/site-recovery-operator/crds', file), `charts/site-recovery-operator/crds/${file} differs from crds/${file}`).toBe(read('crds', file));
    }
    // The Kustomization beside them (deploy/kustomize/base uses it) lists every one.
    const kustomization = parse(read('charts/site-recovery-operator/crds/Kustomization')) as { resources: string[] };
    expect([...kustomization.resources].sort()).toEqual(generated);
    expect(read('charts/site-recovery-operator/.helmignore')).toMatch(/^crds\/Kustomization$/m);
  });

  it('marks every CRD to survive helm uninstall and Argo CD pruning or application deletion', () => {
    for (const file of yamlFiles(path.join(CHART, 'crds'))) {
      const crd = parse(read('charts/site-recovery-operator/crds', file)) as { metadata: { annotations?: Record<string, string> } };
      expect(crd.metadata.annotations, file).toMatchObject({ 'helm.sh/resource-policy': 'keep', 'argocd.argoproj.io/sync-options': 'Prune=false,Delete=false' });
    }
  });

  it('retains replica data by default: ReplicatedVM.spec.deletionPolicy defaults to Retain', () => {
    type Crd = { spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: { properties: Record<string, { default?: unknown; description: string }> } } } } }[] } };
    const crd = parse(read('charts/site-recovery-operator/crds/siterecovery.io_replicatedvms.yaml')) as Crd;
    const policy = crd.spec.versions[0]?.schema.openAPIV3Schema.properties.spec.properties.deletionPolicy;
    expect(policy?.default).toBe('Retain');
    expect(policy?.description).toMatch(/Retain \(default\)/);
  });

  it('versions the chart with the application', () => {
    const chart = parse(read('charts/site-recovery-operator/Chart.yaml')) as { apiVersion: string; appVersion: string; version: string; name: string };
    const pkg = JSON.parse(read('package.json')) as { version: string };
    expect(chart).toMatchObject({ apiVersion: 'v2', name: 'site-recovery-operator', appVersion: pkg.version });
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  describe('values.schema.json', () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    const validate = ajv.compile(JSON.parse(read('charts/site-recovery-operator/values.schema.json')) as object);
    const defaults = parse(read('charts/site-recovery-operator/values.yaml')) as Record<string, unknown>;
    const merge = (base: unknown, over: unknown): unknown => {
      if (over === undefined) return base;
      if (base && over && typeof base === 'object' && typeof over === 'object' && !Array.isArray(base) && !Array.isArray(over)) {
        const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
        for (const [k, v] of Object.entries(over as Record<string, unknown>)) out[k] = merge(out[k], v);
        return out;
      }
      return over;
    };

    it('accepts values.yaml and every ci/*.yaml merged over it', () => {
      expect(validate(defaults), JSON.stringify(validate.errors)).toBe(true);
      for (const file of yamlFiles(path.join(CHART, 'ci'))) {
        const values = merge(defaults, parse(read('charts/site-recovery-operator/ci', file)));
        expect(validate(values), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true);
      }
    });

    it('refuses unknown keys and wrong types', () => {
      for (const bad of [{ replicas: 2 }, { operator: { replica: 2 } }, { datapath: { keda: { prometheus: { threshold: 5 } } } }, { metrics: { port: 80 } }, { networkPolicy: { egressPorts: ['https'] } }]) {
        expect(validate(merge(defaults, bad)), JSON.stringify(bad)).toBe(false);
      }
    });

    it('accepts what a parent chart passes to it as a dependency (global values, its condition key)', () => {
      const asDependency = merge(defaults, { global: { imageRegistry: 'registry.example.com', labels: { team: 'platform' } }, enabled: true });
      expect(validate(asDependency), JSON.stringify(validate.errors)).toBe(true);
    });

    it('documents every value in values.yaml (a comment above each top-level section)', () => {
      const text = read('charts/site-recovery-operator/values.yaml');
      for (const key of Object.keys(defaults)) {
        const index = text.split('\n').findIndex((l) => l.startsWith(`${key}:`));
        expect(index, key).toBeGreaterThan(0);
      }
    });
  });
});

describe('Dockerfile', () => {
  const dockerfile = parseDockerfile(read('Dockerfile'));
  const final = dockerfile.stages[dockerfile.stages.length - 1];
  if (!final) throw new Error('no stages');
  const ops = (op: string) => final.instructions.filter((i) => i.op === op);

  it('builds on Node 24 in every stage, multi-stage', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of dockerfile.stages) expect(stage.base.replace('${NODE_IMAGE}', dockerfile.globalArgs.NODE_IMAGE ?? '')).toMatch(/^node:24[-.]/);
  });

  it('installs production dependencies only, without install scripts, in the stage the image copies node_modules from', () => {
    const from = ops('COPY').find((c) => c.args.includes('node_modules'))?.flags.from?.[0];
    const deps = dockerfile.stages.find((s) => s.name === from);
    const install = deps?.instructions.find((i) => i.op === 'RUN' && i.args.includes('npm ci'));
    expect(install?.args).toMatch(/--omit=dev/);
    expect(install?.args).toMatch(/--ignore-scripts/);
    // The sandbox workspace (a development tool) is ignored: no link to it, none of its dependencies.
    expect(install?.args).toMatch(/--workspaces=false/);
    expect(deps?.instructions.some((i) => i.op === 'COPY' && /package-lock\.json/.test(i.args))).toBe(true);
  });

  it('runs as a non-root numeric user with `node /app/bin/site-recovery.js`, HOME on /tmp', () => {
    expect(ops('USER').at(-1)?.args).toBe('65532:65532');
    expect(JSON.parse(ops('ENTRYPOINT').at(-1)?.args ?? '[]')).toEqual(['node', '/app/bin/site-recovery.js']);
    expect(ops('ENV').map((e) => e.args).join(' ')).toMatch(/HOME=\/tmp/);
    expect(ops('RUN')).toEqual([]); // nothing runs in the final stage: it is only copies
  });

  it('sends only what the build needs to the builder (.dockerignore)', () => {
    const included = dockerignoreFilter(read('.dockerignore').split('\n'));
    for (const p of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'bin/site-recovery.js', 'src/cli/main.ts']) expect(included(p), p).toBe(true);
    for (const p of ['node_modules/typescript/package.json', '.git/config', 'test/unit/x.test.ts', 'dist/cli/main.js', '.sandbox/env', 'charts/site-recovery-operator/Chart.yaml', 'src/x.test.ts', 'README.md', 'sandbox/package.json', 'sandbox/src/index.ts']) {
      expect(included(p), p).toBe(false);
    }
  });

  it('parses what the staging proof relies on (continuations, flags, quotes)', () => {
    const parsed = parseDockerfile('ARG A=1\nFROM node:24 AS b\n# c\nRUN --mount=type=cache,target=/root/.npm \\\n    npm ci \\\n    --omit=dev\nENV X="a b" Y=2\nCOPY --from=b /x ./y\n');
    const [run, env, copy] = parsed.stages[0]?.instructions ?? [];
    expect(parsed.globalArgs).toEqual({ A: '1' });
    expect(run).toMatchObject({ op: 'RUN', args: 'npm ci --omit=dev', flags: { mount: ['type=cache,target=/root/.npm'] } });
    expect(splitWords(env?.args ?? '')).toEqual(['X=a b', 'Y=2']);
    expect(copy).toMatchObject({ op: 'COPY', args: '/x ./y', flags: { from: ['b'] } });
    const ignore = dockerignoreFilter(['*', '!src/', '**/*.test.ts', '!keep.test.ts']);
    expect([ignore('src/a.ts'), ignore('src/a.test.ts'), ignore('keep.test.ts'), ignore('other')]).toEqual([true, false, true, false]);
  });
});

describe('Argo CD examples', () => {
  const dir = path.join(REPO_ROOT, 'deploy/argocd');
  const docs = (file: string) => parseAllDocuments(fs.readFileSync(file, 'utf8')).map((d) => d.toJS() as { kind: string; apiVersion: string; metadata: { name: string; annotations?: Record<string, string> }; spec: Record<string, unknown> });

  it('installs the chart (wave 0) before the ApplicationSet of DR objects (wave 1)', () => {
    const [operator] = docs(path.join(dir, 'apps/site-recovery-operator.yaml'));
    const [appset] = docs(path.join(dir, 'apps/dr-applicationset.yaml'));
    expect(operator).toMatchObject({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', spec: { source: { path: 'charts/site-recovery-operator' } } });
    expect(appset).toMatchObject({ apiVersion: 'argoproj.io/v1alpha1', kind: 'ApplicationSet' });
    expect(Number(operator?.metadata.annotations?.['argocd.argoproj.io/sync-wave'])).toBeLessThan(Number(appset?.metadata.annotations?.['argocd.argoproj.io/sync-wave']));
    const root = docs(path.join(dir, 'root-application.yaml'))[0];
    expect(root?.spec).toMatchObject({ source: { path: 'deploy/argocd/apps' } });
  });

  it('never cascades a deletion: no resources finalizer on the Applications, the ApplicationSet preserves resources', () => {
    type App = { metadata: { finalizers?: string[] }; spec: { syncPolicy?: { preserveResourcesOnDeletion?: boolean }; template?: { metadata: { finalizers?: string[] } } } };
    for (const file of ['root-application.yaml', 'apps/site-recovery-operator.yaml', 'apps/dr-applicationset.yaml']) {
      for (const d of docs(path.join(dir, file)) as unknown as App[]) {
        expect(d.metadata.finalizers ?? [], file).not.toContain('resources-finalizer.argocd.argoproj.io');
        expect(d.spec.template?.metadata.finalizers ?? [], file).toEqual([]);
      }
    }
    const [appset] = docs(path.join(dir, 'apps/dr-applicationset.yaml')) as unknown as App[];
    expect(appset?.spec.syncPolicy?.preserveResourcesOnDeletion).toBe(true);
  });

  it('orders the DR objects: policies and mappings, then ReplicatedVMs', () => {
    const waves = new Map<string, number[]>();
    const repo = path.join(dir, 'example-dr-repo/dr/payments');
    for (const file of yamlFiles(repo)) {
      for (const d of docs(path.join(repo, file))) {
        expect(d.apiVersion).toBe('siterecovery.io/v1alpha1');
        waves.set(d.kind, [...(waves.get(d.kind) ?? []), Number(d.metadata.annotations?.['argocd.argoproj.io/sync-wave'])]);
      }
    }
    const max = (k: string) => Math.max(...(waves.get(k) ?? [NaN]));
    const min = (k: string) => Math.min(...(waves.get(k) ?? [NaN]));
    expect(min('ReplicatedVM')).toBeGreaterThan(max('ReplicationPolicy'));
    expect(min('ReplicatedVM')).toBeGreaterThan(max('NetworkMapping'));
    expect(max('ReplicationPolicy')).toBeGreaterThan(0); // after the CRDs (wave 0)
  });
});
