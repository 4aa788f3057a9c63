/**
 * ARM's refusal, whole, from every call: a 403 answer becomes a RestError carrying ARM's error code and
 * message (and the response, body included) at the pipeline, before the SDK sees it.
 *
 * Why: the @azure/arm-* clients' pagers (static-helpers/pagingHelpers.js, `checkPagingRequest`) turn a page's
 * unexpected status into `createRestError("Pagination failed with unexpected statusCode 403", response)`:
 * the code survives, but ARM's message — the one that names the missing action and the scope ("The client
 * '…' with object id '…' does not have authorization to perform action '…' over scope '…'") — is replaced,
 * and the response loses its body. A list call refused for want of a role action then said nothing of
 * which action. Every other operation throws the same code and message for a 403 (no SDK operation accepts
 * one), so answering it here as a RestError changes only the pagers' message. Placed per call, after the
 * retries (a 403 is not retried).
 *
 * A caller that reads statuses itself (operation polls) gets the response back from the error
 * (`responseOfRefusal`).
 */
import { RestError, type PipelinePolicy, type PipelineResponse } from '@azure/core-rest-pipeline';

/** ARM's error body: `{ error: { code, message } }` (or the code and message at the top). */
function armError(bodyAsText: string | null | undefined): { code?: string; message?: string } | undefined {
  try {
    const body = JSON.parse(bodyAsText ?? '') as { error?: { code?: unknown; message?: unknown }; code?: unknown; message?: unknown };
    const inner = body.error ?? body;
    return typeof inner.code === 'string' ? { code: inner.code, ...(typeof inner.message === 'string' ? { message: inner.message } : {}) } : undefined;
  } catch {
    return undefined;
  }
}

export const armRefusalPolicy: PipelinePolicy = {
  name: 'siteRecoveryArmRefusal',
  async sendRequest(request, next) {
    const response = await next(request);
    if (response.status !== 403) return response;
    const error = armError(response.bodyAsText);
    if (!error) return response;
    throw new RestError(error.message ?? `${error.code} (403)`, { code: error.code, statusCode: 403, request, response });
  },
};

/** The 403 response a refusal carries, for callers that read the status themselves; anything else is thrown again. */
export function responseOfRefusal(error: unknown): PipelineResponse {
  if (error instanceof RestError && error.statusCode === 403 && error.response) return error.response;
  throw error;
}
