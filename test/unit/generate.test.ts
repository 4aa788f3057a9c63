import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { generateAll } from '../../scripts/generate.ts';

const root = join(import.meta.dirname, '..', '..');

describe('npm run generate', () => {
  it('left the committed CRDs and types current (run `npm run generate` if this fails)', async () => {
    const files = await generateAll(root);
    expect(files.size).toBeGreaterThanOrEqual(6);
    for (const [path, content] of files) {
      const onDisk = existsSync(join(root, path)) ? readFileSync(join(root, path), 'utf8') : '<missing>';
      expect(onDisk, `${path} is stale`).toBe(content);
    }
  });

  it('produces structural apiextensions/v1 schemas: every node typed, no $ref, descriptions everywhere', async () => {
    const files = await generateAll(root);
    const crds = [...files].filter(([p]) => p.startsWith('crds/')).map(([, c]) => YAML.parse(c));
    expect(crds.map((c) => c.spec.names.kind).sort()).toEqual(['DrillSchedule', 'FailoverRequest', 'NetworkMapping', 'RecoveryPlan', 'RecoveryPoint', 'ReplicatedVM', 'ReplicationPolicy']);
    const visit = (node: Record<string, unknown>, path: string): void => {
      expect(node.$ref, path).toBeUndefined();
      expect(typeof node.type, `${path} has no type`).toBe('string');
      for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, Record<string, unknown>>)) {
        if (name === 'metadata') continue;
        expect(child.description, `${path}.${name} has no description`).toBeTruthy();
        visit(child, `${path}.${name}`);
      }
      if (node.items) visit(node.items as Record<string, unknown>, `${path}[]`);
    };
    for (const crd of crds) {
      expect(crd.apiVersion).toBe('apiextensions.k8s.io/v1');
      expect(crd.spec.names.categories).toEqual(['siterecovery']);
      expect(crd.spec.names.shortNames.length).toBeGreaterThan(0);
      const version = crd.spec.versions[0];
      expect(version.subresources).toEqual({ status: {} });
      expect(version.additionalPrinterColumns.some((c: { name: string }) => c.name === 'Age')).toBe(true);
      visit(version.schema.openAPIV3Schema, crd.spec.names.kind);
    }
  });
});
