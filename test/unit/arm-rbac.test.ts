// The ARM emulator's RBAC (sandbox/src/arm/rbac.ts): action strings derived from the path and the method,
// wildcard matching of Actions and NotActions, scopes, the principal of a token and ARM's denial.
import { describe, expect, it } from 'vitest';
import { ArmRbac, actionMatches, principalOf, requestAction, roleAllows, scopeCovers } from '../../sandbox/src/arm/rbac.ts';
import { parseArmPath } from '../../sandbox/src/arm/paths.ts';
import { sandboxAccessToken, SANDBOX_PRINCIPALS } from '../../sandbox/src/storage/token.ts';

const SUB = '/subscriptions/s1';
const RG = `${SUB}/resourceGroups/rg1`;
const VM = `${RG}/providers/Microsoft.Compute/virtualMachines/vm1`;
const of = (method: string, path: string) => requestAction(method, parseArmPath(path));

describe('action derivation', () => {
  it.each([
    ['GET', VM, 'Microsoft.Compute/virtualMachines/read', VM],
    ['PUT', VM, 'Microsoft.Compute/virtualMachines/write', VM],
    ['PATCH', VM, 'Microsoft.Compute/virtualMachines/write', VM],
    ['DELETE', VM, 'Microsoft.Compute/virtualMachines/delete', VM],
    ['POST', `${VM}/powerOff`, 'Microsoft.Compute/virtualMachines/powerOff/action', VM],
    ['GET', `${VM}/instanceView`, 'Microsoft.Compute/virtualMachines/instanceView/read', VM],
    ['GET', `${RG}/providers/Microsoft.Compute/virtualMachines`, 'Microsoft.Compute/virtualMachines/read', RG],
    ['POST', `${RG}/providers/Microsoft.Compute/disks/d1/beginGetAccess`, 'Microsoft.Compute/disks/beginGetAccess/action', `${RG}/providers/Microsoft.Compute/disks/d1`],
    [
      'POST',
      `${RG}/providers/Microsoft.Compute/restorePointCollections/c/restorePoints/p/diskRestorePoints/d/beginGetAccess`,
      'Microsoft.Compute/restorePointCollections/restorePoints/diskRestorePoints/beginGetAccess/action',
      `${RG}/providers/Microsoft.Compute/restorePointCollections/c/restorePoints/p/diskRestorePoints/d`,
    ],
    ['PUT', `${RG}/providers/Microsoft.Storage/storageAccounts/a/blobServices/default/containers/c`, 'Microsoft.Storage/storageAccounts/blobServices/containers/write', `${RG}/providers/Microsoft.Storage/storageAccounts/a/blobServices/default/containers/c`],
    ['POST', `${RG}/providers/Microsoft.Storage/storageAccounts/a/listKeys`, 'Microsoft.Storage/storageAccounts/listKeys/action', `${RG}/providers/Microsoft.Storage/storageAccounts/a`],
    ['PUT', RG, 'Microsoft.Resources/subscriptions/resourceGroups/write', RG],
    ['HEAD', RG, 'Microsoft.Resources/subscriptions/resourceGroups/read', RG],
    ['GET', `${SUB}/resourcegroups`, 'Microsoft.Resources/subscriptions/resourceGroups/read', SUB],
    ['GET', `${RG}/resources`, 'Microsoft.Resources/subscriptions/resourceGroups/resources/read', RG],
    ['GET', `${SUB}/providers/Microsoft.Compute/locations/westeurope/operations/op1`, 'Microsoft.Compute/locations/operations/read', SUB],
    ['GET', `${SUB}/providers/Microsoft.Compute/locations/westeurope/usages`, 'Microsoft.Compute/locations/usages/read', SUB],
    ['GET', `${SUB}/providers/Microsoft.Compute/skus`, 'Microsoft.Compute/skus/read', SUB],
  ])('%s %s is %s over %s', (method, path, action, scope) => {
    expect(of(method, path)).toEqual({ action, scope });
  });

  it('has no action for a path ARM does not serve', () => {
    expect(of('GET', '/tenants')).toBeUndefined();
  });
});

describe('matching', () => {
  it('matches * anywhere, case-insensitively, and nothing else', () => {
    expect(actionMatches('*', 'Microsoft.Compute/virtualMachines/read')).toBe(true);
    expect(actionMatches('Microsoft.Compute/*', 'Microsoft.Compute/disks/write')).toBe(true);
    expect(actionMatches('*/read', 'Microsoft.Network/virtualNetworks/read')).toBe(true);
    expect(actionMatches('Microsoft.Compute/*/action', 'Microsoft.Compute/virtualMachines/powerOff/action')).toBe(true);
    expect(actionMatches('microsoft.compute/virtualmachines/READ', 'Microsoft.Compute/virtualMachines/read')).toBe(true);
    expect(actionMatches('Microsoft.Compute/virtualMachines/read', 'Microsoft.Compute/virtualMachines/write')).toBe(false);
    expect(actionMatches('Microsoft.Compute/disks/*', 'Microsoft.Compute/disksX/read')).toBe(false);
    expect(actionMatches('Microsoft.Compute.*', 'MicrosoftXCompute/read')).toBe(false); // `.` is literal
  });

  it('allows Actions minus NotActions of a role', () => {
    const role = { Name: 'r', Actions: ['Microsoft.Compute/*'], NotActions: ['Microsoft.Compute/*/delete'] };
    expect(roleAllows(role, 'Microsoft.Compute/disks/write')).toBe(true);
    expect(roleAllows(role, 'Microsoft.Compute/disks/delete')).toBe(false);
    expect(roleAllows(role, 'Microsoft.Network/virtualNetworks/read')).toBe(false);
  });

  it('applies an assignment to its scope and beneath, on segment boundaries', () => {
    expect(scopeCovers(SUB, VM)).toBe(true);
    expect(scopeCovers(RG.toUpperCase(), VM)).toBe(true);
    expect(scopeCovers(`${SUB}/resourceGroups/rg`, VM)).toBe(false);
    expect(scopeCovers(VM, RG)).toBe(false);
  });
});

describe('enforcement', () => {
  const operator = principalOf(`Bearer ${sandboxAccessToken('operator')}`);

  it('names the caller by the token\'s oid and appid; the sandbox principals are distinct', () => {
    expect(operator).toEqual({ objectId: SANDBOX_PRINCIPALS.operator, clientId: SANDBOX_PRINCIPALS.operator });
    expect(principalOf(`Bearer ${sandboxAccessToken('datapath')}`).objectId).toBe(SANDBOX_PRINCIPALS.datapath);
    expect(principalOf(`Bearer ${sandboxAccessToken()}`).objectId).toBe(SANDBOX_PRINCIPALS.sandbox);
    expect(principalOf('Bearer opaque').objectId).toBe('unknown');
  });

  it("answers ARM's 403 AuthorizationFailed for what no assignment allows; NotActions do not deny what another role grants", () => {
    const rbac = new ArmRbac({
      enabled: true,
      assignments: [
        { principalId: operator.objectId, scope: RG, role: { Name: 'a', Actions: ['Microsoft.Compute/virtualMachines/*'], NotActions: ['Microsoft.Compute/virtualMachines/delete'] } },
        { principalId: operator.objectId, scope: SUB, role: { Name: 'b', Actions: ['*/read'] } },
      ],
    });
    expect(rbac.check(operator, { action: 'Microsoft.Compute/virtualMachines/write', scope: VM })).toBeUndefined();
    expect(rbac.check(operator, { action: 'Microsoft.Network/virtualNetworks/read', scope: `${SUB}/resourceGroups/other` })).toBeUndefined();
    const denied = rbac.check(operator, { action: 'Microsoft.Compute/virtualMachines/delete', scope: VM });
    expect(denied?.status).toBe(403);
    expect(denied?.toBody()).toEqual({
      error: {
        code: 'AuthorizationFailed',
        message: `The client '${operator.clientId}' with object id '${operator.objectId}' does not have authorization to perform action 'Microsoft.Compute/virtualMachines/delete' over scope '${VM}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
      },
    });
    expect(rbac.check({ objectId: 'someone', clientId: 'x' }, { action: 'Microsoft.Compute/virtualMachines/read', scope: VM })?.status).toBe(403);
    expect(rbac.audit()).toEqual({ [operator.objectId]: ['Microsoft.Compute/virtualMachines/write', 'Microsoft.Network/virtualNetworks/read'] });
    expect(rbac.denied().map((d) => d.action)).toEqual(['Microsoft.Compute/virtualMachines/delete', 'Microsoft.Compute/virtualMachines/read']);
  });

  it('only audits when not enforcing', () => {
    const rbac = new ArmRbac();
    expect(rbac.check(operator, { action: 'Microsoft.Compute/disks/delete', scope: VM })).toBeUndefined();
    expect(rbac.audit()[operator.objectId]).toEqual(['Microsoft.Compute/disks/delete']);
  });
});
