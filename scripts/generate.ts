/**
 * Generates the CRDs (crds/*.yaml) and the TypeScript API types (src/api/types.ts) from the JSON Schema
 * sources in schemas/. `npm run generate` writes them; `generateAll()` returns them without writing so a
 * test can prove the committed files are current.
 */
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compile, type JSONSchema } from 'json-schema-to-typescript';
import YAML from 'yaml';

export const GROUP = 'siterecovery.io';
export const VERSION = 'v1alpha1';
const CATEGORY = 'siterecovery';

type Schema = Record<string, unknown>;

interface KindSource {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  printerColumns: Schema[];
  spec: Schema;
  status?: Schema;
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

function readYaml<T>(path: string): T {
  return YAML.parse(readFileSync(path, 'utf8')) as T;
}

export function loadSources(root = repoRoot): { definitions: Record<string, Schema>; kinds: KindSource[] } {
  const dir = join(root, 'schemas');
  const definitions = readYaml<{ definitions: Record<string, Schema> }>(join(dir, '_definitions.yaml')).definitions;
  const kinds = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') && !f.startsWith('_'))
    .sort()
    .map((f) => readYaml<KindSource>(join(dir, f)));
  return { definitions, kinds };
}

/** Replaces every `$ref: '#/definitions/X'` by the definition, sibling keys winning (e.g. a local description). */
function inlineRefs(node: unknown, definitions: Record<string, Schema>, keepTitles: boolean): unknown {
  if (Array.isArray(node)) return node.map((n) => inlineRefs(n, definitions, keepTitles));
  if (node === null || typeof node !== 'object') return node;
  const source = node as Schema;
  let merged: Schema = source;
  if (typeof source.$ref === 'string') {
    const name = source.$ref.replace('#/definitions/', '');
    const target = definitions[name];
    if (!target) throw new Error(`unknown $ref ${source.$ref}`);
    const { $ref: _ignored, ...siblings } = source;
    merged = { ...(inlineRefs(target, definitions, keepTitles) as Schema), ...siblings };
  }
  const out: Schema = {};
  for (const [key, value] of Object.entries(merged)) {
    if (key === 'title' && !keepTitles) continue;
    out[key] = key === 'properties' ? mapValues(value as Record<string, unknown>, (v) => inlineRefs(v, definitions, keepTitles)) : inlineRefs(value, definitions, keepTitles);
  }
  return out;
}

function mapValues(obj: Record<string, unknown>, fn: (v: unknown) => unknown): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, fn(v)]));
}

/**
 * Refuses sources that would make a poor API: a null value (usually an unquoted comma in a YAML flow
 * mapping) or a field without a description (kubectl explain must teach every field).
 */
export function checkSchema(node: unknown, path: string): void {
  if (node === null) throw new Error(`${path}: null value (unquoted comma in a flow mapping?)`);
  if (Array.isArray(node)) return node.forEach((n, i) => checkSchema(n, `${path}[${i}]`));
  if (typeof node !== 'object') return;
  const schema = node as Schema;
  for (const [key, value] of Object.entries(schema)) checkSchema(value, `${path}.${key}`);
  if (schema.properties) {
    for (const [name, prop] of Object.entries(schema.properties as Record<string, Schema>)) {
      if (name === 'metadata') continue; // must stay bare: the API server owns its schema
      if (typeof prop.description !== 'string' || prop.description.trim() === '') throw new Error(`${path}.properties.${name}: missing description`);
    }
  }
}

/**
 * Deleting a CRD deletes every object of its kind, and so (through the operator's finalizers) what a
 * ReplicatedVM with deletionPolicy Delete holds in Azure. No tool may do that on its own: Helm keeps them on
 * uninstall (it never deletes crds/ either; the annotation covers renders that put them among the
 * templates), and Argo CD neither prunes them nor deletes them with their Application.
 */
export const CRD_ANNOTATIONS = {
  'helm.sh/resource-policy': 'keep',
  'argocd.argoproj.io/sync-options': 'Prune=false,Delete=false',
} as const;

export function crdFor(source: KindSource, definitions: Record<string, Schema>): Schema {
  const properties: Schema = {
    apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
    kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
    metadata: { type: 'object' }, // the API server forbids anything else here
    spec: inlineRefs(source.spec, definitions, false),
  };
  if (source.status) properties.status = inlineRefs(source.status, definitions, false);
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${source.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'site-recovery-operator', 'app.kubernetes.io/part-of': 'site-recovery-operator' },
      annotations: CRD_ANNOTATIONS,
    },
    spec: {
      group: GROUP,
      names: {
        kind: source.kind,
        listKind: `${source.kind}List`,
        plural: source.plural,
        singular: source.singular,
        shortNames: source.shortNames,
        categories: [CATEGORY],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: source.status ? { status: {} } : undefined,
          additionalPrinterColumns: source.printerColumns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: source.description.trim(),
              required: ['spec'],
              properties,
            },
          },
        },
      ],
    },
  };
}

function stripKubernetesExtensions(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(stripKubernetesExtensions);
  if (node === null || typeof node !== 'object') return node;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node as Schema)) {
    if (key.startsWith('x-kubernetes-')) continue;
    out[key] = key === 'properties' ? mapValues(value as Record<string, unknown>, stripKubernetesExtensions) : stripKubernetesExtensions(value);
  }
  return out;
}

export async function typesFor(kinds: KindSource[], definitions: Record<string, Schema>): Promise<string> {
  const all: Record<string, Schema> = { ...definitions };
  for (const k of kinds) {
    all[`${k.kind}Spec`] = { ...k.spec, title: `${k.kind}Spec` };
    if (k.status) all[`${k.kind}Status`] = { ...k.status, title: `${k.kind}Status` };
  }
  const schema = stripKubernetesExtensions({ title: 'SiteRecoveryApiSchemas', type: 'object', additionalProperties: false, definitions: all }) as JSONSchema;
  const body = await compile(schema, 'SiteRecoveryApiSchemas', {
    bannerComment: '',
    additionalProperties: false,
    unreachableDefinitions: true,
    strictIndexSignatures: true,
    ignoreMinAndMaxItems: true,
    style: { singleQuote: true, printWidth: 120 },
  });
  const kindInterfaces = kinds
    .map((k) => {
      const status = k.status ? `\n  status?: ${k.kind}Status;` : '';
      return `/** ${k.description.trim()} */\nexport interface ${k.kind} {\n  apiVersion: typeof API_VERSION;\n  kind: '${k.kind}';\n  metadata: V1ObjectMeta;\n  spec: ${k.kind}Spec;${status}\n}`;
    })
    .join('\n\n');
  const resources = kinds
    .map((k) => `  ${k.kind}: { kind: '${k.kind}', plural: '${k.plural}', singular: '${k.singular}', shortNames: ${JSON.stringify(k.shortNames).replaceAll('"', "'")}, hasStatus: ${Boolean(k.status)} },`)
    .join('\n');
  return [
    '// Generated by `npm run generate` from schemas/*.yaml. Do not edit by hand.',
    "import type { V1ObjectMeta } from '@kubernetes/client-node';",
    '',
    `export const GROUP = '${GROUP}';`,
    `export const VERSION = '${VERSION}';`,
    `export const API_VERSION = '${GROUP}/${VERSION}';`,
    '',
    'export const RESOURCES = {',
    resources,
    '} as const;',
    '',
    'export type KindName = keyof typeof RESOURCES;',
    '',
    kindInterfaces,
    '',
    body.replace(/export interface SiteRecoveryApiSchemas \{\}\n?/, '').trim(),
    '',
  ].join('\n');
}

/** Every generated file, path relative to the repo root → content. */
export async function generateAll(root = repoRoot): Promise<Map<string, string>> {
  const { definitions, kinds } = loadSources(root);
  const files = new Map<string, string>();
  for (const k of kinds) {
    const crd = crdFor(k, definitions);
    checkSchema((crd.spec as { versions: Array<{ schema: unknown }> }).versions[0]?.schema, k.kind);
    const text = YAML.stringify(JSON.parse(JSON.stringify(crd)), { lineWidth: 0 });
    const content = `# Generated by \`npm run generate\` from schemas/${k.kind.toLowerCase()}.yaml. Do not edit by hand.\n${text}`;
    files.set(`crds/${GROUP}_${k.plural}.yaml`, content);
    // The Helm chart ships the same CRDs (helm installs a chart's crds/ directory).
    files.set(`charts/site-recovery-operator/crds/${GROUP}_${k.plural}.yaml`, content);
  }
  files.set('src/api/types.ts', await typesFor(kinds, definitions));
  return files;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = await generateAll();
  for (const [path, content] of files) {
    mkdirSync(dirname(join(repoRoot, path)), { recursive: true });
    writeFileSync(join(repoRoot, path), content);
    console.log(`wrote ${path}`);
  }
}
