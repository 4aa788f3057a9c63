import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { shareConnections } from '../../src/kube/shared-connections.ts';

function kubeConfig(ca: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', caData: Buffer.from(ca).toString('base64') }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return config;
}

async function dispatcherOf(config: KubeConfig): Promise<unknown> {
  const context = new RequestContext('https://127.0.0.1:6443/api', HttpMethod.GET);
  await config.applySecurityAuthentication(context);
  expect(context.getHeaders().Authorization).toBe('Bearer t');
  return context.getDispatcher();
}

describe('one connection pool per process (shareConnections)', () => {
  it('the library builds a new connection pool for every request without it', async () => {
    const config = kubeConfig('ca-1');
    expect(await dispatcherOf(config)).not.toBe(await dispatcherOf(config));
  });

  it('hands every request with the same cluster and TLS material the same pool', async () => {
    const config = shareConnections(kubeConfig('ca-1'));
    const first = await dispatcherOf(config);
    expect(first).toBeDefined();
    expect(await dispatcherOf(config)).toBe(first);
    expect(shareConnections(config)).toBe(config); // wrapping twice changes nothing
    expect(await dispatcherOf(config)).toBe(first);
  });

  it('gives changed TLS material (a rotated CA) a pool of its own', async () => {
    const config = shareConnections(kubeConfig('ca-1'));
    const first = await dispatcherOf(config);
    const cluster = config.getCurrentCluster();
    config.clusters = [{ ...(cluster as NonNullable<typeof cluster>), caData: Buffer.from('ca-2').toString('base64') }];
    const rotated = await dispatcherOf(config);
    expect(rotated).toBeDefined();
    expect(rotated).not.toBe(first);
  });
});
