/**
 * Classifies Azure errors the way a reconciler must act on them:
 * - retryable: throttling (429), server errors (5xx), timeouts, dropped connections, conflicts with an
 *   operation in progress; back off and try again;
 * - notFound: 404; the caller decides whether that is fine (delete) or fatal (source VM gone);
 * - fatal: the request itself is wrong (400, 403, most 409s about the user's input); surface as a
 *   condition and wait for the user to change something;
 * - except a 403 AuthorizationFailed (the identity lacks a role action at the scope): retryable, since a
 *   new role assignment takes minutes to reach ARM (Azure Service Operator v2 classifies it the same way);
 *   its reason is AuthorizationFailed, naming the action and scope, until the role is granted;
 * - unknown: anything else, shown as is and retried with backoff.
 */
import { RestError } from '@azure/core-rest-pipeline';
import { RetryableError, TerminalError } from '../runtime/reconcile-errors.ts';

type AzureErrorClass = 'retryable' | 'notFound' | 'fatal' | 'unknown';

export interface ClassifiedError {
  class: AzureErrorClass;
  statusCode?: number;
  code?: string;
  message: string;
}

const RETRYABLE_CODES = new Set([
  'OperationNotAllowed', 'AnotherOperationInProgress', 'RetryableError', 'Conflict', 'ResourceGroupBeingDeleted',
  'StorageAccountOperationInProgress', 'InternalServerError', 'ServiceUnavailable', 'TooManyRequests',
]);
/** ARM's answers when a role assignment is missing (or not there yet): https://github.com/Azure/Azure-Landing-Zones/issues/3668. */
const AUTHORIZATION_CODES = new Set(['AuthorizationFailed', 'LinkedAuthorizationFailed']);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'REQUEST_SEND_ERROR', 'UND_ERR_SOCKET']);

export function classifyAzureError(error: unknown): ClassifiedError {
  if (error instanceof RestError || (error && typeof error === 'object' && 'statusCode' in error)) {
    const e = error as RestError;
    const code = armErrorCode(e) ?? e.code;
    const message = armErrorMessage(e) ?? e.message;
    const status = e.statusCode;
    if (status === undefined) {
      return { class: code && NETWORK_CODES.has(code) ? 'retryable' : 'unknown', code, message };
    }
    if (status === 404) return { class: 'notFound', statusCode: status, code, message };
    if (status === 429 || status === 408 || status >= 500) return { class: 'retryable', statusCode: status, code, message };
    if (status === 409) return { class: code && RETRYABLE_CODES.has(code) ? 'retryable' : 'fatal', statusCode: status, code, message };
    if (status === 403 && code && AUTHORIZATION_CODES.has(code)) return { class: 'retryable', statusCode: status, code, message };
    if (status === 400 || status === 403 || status === 401) return { class: 'fatal', statusCode: status, code, message };
    return { class: 'unknown', statusCode: status, code, message };
  }
  if (error instanceof Error) {
    const code = (error as { code?: string }).code;
    if (error.name === 'AbortError' || error.name === 'TimeoutError' || (code && NETWORK_CODES.has(code))) {
      return { class: 'retryable', code: code ?? error.name, message: error.message };
    }
    return { class: 'unknown', code, message: error.message };
  }
  return { class: 'unknown', message: String(error) };
}

export function isAzureNotFound(error: unknown): boolean {
  return classifyAzureError(error).class === 'notFound';
}

/**
 * Nobody answered: no HTTP status (timeout, deadline, reset, refused), a 5xx or a 408 — what a region
 * that is down looks like, as opposed to a region that answers no (404, 403, 400, 409, 429).
 */
export function isUnanswered(error: unknown): boolean {
  const c = classifyAzureError(error);
  if (c.class !== 'retryable') return false;
  return c.statusCode === undefined || c.statusCode >= 500 || c.statusCode === 408;
}

function armError(e: RestError): { code?: string; message?: string } | undefined {
  const body = e.details ?? (e.response?.bodyAsText ? safeJson(e.response.bodyAsText) : undefined);
  if (body && typeof body === 'object') {
    const inner = (body as { error?: { code?: string; message?: string } }).error ?? (body as { code?: string; message?: string });
    return inner;
  }
  return undefined;
}

function armErrorCode(e: RestError): string | undefined {
  return armError(e)?.code;
}

function armErrorMessage(e: RestError): string | undefined {
  return armError(e)?.message;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * What an Azure error means for a reconcile (after Azure Service Operator v2: classified by code first,
 * then by HTTP status): a request Azure refuses as wrong stops retries until the user changes something
 * (TerminalError, reason AzureRequestRejected); anything else is shown while the controller backs off.
 */
export function reconcileErrorFor(error: unknown, action: string): TerminalError | RetryableError {
  if (error instanceof TerminalError || error instanceof RetryableError) return error;
  const c = classifyAzureError(error);
  const detail = `${action}: ${c.code ? `${c.code}: ` : ''}${c.message}`;
  if (c.class === 'fatal') return new TerminalError('AzureRequestRejected', detail, { cause: error });
  if (c.code && AUTHORIZATION_CODES.has(c.code)) return new RetryableError('AuthorizationFailed', detail, { cause: error });
  return new RetryableError(c.class === 'retryable' ? 'AzureRetrying' : 'AzureError', detail, { cause: error });
}
