// Membership of datapath replicas through Leases on the real control plane: join, see each other, a
// replica that stops renewing drops out after the lease duration, a replica leaving drops out at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeConfig } from '@kubernetes/client-node';
import { Membership, memberLeaseName } from '../../src/datapath/membership.ts';
import { ownerOf } from '../../src/datapath/rendezvous.ts';
import { createTestNamespace, testKubeConfig } from '../support/kube.ts';

let kc: KubeConfig;
let ns: string;
beforeAll(async () => {
  kc = testKubeConfig();
  ns = await createTestNamespace(kc, 'dp-members');
});
afterAll(() => undefined);

describe('datapath membership', () => {
  it('replicas see each other, a silent one drops out after the lease duration, a leaving one at once', async () => {
    const make = (identity: string) => new Membership(kc, { namespace: ns, identity, leaseDurationMs: 1500 });
    const [a, b, c] = [make('replica-a'), make('replica-b'), make('replica-c')];
    for (const m of [a, b, c]) await m.renew();
    expect(await a.observe()).toEqual(['replica-a', 'replica-b', 'replica-c']);
    expect(memberLeaseName('Replica_A.x')).toMatch(/^site-recovery-datapath-replica-a-x-[0-9a-f]{8}$/);

    // b stops renewing: a keeps seeing it until its record has not changed for the lease duration.
    const until = Date.now() + 2500;
    let members = await a.observe();
    while (members.includes('replica-b') && Date.now() < until) {
      await a.renew();
      await c.renew();
      await new Promise((r) => setTimeout(r, 300)); // renew period
      members = await a.observe();
    }
    expect(members).toEqual(['replica-a', 'replica-c']);
    expect(a.isLive('replica-b')).toBe(false);

    await c.leave();
    expect(await a.observe()).toEqual(['replica-a']);
    expect(ownerOf('vm-uid', await a.observe())).toBe('replica-a');
  });
});
