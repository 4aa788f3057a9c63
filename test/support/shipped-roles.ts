// The suites that run under the ARM emulator's (and the storage front's) enforcement of role assignments:
// the operator and the datapath call Azure as their own principals (startFailoverFixture({ principals: true })
// or sandboxPrincipalAzure) holding exactly the shipped roles (deploy/azure-roles/*.json); the sandbox's own
// clients, which the tests' setup and inspection use, stay Owner. Each such file ends with nothingRefused().
import { expect, it } from 'vitest';
import type { AzureConfig } from '../../src/azure/clients.ts';
import { StaticTokenCredential } from '../../src/azure/credential.ts';
import { sandboxRbac } from '../../sandbox/src/azure-roles.ts';
import { SANDBOX_PRINCIPALS, sandboxAccessToken, type SandboxPrincipal } from '../../sandbox/src/storage/token.ts';
import type { DatapathSandbox } from './datapath-sandbox.ts';

/** Enforces the shipped roles of the operator and the datapath at the sandbox's subscription. */
export function enforceShippedRoles(sb: DatapathSandbox): void {
  sb.arm.rbac.configure(sandboxRbac(sb.arm.subscriptionId));
}

/** The sandbox's Azure settings as `principal` (its own token), for code a test runs outside startFailoverFixture. */
export function sandboxPrincipalAzure(sb: DatapathSandbox, principal: SandboxPrincipal): AzureConfig {
  return { ...sb.azure, credential: new StaticTokenCredential(sandboxAccessToken(principal)) };
}

const principalName = (id: string): string => Object.entries(SANDBOX_PRINCIPALS).find(([, v]) => v === id)?.[0] ?? id;

/** The requests refused so far, one line each: `<principal> <action> over <scope>`. */
export function refusals(sb: DatapathSandbox): string[] {
  return sb.arm.rbac.denied().map((d) => `${principalName(d.principalId)} ${d.dataAction ? 'data action ' : ''}${d.action} over ${d.scope}`);
}

/**
 * The file's last test: the operator and the datapath were refused nothing, holding exactly the shipped roles;
 * they called Azure as their own principals, using at least the actions in `uses` (those of their roles the
 * suite is there to prove, beyond azure-roles.test.ts's scenario).
 */
export function nothingRefused(sb: () => DatapathSandbox, uses: { operator?: string[]; datapath?: string[] } = {}): void {
  it('refused the operator and the datapath nothing: they held exactly the shipped roles, enforced', () => {
    const s = sb();
    expect(s.arm.rbac.enabled).toBe(true);
    expect(refusals(s)).toEqual([]);
    const used = s.arm.rbac.audit();
    expect(used[SANDBOX_PRINCIPALS.datapath]?.length ?? 0, 'the datapath called Azure as its own principal').toBeGreaterThan(0);
    for (const who of ['operator', 'datapath'] as const) expect(used[SANDBOX_PRINCIPALS[who]] ?? [], `actions the ${who} used`).toEqual(expect.arrayContaining(uses[who] ?? []));
  });
}
