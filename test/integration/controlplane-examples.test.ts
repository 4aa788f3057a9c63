// The project's CRDs (crds/) against its example manifests, on the real API server of the test control
// plane. Picks up files automatically:
//   deploy/examples/*.yaml          every file must apply (server-side apply, into a test namespace)
//   deploy/examples/invalid/*.yaml  first line `# expect: <text>`; one document: applying it must be
//                                   refused with a message containing <text>; two documents: the first
//                                   must be accepted, then applying the second over it must be refused so.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import YAML from 'yaml';
import { DEFAULT_CRD_DIR, REPO_ROOT } from '../../sandbox/src/kube/controlplane.ts';
import { readManifests } from '../../sandbox/src/kube/crds.ts';
import { resourceFor, serverSideApply } from '../../sandbox/src/kube/rest.ts';
import { createTestNamespace, rejection, testKubeConfig } from '../support/kube.ts';

const EXAMPLES_DIR = path.join(REPO_ROOT, 'deploy', 'examples');
const INVALID_DIR = path.join(EXAMPLES_DIR, 'invalid');
const yamlFiles = (dir: string): string[] =>
  fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => /\.ya?ml$/i.test(n)).sort() : [];
const crdFiles = yamlFiles(DEFAULT_CRD_DIR);
const examples = yamlFiles(EXAMPLES_DIR);
const invalidExamples = yamlFiles(INVALID_DIR);

let kc: KubeConfig;

beforeAll(() => {
  kc = testKubeConfig();
});

function documents(text: string, file: string): KubernetesObject[] {
  return YAML.parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    return doc.toJS() as KubernetesObject;
  });
}

/** Server-side apply of the manifest as written; namespaced objects that name no namespace go into `namespace`. */
function apply(object: KubernetesObject, namespace: string): Promise<KubernetesObject> {
  return serverSideApply(kc, object, { fieldManager: 'controlplane-examples-test', namespace });
}

describe.runIf(crdFiles.length > 0)('project CRDs on the real API server', () => {
  it('every CRD in crds/ is accepted and Established', async () => {
    expect(inject('crdInstallError')).toBe('');
    const names = (await readManifests(DEFAULT_CRD_DIR))
      .filter(({ object }) => object.kind === 'CustomResourceDefinition')
      .map(({ object }) => object.metadata!.name!);
    expect([...inject('installedCrds')].sort()).toEqual(names.sort());
  });

  describe.runIf(examples.length > 0)('deploy/examples', () => {
    let ns: string;
    beforeAll(async () => {
      ns = await createTestNamespace(kc, 'examples');
    });

    it.each(examples)('%s applies', async (name) => {
      const file = path.join(EXAMPLES_DIR, name);
      const docs = documents(await fsp.readFile(file, 'utf8'), file);
      expect(docs.length).toBeGreaterThan(0);
      for (const doc of docs) {
        const applied = await apply(doc, ns);
        expect(applied.metadata?.uid).toBeTruthy();
      }
    });
  });

  describe.runIf(invalidExamples.length > 0)('deploy/examples/invalid', () => {
    it.each(invalidExamples)('%s is refused as declared', async (name) => {
      const file = path.join(INVALID_DIR, name);
      const text = await fsp.readFile(file, 'utf8');
      const expected = /^#\s*expect:\s*(.+?)\s*$/m.exec(text)?.[1];
      if (!expected) throw new Error(`${name} declares no "# expect: <message>" line`);
      const docs = documents(text, file);
      if (docs.length < 1 || docs.length > 2) throw new Error(`${name} must hold one or two documents, has ${docs.length}`);
      for (const doc of docs) await resourceFor(kc, doc.apiVersion!, doc.kind!); // served at all?
      const ns = await createTestNamespace(kc, `invalid-${name.replace(/\.ya?ml$/i, '')}`);
      if (docs.length === 2) await apply(docs[0]!, ns); // the original, which must be accepted
      const refused = await rejection(apply(docs.at(-1)!, ns));
      expect(refused.code).toBeGreaterThanOrEqual(400);
      expect(refused.message).toContain(expected);
    });
  });
});
