// The storage front's side that talks to Azurite and to storage elsewhere (front.ts is the side that
// answers clients): forwarding a client's request streamed, buffered internal calls with the front's own
// bearer token, the authorization probe (the client's request sent to Azurite unchanged, see front.ts),
// page lists and ranges read from Azurite, the content comparison that answers a diff when tracking cannot,
// and the HTTP helpers both sides use.
import crypto from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream';
import tls from 'node:tls';
import { createLogger } from '../../../src/util/logger.ts';
import type { Release } from './gate.ts';
import { INFINITY, PAGE, RangeSet } from './ranges.ts';
import { sandboxAccessToken } from './token.ts';
import type { ChangeTracker } from './tracker.ts';

const log = createLogger('sandbox-storage-front');

export const INTERNAL_API_VERSION = '2025-01-05';
export const MAX_PUT_PAGE_BYTES = 4 * 1024 * 1024;
export const COMPARE_CHUNK = 4 * 1024 * 1024;
export const COMPARE_CONCURRENCY = 4;

export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
]);

export interface StorageFrontOptions {
  /** Azurite origin, e.g. https://127.0.0.1:40123 */
  azuriteOrigin: string;
  caCertPem: string;
  certPem: string;
  keyPem: string;
  /** Port to listen on (127.0.0.1); 0 or absent: any free port. */
  port?: number;
  tracker?: ChangeTracker;
}

export interface Buffered {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface BlobTarget {
  account: string;
  container: string;
  blob: string;
  key: string;
}

export class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly extraHeaders: Record<string, string>;
  constructor(status: number, code: string, message: string, extraHeaders: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extraHeaders = extraHeaders;
  }
}

export function isSuccess(status: number | undefined): boolean {
  return status !== undefined && status >= 200 && status < 300;
}

export function stripHopByHop(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/** "bytes=a-b" (b optional) -> [a, b+1); undefined when absent/invalid. */
export function parseRange(value: string | undefined): [number, number] | undefined {
  if (!value) return undefined;
  const m = /^\s*bytes\s*=\s*(\d+)\s*-\s*(\d*)\s*$/i.exec(value);
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] === '' ? INFINITY : Number(m[2]) + 1;
  if (!Number.isSafeInteger(start) || !(end > start)) return undefined;
  return [start, end];
}

export function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

export function queryMap(url: URL): Map<string, string> {
  const m = new Map<string, string>();
  for (const [k, v] of url.searchParams) if (!m.has(k.toLowerCase())) m.set(k.toLowerCase(), v);
  return m;
}

export function xmlError(code: string, message: string, requestId: string): string {
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<?xml version="1.0" encoding="utf-8"?><Error><Code>${esc(code)}</Code><Message>${esc(message)}\nRequestId:${requestId}\nTime:${new Date().toISOString()}</Message></Error>`;
}

/** Parses Azure's <PageList> XML into allocated (PageRange) and cleared (ClearRange) sets. */
export function parsePageList(xml: string): { pages: RangeSet; clears: RangeSet; nextMarker: string | undefined } {
  const pages = new RangeSet(Number.MAX_SAFE_INTEGER);
  const clears = new RangeSet(Number.MAX_SAFE_INTEGER);
  const re = /<(PageRange|ClearRange)>\s*<Start>(\d+)<\/Start>\s*<End>(\d+)<\/End>\s*<\/\1>/g;
  for (let m = re.exec(xml); m; m = re.exec(xml)) {
    (m[1] === 'PageRange' ? pages : clears).add(Number(m[2]), Number(m[3]) + 1);
  }
  const nm = /<NextMarker>([^<]*)<\/NextMarker>/.exec(xml);
  return { pages, clears, nextMarker: nm?.[1] ? nm[1] : undefined };
}

export function encodeMarker(offset: number): string {
  return Buffer.from(`pr1:${offset}`).toString('base64url');
}

export function decodeMarker(marker: string): number | undefined {
  const m = /^pr1:(\d+)$/.exec(Buffer.from(marker, 'base64url').toString());
  return m ? Number(m[1]) : undefined;
}

/** account/container/blob of a blob URL path; undefined for anything else. */
export function parseBlobPath(pathname: string): BlobTarget | undefined {
  const segs = pathname.split('/');
  if (segs.length < 4 || !segs[1] || !segs[2] || segs.slice(3).join('/') === '') return undefined;
  try {
    const account = decodeURIComponent(segs[1]);
    const container = decodeURIComponent(segs[2]);
    const blob = decodeURIComponent(segs.slice(3).join('/'));
    return { account, container, blob, key: `${account}/${container}/${blob}` };
  } catch {
    return undefined;
  }
}

/** What the front shares with its client-facing side: Azurite's address, the agents, the port it listens on. */
export class FrontUpstream {
  protected readonly opts: StorageFrontOptions;
  protected readonly azurite: URL;
  protected readonly agent: https.Agent;
  protected readonly externalAgent: https.Agent;
  protected port = 0;

  constructor(opts: StorageFrontOptions) {
    this.opts = opts;
    this.azurite = new URL(opts.azuriteOrigin);
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 512, ca: opts.caCertPem });
    this.externalAgent = new https.Agent({ keepAlive: true, ca: [...tls.rootCertificates, opts.caCertPem] });
  }

  /** https://127.0.0.1:PORT (no trailing slash) */
  get origin(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Host header value clients use. */
  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /**
   * Streams the request to Azurite and the answer back. `onResponse` runs when Azurite's response head
   * arrives (the operation has taken effect) and before the client sees it; `release` right after.
   * `onUnknown` runs when the outcome is unknown (connection to Azurite failed or cut mid-request).
   */
  protected forward(
    req: IncomingMessage,
    res: ServerResponse,
    hooks: {
      release?: Release;
      onResponse?: (status: number, headers: IncomingHttpHeaders) => void;
      onUnknown?: () => void;
    } = {},
  ): Promise<void> {
    return new Promise<void>((resolve) => {
      let settled = false;
      const settle = (): void => {
        if (settled) return;
        settled = true;
        hooks.release?.();
        resolve();
      };
      const upstream = https.request({
        protocol: 'https:',
        hostname: this.azurite.hostname,
        port: this.azurite.port,
        method: req.method,
        path: req.url,
        headers: stripHopByHop(req.rawHeaders),
        agent: this.agent,
      });
      let responded = false;
      upstream.on('response', (ures) => {
        responded = true;
        try {
          hooks.onResponse?.(ures.statusCode ?? 500, ures.headers);
        } catch (err) {
          log.error('front bookkeeping failed', { error: String(err) });
        }
        if (!settled) {
          settled = true;
          hooks.release?.();
        }
        if (res.destroyed) {
          // The client went away (e.g. a killed process) before Azurite answered: drop the answer.
          ures.resume();
          resolve();
          return;
        }
        res.writeHead(ures.statusCode ?? 500, ures.statusMessage, stripHopByHop(ures.rawHeaders));
        pipeline(ures, res, () => resolve());
      });
      upstream.on('error', (err) => {
        if (!responded) {
          try {
            hooks.onUnknown?.();
          } catch (e) {
            log.error('front bookkeeping failed', { error: String(e) });
          }
          if (!res.headersSent && !req.destroyed) this.sendError(res, req, err);
          else res.destroy();
        }
        settle();
      });
      pipeline(req, upstream, (err) => {
        if (err) upstream.destroy(err);
      });
    });
  }

  /** A request to Azurite with the front's own bearer token, body buffered. */
  protected upstreamBuffered(
    method: string,
    pathAndQuery: string,
    headers: OutgoingHttpHeaders | string[],
    body?: Buffer,
  ): Promise<Buffered> {
    return new Promise<Buffered>((resolve, reject) => {
      const r = https.request(
        {
          protocol: 'https:',
          hostname: this.azurite.hostname,
          port: this.azurite.port,
          method,
          path: pathAndQuery,
          headers,
          agent: this.agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 500, headers: res.headers, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      r.on('error', reject);
      r.end(body);
    });
  }

  protected internalHeaders(extra: Record<string, string> = {}): Record<string, string> {
    return {
      host: this.host,
      authorization: `Bearer ${sandboxAccessToken()}`,
      'x-ms-version': INTERNAL_API_VERSION,
      'x-ms-date': new Date().toUTCString(),
      ...extra,
    };
  }

  /** A request to Azurite (bypassing tracking) with the front's bearer token - for sandbox housekeeping. */
  internalRequest(method: string, pathAndQuery: string, extraHeaders: Record<string, string> = {}, body?: Buffer): Promise<Buffered> {
    const headers = this.internalHeaders(extraHeaders);
    if (body) headers['content-length'] = String(body.length);
    return this.upstreamBuffered(method, pathAndQuery, headers, body);
  }

  /** Replays the client's request to Azurite so that Azurite authenticates and authorizes it. */
  protected probe(req: IncomingMessage): Promise<Buffered> {
    return this.upstreamBuffered(req.method ?? 'GET', req.url ?? '/', stripHopByHop(req.rawHeaders));
  }

  protected static probeAccepted(p: Buffered): boolean {
    return isSuccess(p.status) || (p.status === 501 && header(p.headers, 'x-ms-error-code') === 'APINotImplemented');
  }

  protected sendBuffered(res: ServerResponse, b: Buffered): void {
    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(b.headers)) if (!HOP_BY_HOP.has(k) && k !== 'content-length' && v !== undefined) headers[k] = v;
    headers['content-length'] = b.body.length;
    res.writeHead(b.status, headers);
    res.end(b.body);
  }

  protected sendError(res: ServerResponse, req: IncomingMessage, err: unknown): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const e =
      err instanceof HttpError
        ? err
        : new HttpError(500, 'InternalError', 'Server encountered an internal error. Please try again after some time.');
    const requestId = crypto.randomUUID();
    const body = req.method === 'HEAD' ? '' : xmlError(e.code, e.message, requestId);
    res.writeHead(e.status, {
      'content-type': 'application/xml',
      'content-length': Buffer.byteLength(body),
      'x-ms-error-code': e.code,
      'x-ms-request-id': requestId,
      'x-ms-version': header(req.headers, 'x-ms-version') ?? INTERNAL_API_VERSION,
      date: new Date().toUTCString(),
      ...e.extraHeaders,
    });
    res.end(body);
  }

  protected async pageList(
    pathname: string,
    snapshot: string | undefined,
    range: [number, number] | undefined,
  ): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer; pages: RangeSet }> {
    const pages = new RangeSet(Number.MAX_SAFE_INTEGER);
    let marker: string | undefined;
    let first: Buffered | undefined;
    do {
      const qs = new URLSearchParams({ comp: 'pagelist' });
      if (snapshot) qs.set('snapshot', snapshot);
      if (marker) qs.set('marker', marker);
      const extra: Record<string, string> = {};
      if (range && range[1] < INFINITY) extra['x-ms-range'] = `bytes=${range[0]}-${range[1] - 1}`;
      const r = await this.upstreamBuffered('GET', `${pathname}?${qs}`, this.internalHeaders(extra));
      first ??= r;
      if (r.status !== 200) return { ...r, pages };
      const parsed = parsePageList(r.body.toString('utf8'));
      pages.addSet(parsed.pages);
      marker = parsed.nextMarker;
    } while (marker);
    return { ...first, pages };
  }

  /** Reads [start, end) of a blob or snapshot from Azurite. */
  protected async readRange(pathname: string, snapshot: string | undefined, start: number, end: number): Promise<Buffer> {
    const qs = snapshot ? `?${new URLSearchParams({ snapshot })}` : '';
    const r = await this.upstreamBuffered('GET', pathname + qs, this.internalHeaders({ 'x-ms-range': `bytes=${start}-${end - 1}` }));
    if (r.status !== 200 && r.status !== 206) throw new Error(`reading ${pathname} failed with ${r.status}`);
    if (r.body.length !== end - start) throw new Error(`short read of ${pathname}: ${r.body.length} of ${end - start}`);
    return r.body;
  }

  /** Fallback diff: pages allocated on one side only, plus pages allocated on both whose bytes differ. */
  protected async compareContents(
    target: { pathname: string; snapshot: string | undefined; pages: RangeSet },
    prev: { pathname: string; snapshot: string | undefined; pages: RangeSet },
  ): Promise<RangeSet> {
    const changed = RangeSet.union([target.pages.subtract(prev.pages), prev.pages.subtract(target.pages)], Number.MAX_SAFE_INTEGER);
    const both = target.pages.intersect(prev.pages);
    const chunks: Array<[number, number]> = [];
    for (const [s, e] of both) for (let o = s; o < e; o += COMPARE_CHUNK) chunks.push([o, Math.min(e, o + COMPARE_CHUNK)]);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < chunks.length) {
        const [s, e] = chunks[next++]!;
        const [a, b] = await Promise.all([
          this.readRange(target.pathname, target.snapshot, s, e),
          this.readRange(prev.pathname, prev.snapshot, s, e),
        ]);
        if (a.equals(b)) continue;
        for (let o = 0; o < a.length; o += PAGE) {
          if (a.compare(b, o, o + PAGE, o, o + PAGE) !== 0) changed.add(s + o, s + o + PAGE);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(COMPARE_CONCURRENCY, chunks.length) }, worker));
    return changed;
  }

  protected externalGet(urlString: string, headers: Record<string, string>): Promise<Buffered> {
    return new Promise<Buffered>((resolve, reject) => {
      const r = https.request(urlString, { method: 'GET', headers, agent: this.externalAgent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 500, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      r.on('error', reject);
      r.end();
    });
  }
}

/** Path without query (SAS signatures never reach the logs). */
export function redactPath(u: string | undefined): string {
  return (u ?? '').split('?')[0] ?? '';
}
