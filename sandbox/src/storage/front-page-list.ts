// The answer of the storage front to Get Page Ranges diff: the changed pages still allocated in the target
// are PageRanges, the others ClearRanges, in order of offset; `marker` and `maxresults` page the list
// (NextMarker) as Azure does; the headers are those of Get Page Ranges, with the target's etag,
// last-modified and content length.
import crypto from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { HttpError, INTERNAL_API_VERSION, decodeMarker, encodeMarker, header } from './front-upstream.ts';
import type { RangeSet } from './ranges.ts';
import type { Endpoint } from './tracker.ts';

/** A diff asked of the front: the target blob (or its snapshot), the range, the previous state. */
export interface DiffRequest {
  pathname: string;
  key: string;
  targetSnapshot: string | undefined;
  range: [number, number] | undefined;
  prev: Endpoint & { pathname: string };
}

/** The changed pages within the range, and the target's allocated pages, length and response headers. */
export interface DiffResult {
  changed: RangeSet;
  targetPages: RangeSet;
  targetLength: number;
  headers: IncomingHttpHeaders;
}

interface Entry {
  s: number;
  e: number;
  clear: boolean;
}

/** Changed and allocated in the target: PageRange; changed and not allocated: ClearRange (cleared). */
function entriesOf(result: DiffResult): Entry[] {
  const pageRanges = result.changed.intersect(result.targetPages);
  const clearRanges = result.changed.subtract(result.targetPages);
  const entries: Entry[] = [];
  for (const [s, e] of pageRanges) entries.push({ s, e, clear: false });
  for (const [s, e] of clearRanges) entries.push({ s, e, clear: true });
  entries.sort((a, b) => a.s - b.s);
  return entries;
}

/** The entries from `marker` on, at most `maxresults`, and the entry the next page starts with. */
function pageOf(entries: Entry[], q: Map<string, string>): { page: Entry[]; next: Entry | undefined } {
  let from = 0;
  const marker = q.get('marker');
  if (marker) {
    const off = decodeMarker(marker);
    if (off === undefined) throw new HttpError(400, 'InvalidQueryParameterValue', 'Value for one of the query parameters specified in the request URI is invalid.');
    from = entries.findIndex((x) => x.s >= off);
    if (from < 0) from = entries.length;
  }
  const maxResultsRaw = q.get('maxresults');
  const maxResults = maxResultsRaw === undefined ? Infinity : Number(maxResultsRaw);
  if (!(maxResults > 0)) throw new HttpError(400, 'InvalidQueryParameterValue', 'Value for one of the query parameters specified in the request URI is invalid.');
  const page = entries.slice(from, from + Math.min(maxResults, entries.length));
  return { page, next: entries[from + page.length] };
}

export function sendPageListDiff(res: ServerResponse, h: IncomingHttpHeaders, q: Map<string, string>, result: DiffResult): void {
  const { page, next } = pageOf(entriesOf(result), q);
  const parts: string[] = ['<?xml version="1.0" encoding="utf-8"?><PageList>'];
  for (const x of page) {
    const tag = x.clear ? 'ClearRange' : 'PageRange';
    parts.push(`<${tag}><Start>${x.s}</Start><End>${x.e - 1}</End></${tag}>`);
  }
  if (next) parts.push(`<NextMarker>${encodeMarker(next.s)}</NextMarker>`);
  parts.push('</PageList>');
  const body = parts.join('');
  const out: OutgoingHttpHeaders = {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
    'x-ms-blob-content-length': String(result.targetLength),
    'x-ms-request-id': crypto.randomUUID(),
    'x-ms-version': header(h, 'x-ms-version') ?? INTERNAL_API_VERSION,
    date: new Date().toUTCString(),
  };
  const etag = header(result.headers, 'etag');
  const lastModified = header(result.headers, 'last-modified');
  if (etag) out.etag = etag;
  if (lastModified) out['last-modified'] = lastModified;
  const clientRequestId = header(h, 'x-ms-client-request-id');
  if (clientRequestId) out['x-ms-client-request-id'] = clientRequestId;
  res.writeHead(200, out);
  res.end(body);
}
