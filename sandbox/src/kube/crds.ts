// Installs CustomResourceDefinition manifests (server-side apply, so re-running against the same cluster
// updates them) and waits until every one is Established, i.e. its REST endpoint is served.
import fs from 'node:fs/promises';
import path from 'node:path';
import { ApiextensionsV1Api } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesObject, V1CustomResourceDefinition } from '@kubernetes/client-node';
import type winston from 'winston';
import YAML from 'yaml';
import { kubeRequest, serverSideApply } from './rest.ts';

export const FIELD_MANAGER = 'site-recovery-sandbox';

/** All YAML/JSON documents of the files directly in `dir` (sorted by file name); [] when dir is missing. */
export async function readManifests(dir: string): Promise<{ file: string; object: KubernetesObject }[]> {
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((n) => /\.(ya?ml|json)$/i.test(n)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: { file: string; object: KubernetesObject }[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    for (const doc of YAML.parseAllDocuments(await fs.readFile(file, 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      const object = doc.toJS() as KubernetesObject | null;
      if (object && typeof object === 'object') out.push({ file, object });
    }
  }
  return out;
}

/** Some CRDs of a directory were refused; the others were installed (and are Established). */
export class CrdInstallError extends Error {
  readonly installed: string[];
  readonly failures: { name: string; file: string; message: string }[];
  constructor(failures: { name: string; file: string; message: string }[], installed: string[]) {
    super(
      `${failures.length} CRD(s) not installed:\n` +
        failures.map((f) => `  ${f.name} (${path.basename(f.file)}): ${f.message}`).join('\n'),
    );
    this.name = 'CrdInstallError';
    this.failures = failures;
    this.installed = installed;
  }
}

/** Status.message of a failed API call, else the error's own message. */
export function apiErrorMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      const message = (JSON.parse(body) as { message?: unknown }).message;
      if (typeof message === 'string') return message;
    } catch {
      // not JSON
    }
  }
  return (err as Error).message;
}

/**
 * Applies every CRD manifest of `dir` (other kinds are ignored) and waits until they are Established.
 * Returns the names installed; throws CrdInstallError listing every refused CRD after installing the rest.
 */
export async function installCrds(
  kubeConfig: KubeConfig,
  dir: string,
  opts: { deadline?: number; logger?: winston.Logger } = {},
): Promise<string[]> {
  const manifests = (await readManifests(dir)).filter(
    ({ object }) => object.kind === 'CustomResourceDefinition' && object.apiVersion === 'apiextensions.k8s.io/v1',
  );
  if (manifests.length === 0) return [];
  const installed: string[] = [];
  const failures: { name: string; file: string; message: string }[] = [];
  for (const { file, object } of manifests) {
    const name = object.metadata?.name ?? '?';
    try {
      await serverSideApply(kubeConfig, object, { fieldManager: FIELD_MANAGER });
      installed.push(name);
    } catch (err) {
      failures.push({ name, file, message: apiErrorMessage(err) });
    }
  }
  await waitForCrdsEstablished(kubeConfig, installed, opts.deadline ?? Date.now() + 60_000);
  opts.logger?.debug('CRDs established', { names: installed });
  if (failures.length > 0) throw new CrdInstallError(failures, installed);
  return installed;
}

function condition(crd: V1CustomResourceDefinition, type: string): string | undefined {
  return crd.status?.conditions?.find((c) => c.type === type)?.status;
}

/**
 * Waits until every named CRD is Established and a LIST of its resource succeeds: right after
 * Established the API server may still answer 429 "storage is (re)initializing" while its watch cache
 * fills, and clients other than client-go do not retry that.
 */
export async function waitForCrdsEstablished(kubeConfig: KubeConfig, names: string[], deadline: number): Promise<void> {
  const api = kubeConfig.makeApiClient(ApiextensionsV1Api);
  const pending = new Set(names);
  let last = '';
  while (pending.size > 0) {
    for (const name of [...pending]) {
      const crd = await api.readCustomResourceDefinition({ name });
      if (condition(crd, 'NamesAccepted') === 'False') {
        const msg = crd.status?.conditions?.find((c) => c.type === 'NamesAccepted')?.message;
        throw new Error(`CRD ${name}: names not accepted: ${msg}`);
      }
      if (condition(crd, 'Established') !== 'True') {
        last = `${name}: ${JSON.stringify(crd.status?.conditions ?? [])}`;
        continue;
      }
      const version = crd.spec.versions.find((v) => v.storage)?.name ?? crd.spec.versions[0]?.name;
      try {
        await kubeRequest(kubeConfig, { method: 'GET', path: `/apis/${crd.spec.group}/${version}/${crd.spec.names.plural}?limit=1` });
        pending.delete(name);
      } catch (err) {
        last = `${name}: ${apiErrorMessage(err)}`;
      }
    }
    if (pending.size === 0) break;
    if (Date.now() > deadline) throw new Error(`CRDs not served in time: ${[...pending].join(', ')} (${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
