// A missing role assignment (ARM's 403 AuthorizationFailed) is retried with backoff, not a terminal error:
// a new assignment takes minutes to reach ARM. The condition's reason says so and its message names the
// action and scope ARM refused. Other 403s stay terminal.
import { RestError } from '@azure/core-rest-pipeline';
import { describe, expect, it } from 'vitest';
import { classifyAzureError, reconcileErrorFor } from '../../src/azure/errors.ts';
import { RetryableError, TerminalError } from '../../src/runtime/reconcile-errors.ts';

/** ARM's body for a missing role action (https://github.com/Azure/Azure-Landing-Zones/issues/3668). */
const armError = (code: string, message: string) =>
  new RestError(message, { statusCode: 403, code, response: { status: 403, headers: { get: () => undefined } as never, request: {} as never, bodyAsText: JSON.stringify({ error: { code, message } }) } });

describe('AuthorizationFailed', () => {
  const message = "The client 'c' with object id 'o' does not have authorization to perform action 'Microsoft.Compute/virtualMachines/read' over scope '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm' or the scope is invalid. If access was recently granted, please refresh your credentials.";

  it('is retryable, with reason AuthorizationFailed and ARM\'s message naming the action and scope', () => {
    expect(classifyAzureError(armError('AuthorizationFailed', message))).toMatchObject({ class: 'retryable', statusCode: 403, code: 'AuthorizationFailed' });
    const error = reconcileErrorFor(armError('AuthorizationFailed', message), 'reading the source VM');
    expect(error).toBeInstanceOf(RetryableError);
    expect(error.reason).toBe('AuthorizationFailed');
    expect(error.message).toContain("perform action 'Microsoft.Compute/virtualMachines/read'");
    expect(reconcileErrorFor(armError('LinkedAuthorizationFailed', 'linked'), 'x')).toBeInstanceOf(RetryableError);
  });

  it('leaves other 403s terminal', () => {
    expect(reconcileErrorFor(armError('RequestDisallowedByPolicy', 'policy'), 'creating the group')).toBeInstanceOf(TerminalError);
  });
});
