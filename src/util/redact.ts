/**
 * Removes secrets from anything that is about to be logged: SAS signatures, storage account keys,
 * bearer tokens, JWTs, connection strings and fields whose name says they hold a secret.
 */

const REDACTED = '[REDACTED]';

/** Field names whose values are secrets whatever they look like. */
const SECRET_FIELD = /^(authorization|password|passwd|secret|client_?secret|access_?token|refresh_?token|id_?token|token|account_?key|accountkey|key1|key2|primary_?key|secondary_?key|sas|sas_?token|access_?sas|connection_?string|x-ms-copy-source-authorization|cookie|set-cookie)$/i;

const STRING_RULES: Array<[RegExp, string]> = [
  // SAS query parameter signature (sig=...) in URLs or query strings.
  [/([?&;]sig=)[^&\s"';]+/gi, `$1${REDACTED}`],
  // Connection-string secrets.
  [/\b(AccountKey|SharedAccessKey|SharedAccessSignature|Password|ClientSecret)=([^;\s"']+)/gi, `$1=${REDACTED}`],
  // Authorization headers.
  [/\b(Bearer|SharedKey|SharedKeyLite|Basic)\s+[A-Za-z0-9\-._~+/:=]+/g, `$1 ${REDACTED}`],
  // Any JWT (header.payload.signature, base64url).
  [/\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g, REDACTED],
  // PEM private keys.
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g, REDACTED],
  // Bare 512-bit base64 storage account keys (88 characters ending in ==).
  [/(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}==(?![A-Za-z0-9+/=])/g, REDACTED],
];

export function redactString(text: string): string {
  let out = text;
  for (const [pattern, replacement] of STRING_RULES) out = out.replace(pattern, replacement);
  return out;
}

/** Returns a deep copy of `value` with every secret removed. Handles cycles and Error objects. */
export function redact<T>(value: T, seen = new WeakMap<object, unknown>()): T {
  if (typeof value === 'string') return redactString(value) as T;
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return seen.get(value) as T;
  if (Array.isArray(value)) {
    const copy: unknown[] = [];
    seen.set(value, copy);
    for (const item of value) copy.push(redact(item, seen));
    return copy as T;
  }
  if (value instanceof Date || value instanceof URL) return (value instanceof URL ? redactString(value.toString()) : value) as T;
  if (Buffer.isBuffer(value)) return `<${value.length} bytes>` as T;
  const copy: Record<string | symbol, unknown> = {};
  seen.set(value, copy);
  const source = value as Record<string | symbol, unknown>;
  const keys: Array<string | symbol> = [...Object.keys(source), ...Object.getOwnPropertySymbols(source)];
  if (value instanceof Error) keys.push('name', 'message', 'stack');
  for (const key of keys) {
    const field = source[key];
    if (typeof key === 'string' && SECRET_FIELD.test(key) && field !== undefined && field !== null && field !== '') {
      copy[key] = REDACTED;
    } else {
      copy[key] = redact(field, seen);
    }
  }
  return copy as T;
}
