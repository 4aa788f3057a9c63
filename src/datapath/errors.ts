/**
 * How the datapath names an error: one line for logs, events and status (never a stack or a multi-line
 * SDK dump), and a small fixed set of kinds for the `kind` label of the error metric (fence lost, cache
 * data unusable, Azure by class, other), so dashboards do not explode with free-form text. A blob request
 * refused for a missing role data action names the action (storage-permission.ts).
 */
import { classifyAzureError } from '../azure/errors.ts';
import { missingDataAction } from '../azure/storage-permission.ts';
import { isFenceError } from './fence.ts';
import { CacheDataError } from './manifest.ts';

export function errorMessage(error: unknown): string {
  const missing = missingDataAction(error);
  if (missing) return missing;
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.name;
  return String(error);
}

export function errorKind(error: unknown): string {
  if (isFenceError(error)) return 'fence';
  if (error instanceof CacheDataError) return 'cache';
  const c = classifyAzureError(error);
  if (c.statusCode !== undefined) return `azure-${c.class}`;
  return 'other';
}
