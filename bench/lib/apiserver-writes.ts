// Writes the API server served, from its own metrics (`apiserver_request_total`, by verb and resource):
// every create, update, patch, server-side apply and delete, whoever sent it. Read with the admin
// kubeconfig of the benchmark's control plane.
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE', 'DELETECOLLECTION']);

/** Writes served so far, by resource (`replicatedvms/status`, `events`, …). */
export async function apiServerWrites(kc: KubeConfig): Promise<Record<string, number>> {
  const options: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const url = new URL('/metrics', kc.getCurrentCluster()?.server);
  const text = await new Promise<string>((resolve, reject) => {
    https
      .get(url, options, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET /metrics: ${res.statusCode}`))));
      })
      .on('error', reject);
  });
  const counts: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!WRITE_VERBS.has(labels.verb ?? '')) continue;
    const key = labels.subresource ? `${labels.resource}/${labels.subresource}` : (labels.resource ?? '');
    counts[key] = (counts[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return counts;
}

/** `after` − `before`, per resource, leaving out resources with no new writes. */
export function writesBetween(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, n]) => [k, n - (before[k] ?? 0)]).filter(([, n]) => (n as number) > 0));
}
