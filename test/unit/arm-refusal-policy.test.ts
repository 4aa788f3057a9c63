// A refused list page keeps ARM's AuthorizationFailed message (src/azure/arm-error-body.ts): the SDK's pager
// alone says "Pagination failed with unexpected statusCode 403"; with the policy the error names the action.
import { ComputeManagementClient } from '@azure/arm-compute';
import { createHttpHeaders, RestError, type HttpClient, type PipelineRequest } from '@azure/core-rest-pipeline';
import { describe, expect, it } from 'vitest';
import { armRefusalPolicy, responseOfRefusal } from '../../src/azure/arm-error-body.ts';
import { classifyAzureError, reconcileErrorFor } from '../../src/azure/errors.ts';
import { StaticTokenCredential } from '../../src/azure/credential.ts';

const DENIED = "The client 'c' with object id 'o' does not have authorization to perform action 'Microsoft.Compute/skus/read' over scope '/subscriptions/s1' or the scope is invalid.";

/** An ARM that answers every request with `status` and `body`. */
const answering = (status: number, body: unknown): HttpClient => ({
  async sendRequest(request: PipelineRequest) {
    return { request, status, headers: createHttpHeaders({ 'content-type': 'application/json' }), bodyAsText: JSON.stringify(body) };
  },
});

const compute = (http: HttpClient, withPolicy: boolean) =>
  new ComputeManagementClient(new StaticTokenCredential('t'), 's1', {
    endpoint: 'https://arm.invalid',
    httpClient: http,
    retryOptions: { maxRetries: 0 },
    additionalPolicies: withPolicy ? [{ policy: armRefusalPolicy, position: 'perCall' }] : [],
  });

async function firstError(items: AsyncIterable<unknown>): Promise<unknown> {
  try {
    for await (const _ of items) return undefined;
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('a refused list page', () => {
  const refusal = answering(403, { error: { code: 'AuthorizationFailed', message: DENIED } });

  it("loses ARM's message in the SDK's pager alone", async () => {
    const error = await firstError(compute(refusal, false).resourceSkus.list());
    expect((error as Error).message).toBe('Pagination failed with unexpected statusCode 403');
  });

  it("keeps ARM's code, message and body with the policy: the reconcile error names the action", async () => {
    const error = await firstError(compute(refusal, true).resourceSkus.list());
    expect(error).toBeInstanceOf(RestError);
    expect(error).toMatchObject({ statusCode: 403, code: 'AuthorizationFailed', message: DENIED });
    expect(classifyAzureError(error)).toMatchObject({ class: 'retryable', code: 'AuthorizationFailed', message: DENIED });
    expect(reconcileErrorFor(error, 'checking capacity')).toMatchObject({ reason: 'AuthorizationFailed', message: `checking capacity: AuthorizationFailed: ${DENIED}` });
  });

  it('leaves other answers to the SDK, and gives a status reader its 403 response back', async () => {
    const missing = await firstError(compute(answering(404, { error: { code: 'NotFound', message: 'gone' } }), true).resourceSkus.list());
    expect(missing).toMatchObject({ statusCode: 404, code: 'NotFound' });
    const notArm = await firstError(compute(answering(403, 'denied'), true).resourceSkus.list());
    expect(notArm).toMatchObject({ statusCode: 403 });
    const refused = await firstError(compute(refusal, true).resourceSkus.list());
    expect(responseOfRefusal(refused).status).toBe(403);
    expect(() => responseOfRefusal(missing)).toThrow(missing as Error);
  });
});
