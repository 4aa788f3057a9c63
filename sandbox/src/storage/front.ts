// The storage front: an HTTPS server in front of Azurite for every sandbox storage account, adding the
// page-blob calls Azure has and Azurite lacks, and otherwise forwarding requests untouched (streamed).
//
//  - Get Page Ranges *diff* (`comp=pagelist` with `prevsnapshot=<datetime>`, or the managed-disk variant
//    header `x-ms-previous-snapshot-url`). Azurite silently answers those with the *full* page list of the
//    target, so the front must answer them itself. Design: the front observes every write (Put Page
//    update/clear, Put Blob, Copy, resize, snapshot creation, deletes) and keeps per-blob changed-page
//    tracking between snapshots, with copy lineage (tracker.ts). A diff is then the tracked changed set,
//    split into PageRange (allocated in the target) and ClearRange (not allocated: cleared) using
//    Azurite's ordinary Get Page Ranges of the target. Cost: O(ranges), no data read. When tracking cannot
//    answer (state lost after an unclean stop, unrelated blobs), the front compares contents instead:
//    pages allocated on one side only are changed; pages allocated on both are read and compared. Both
//    paths give a correct answer; tracking gives Azure's (a page rewritten with equal bytes is "changed").
//    Ordering: writes to a blob pass a shared gate, snapshots/copies/deletes an exclusive one (gate.ts),
//    so each write is attributed to the interval in which Azurite applied it.
//  - Put Page From URL (`comp=page` + `x-ms-copy-source` + `x-ms-source-range`): a source on this sandbox
//    is copied by Azurite itself, within its stores (azurite-from-url.ts); the front only tracks the
//    write. A source elsewhere: the front reads the range and writes it with Put Page.
//  - freezeWrites(): holds writes to some blobs while a caller snapshots them (crash-consistent points).
//
// Authorization stays Azurite's: before answering a diff or a Put-Page-From-URL itself, the front sends
// the client's request unchanged to Azurite, which authenticates it (SAS, shared key or bearer) and then
// answers 200 (diff: it ignores prevsnapshot) or 501 APINotImplemented (from URL, for a source not on
// this sandbox); any other answer (403, 404, ...) goes back to the client as is. The front's own
// follow-up calls to Azurite use a bearer token.
import crypto from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { pipeline, type Duplex } from 'node:stream';
import tls from 'node:tls';
import { createLogger } from '../../../src/util/logger.ts';
import type { Release } from './gate.ts';
import { Gates } from './gate.ts';
import { INFINITY, PAGE, RangeSet } from './ranges.ts';
import { sandboxAccessToken } from './token.ts';
import type { Endpoint } from './tracker.ts';
import { ChangeTracker, normalizeSnapshot } from './tracker.ts';

const log = createLogger('sandbox-storage-front');

const INTERNAL_API_VERSION = '2025-01-05';
const MAX_PUT_PAGE_BYTES = 4 * 1024 * 1024;
const COMPARE_CHUNK = 4 * 1024 * 1024;
const COMPARE_CONCURRENCY = 4;

const HOP_BY_HOP = new Set([
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

interface Buffered {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface BlobTarget {
  account: string;
  container: string;
  blob: string;
  key: string;
}

class HttpError extends Error {
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

function isSuccess(status: number | undefined): boolean {
  return status !== undefined && status >= 200 && status < 300;
}

function stripHopByHop(raw: string[]): string[] {
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

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

function queryMap(url: URL): Map<string, string> {
  const m = new Map<string, string>();
  for (const [k, v] of url.searchParams) if (!m.has(k.toLowerCase())) m.set(k.toLowerCase(), v);
  return m;
}

function xmlError(code: string, message: string, requestId: string): string {
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

function encodeMarker(offset: number): string {
  return Buffer.from(`pr1:${offset}`).toString('base64url');
}

function decodeMarker(marker: string): number | undefined {
  const m = /^pr1:(\d+)$/.exec(Buffer.from(marker, 'base64url').toString());
  return m ? Number(m[1]) : undefined;
}

export class StorageFront {
  readonly tracker: ChangeTracker;
  readonly gates = new Gates();
  private readonly opts: StorageFrontOptions;
  private readonly azurite: URL;
  private readonly agent: https.Agent;
  private readonly externalAgent: https.Agent;
  private server: https.Server | undefined;
  private port = 0;
  private readonly sockets = new Set<Duplex>();

  constructor(opts: StorageFrontOptions) {
    this.opts = opts;
    this.azurite = new URL(opts.azuriteOrigin);
    this.tracker = opts.tracker ?? new ChangeTracker();
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

  async start(): Promise<void> {
    const server = https.createServer({ cert: this.opts.certPem, key: this.opts.keyPem, requestTimeout: 0 }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (err instanceof HttpError) log.debug('front refused request', { method: req.method, path: redactPath(req.url), status: err.status, code: err.code });
        else log.error('front request failed', { method: req.method, path: redactPath(req.url), error: String(err) });
        this.sendError(res, req, err);
      });
    });
    server.keepAliveTimeout = 30_000;
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    log.info('storage front listening', { origin: this.origin, upstream: this.opts.azuriteOrigin });
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Give in-flight requests a moment, then cut the rest.
      const timer = setTimeout(() => {
        for (const s of this.sockets) s.destroy();
      }, 2000);
      await closed;
      clearTimeout(timer);
    }
    this.agent.destroy();
    this.externalAgent.destroy();
  }

  /** Parses a URL of a blob on this sandbox (front or Azurite origin) into a tracker endpoint. */
  ownEndpoint(urlString: string): (Endpoint & BlobTarget & { pathAndQuery: string }) | undefined {
    let url: URL;
    try {
      url = new URL(urlString);
    } catch {
      return undefined;
    }
    const port = Number(url.port || 443);
    const isLocal = url.hostname === '127.0.0.1' || url.hostname === 'localhost';
    if (!isLocal || (port !== this.port && port !== Number(this.azurite.port))) return undefined;
    const target = this.parseBlobPath(url.pathname);
    if (!target) return undefined;
    const snapshot = queryMap(url).get('snapshot');
    return { ...target, ...(snapshot ? { snapshot } : {}), pathAndQuery: url.pathname + url.search };
  }

  /** Holds writes to the given blobs (URLs on this sandbox) while fn runs. */
  async freezeWrites<T>(blobUrls: string[], fn: () => Promise<T>): Promise<T> {
    const keys = blobUrls.map((u) => {
      const ep = this.ownEndpoint(u);
      if (!ep) throw new Error(`not a blob URL of this sandbox: ${redactPath(u)}`);
      return ep.key;
    });
    const release = await this.gates.freeze(keys);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  private parseBlobPath(pathname: string): BlobTarget | undefined {
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

  // ---- request dispatch ---------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://front.invalid');
    const q = queryMap(url);
    const method = (req.method ?? 'GET').toUpperCase();
    const comp = q.get('comp')?.toLowerCase();
    const restype = q.get('restype')?.toLowerCase();
    const h = req.headers;

    if (restype === 'container') {
      if (method === 'DELETE') {
        const segs = url.pathname.split('/');
        const account = decodeURIComponent(segs[1] ?? '');
        const container = decodeURIComponent(segs[2] ?? '');
        await this.forward(req, res, {
          onResponse: (status) => {
            if (isSuccess(status)) this.tracker.containerDeleted(account, container);
          },
        });
        return;
      }
      await this.forward(req, res);
      return;
    }
    const target = restype === undefined ? this.parseBlobPath(url.pathname) : undefined;
    if (!target) {
      await this.forward(req, res);
      return;
    }
    const snapshot = q.get('snapshot');
    const versionId = q.get('versionid');
    const key = target.key;

    if (method === 'GET' && comp === 'pagelist' && (q.has('prevsnapshot') || h['x-ms-previous-snapshot-url'])) {
      await this.handleDiff(req, res, url, q, target);
      return;
    }
    if (snapshot || versionId) {
      if (method === 'DELETE' && snapshot && !versionId) {
        const release = await this.gates.exclusive([{ key, kind: 'snapshot' }]);
        await this.forward(req, res, {
          release,
          onResponse: (status) => {
            if (isSuccess(status)) this.tracker.snapshotDeleted(key, snapshot);
          },
        });
        return;
      }
      await this.forward(req, res);
      return;
    }

    if (method === 'PUT') {
      if (comp === 'page') {
        // Put Page From URL from a source on this sandbox: Azurite copies it within its stores
        // (azurite-from-url.ts), and for change tracking it is a page write like any other. A source
        // elsewhere: the front copies it.
        const copySource = header(h, 'x-ms-copy-source');
        if (copySource && !this.ownEndpoint(copySource)) {
          await this.handleExternalPutPageFromUrl(req, res, url, target);
          return;
        }
        const range = parseRange(header(h, 'x-ms-range') ?? header(h, 'range'));
        const release = await this.gates.shared(key);
        if (range) this.tracker.pagesWritten(key, range[0], range[1]);
        await this.forward(req, res, { release });
        return;
      }
      if (comp === 'snapshot') {
        const release = await this.gates.exclusive([{ key, kind: 'snapshot' }]);
        await this.forward(req, res, {
          release,
          onResponse: (status, headers) => {
            const snap = header(headers, 'x-ms-snapshot');
            if (isSuccess(status) && snap) this.tracker.snapshotCreated(key, snap);
          },
        });
        return;
      }
      if (comp === 'properties') {
        const len = header(h, 'x-ms-blob-content-length');
        if (len === undefined) {
          await this.forward(req, res);
          return;
        }
        const release = await this.gates.exclusive([{ key, kind: 'write' }]);
        await this.forward(req, res, {
          release,
          onResponse: (status) => {
            if (isSuccess(status)) this.tracker.resized(key, Number(len));
          },
          onUnknown: () => this.tracker.resized(key, 0),
        });
        return;
      }
      if (comp === 'appendblock' || comp === 'blocklist' || comp === 'incrementalcopy') {
        const release = await this.gates.exclusive([{ key, kind: 'write' }]);
        await this.forward(req, res, {
          release,
          onResponse: (status) => {
            if (isSuccess(status)) this.tracker.blobRewritten(key);
          },
          onUnknown: () => this.tracker.blobRewritten(key),
        });
        return;
      }
      if (comp === undefined) {
        const copySource = header(h, 'x-ms-copy-source');
        if (copySource) {
          await this.handleCopy(req, res, key, copySource);
          return;
        }
        const isPage = header(h, 'x-ms-blob-type')?.toLowerCase() === 'pageblob';
        const release = await this.gates.exclusive([{ key, kind: 'write' }]);
        await this.forward(req, res, {
          release,
          onResponse: (status) => {
            if (!isSuccess(status)) return;
            if (isPage) this.tracker.pageBlobCreated(key);
            else this.tracker.blobRewritten(key);
          },
          onUnknown: () => (isPage ? this.tracker.outcomeUnknown(key) : this.tracker.blobRewritten(key)),
        });
        return;
      }
      await this.forward(req, res);
      return;
    }
    if (method === 'DELETE') {
      const only = header(h, 'x-ms-delete-snapshots')?.toLowerCase() === 'only';
      const release = await this.gates.exclusive([{ key, kind: only ? 'snapshot' : 'write' }]);
      await this.forward(req, res, {
        release,
        onResponse: (status) => {
          if (isSuccess(status)) this.tracker.blobDeleted(key, only);
        },
      });
      return;
    }
    await this.forward(req, res);
  }

  private async handleCopy(req: IncomingMessage, res: ServerResponse, key: string, copySource: string): Promise<void> {
    const src = this.ownEndpoint(copySource);
    const locks: Array<{ key: string; kind: 'write' | 'snapshot' }> = [{ key, kind: 'write' }];
    if (src && !src.snapshot && src.key !== key) locks.push({ key: src.key, kind: 'snapshot' });
    const release = await this.gates.exclusive(locks);
    await this.forward(req, res, {
      release,
      onResponse: (status, headers) => {
        if (!isSuccess(status)) return;
        if (header(headers, 'x-ms-copy-status')?.toLowerCase() === 'success') {
          this.tracker.copied(key, src ? this.tracker.captureSource(src) : null);
        } else {
          this.tracker.outcomeUnknown(key);
        }
      },
      onUnknown: () => this.tracker.outcomeUnknown(key),
    });
  }

  // ---- forwarding ---------------------------------------------------------------------------------

  /**
   * Streams the request to Azurite and the answer back. `onResponse` runs when Azurite's response head
   * arrives (the operation has taken effect) and before the client sees it; `release` right after.
   * `onUnknown` runs when the outcome is unknown (connection to Azurite failed or cut mid-request).
   */
  private forward(
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
  private upstreamBuffered(
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

  private internalHeaders(extra: Record<string, string> = {}): Record<string, string> {
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
  private probe(req: IncomingMessage): Promise<Buffered> {
    return this.upstreamBuffered(req.method ?? 'GET', req.url ?? '/', stripHopByHop(req.rawHeaders));
  }

  private static probeAccepted(p: Buffered): boolean {
    return isSuccess(p.status) || (p.status === 501 && header(p.headers, 'x-ms-error-code') === 'APINotImplemented');
  }

  private sendBuffered(res: ServerResponse, b: Buffered): void {
    const headers: OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(b.headers)) if (!HOP_BY_HOP.has(k) && k !== 'content-length' && v !== undefined) headers[k] = v;
    headers['content-length'] = b.body.length;
    res.writeHead(b.status, headers);
    res.end(b.body);
  }

  private sendError(res: ServerResponse, req: IncomingMessage, err: unknown): void {
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

  // ---- Get Page Ranges diff -----------------------------------------------------------------------

  private async pageList(
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

  private async handleDiff(req: IncomingMessage, res: ServerResponse, url: URL, q: Map<string, string>, target: BlobTarget): Promise<void> {
    const h = req.headers;
    const probe = await this.probe(req);
    if (!StorageFront.probeAccepted(probe)) {
      this.sendBuffered(res, probe);
      return;
    }
    const targetSnapshot = q.get('snapshot') || undefined;
    const range = parseRange(header(h, 'x-ms-range') ?? header(h, 'range'));
    if (range && (range[0] % PAGE !== 0 || (range[1] < INFINITY && range[1] % PAGE !== 0))) {
      throw new HttpError(416, 'InvalidRange', 'The range specified is invalid for the current size of the resource.');
    }

    // Previous state: a snapshot of the same blob, or (managed disks) any blob/snapshot URL on this sandbox.
    let prev: Endpoint & { pathname: string };
    const prevSnapshot = q.get('prevsnapshot');
    if (prevSnapshot !== undefined) {
      prev = { key: target.key, snapshot: prevSnapshot, pathname: url.pathname };
    } else {
      const prevUrl = header(h, 'x-ms-previous-snapshot-url')!;
      const ep = this.ownEndpoint(prevUrl);
      if (!ep) {
        throw new HttpError(400, 'InvalidHeaderValue', 'The value for one of the HTTP headers is not in the correct format.', {
          'x-ms-invalid-header-name': 'x-ms-previous-snapshot-url',
        });
      }
      // The previous snapshot URL carries its own authorization (SAS): check it the way Azure does.
      const head = await this.upstreamBuffered('HEAD', ep.pathAndQuery, { host: this.host, 'x-ms-version': INTERNAL_API_VERSION });
      if (head.status === 404) throw new HttpError(409, 'PreviousSnapshotNotFound', 'The previous snapshot is not found.');
      if (head.status !== 200) {
        throw new HttpError(403, 'CannotVerifyCopySource', 'The previous snapshot URL could not be read.', {
          'x-ms-copy-source-status-code': String(head.status),
        });
      }
      prev = { key: ep.key, pathname: new URL(prevUrl).pathname, ...(ep.snapshot ? { snapshot: ep.snapshot } : {}) };
    }
    if (
      prev.key === target.key &&
      prev.snapshot &&
      targetSnapshot &&
      normalizeSnapshot(prev.snapshot) > normalizeSnapshot(targetSnapshot)
    ) {
      throw new HttpError(400, 'PreviousSnapshotCannotBeNewer', 'The prevsnapshot query parameter value cannot be newer than snapshot query parameter value.');
    }

    // Diffing the live blob: no write may slip between reading its page list and the tracked set.
    const release = targetSnapshot ? undefined : await this.gates.exclusive([{ key: target.key, kind: 'snapshot' }]);
    let result: { changed: RangeSet; targetPages: RangeSet; targetLength: number; headers: IncomingHttpHeaders };
    try {
      const t = await this.pageList(url.pathname, targetSnapshot, range);
      if (t.status !== 200) {
        this.sendBuffered(res, t);
        return;
      }
      const targetLength = Number(header(t.headers, 'x-ms-blob-content-length') ?? 0);
      // The previous state may be shorter than the range asked (the disk grew): nothing allocated there.
      let p = await this.pageList(prev.pathname, prev.snapshot, range);
      if (p.status === 416) p = { ...p, status: 200, pages: new RangeSet(Number.MAX_SAFE_INTEGER) };
      if (p.status === 404) throw new HttpError(409, 'PreviousSnapshotNotFound', 'The previous snapshot is not found.');
      if (p.status !== 200) {
        this.sendBuffered(res, p);
        return;
      }
      const lo = range ? range[0] : 0;
      const hi = Math.min(targetLength, range ? range[1] : INFINITY);
      let changed = this.tracker.changedBetween(prev, { key: target.key, ...(targetSnapshot ? { snapshot: targetSnapshot } : {}) });
      if (changed) {
        changed = changed.clip(lo, hi);
      } else {
        log.info('diff without tracking: comparing contents', { target: target.key, prev: prev.key });
        changed = await this.compareContents(
          { pathname: url.pathname, snapshot: targetSnapshot, pages: t.pages.clip(lo, hi) },
          { pathname: prev.pathname, snapshot: prev.snapshot, pages: p.pages.clip(lo, hi) },
        );
      }
      result = { changed, targetPages: t.pages, targetLength, headers: t.headers };
    } finally {
      release?.();
    }

    const pageRanges = result.changed.intersect(result.targetPages);
    const clearRanges = result.changed.subtract(result.targetPages);
    const entries: Array<{ s: number; e: number; clear: boolean }> = [];
    for (const [s, e] of pageRanges) entries.push({ s, e, clear: false });
    for (const [s, e] of clearRanges) entries.push({ s, e, clear: true });
    entries.sort((a, b) => a.s - b.s);

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
    const next = entries[from + page.length];

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

  /** Reads [start, end) of a blob or snapshot from Azurite. */
  private async readRange(pathname: string, snapshot: string | undefined, start: number, end: number): Promise<Buffer> {
    const qs = snapshot ? `?${new URLSearchParams({ snapshot })}` : '';
    const r = await this.upstreamBuffered('GET', pathname + qs, this.internalHeaders({ 'x-ms-range': `bytes=${start}-${end - 1}` }));
    if (r.status !== 200 && r.status !== 206) throw new Error(`reading ${pathname} failed with ${r.status}`);
    if (r.body.length !== end - start) throw new Error(`short read of ${pathname}: ${r.body.length} of ${end - start}`);
    return r.body;
  }

  /** Fallback diff: pages allocated on one side only, plus pages allocated on both whose bytes differ. */
  private async compareContents(
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

  // ---- Put Page From URL --------------------------------------------------------------------------

  /** Put Page From URL from a source not on this sandbox: read the range, write it with Put Page. */
  private async handleExternalPutPageFromUrl(req: IncomingMessage, res: ServerResponse, url: URL, target: BlobTarget): Promise<void> {
    const h = req.headers;
    req.resume(); // a Put Page From URL has no body
    const probe = await this.probe(req);
    if (!StorageFront.probeAccepted(probe)) {
      this.sendBuffered(res, probe);
      return;
    }
    const invalid = (name: string): HttpError =>
      new HttpError(400, 'InvalidHeaderValue', 'The value for one of the HTTP headers is not in the correct format.', {
        'x-ms-invalid-header-name': name,
      });
    const pageWrite = header(h, 'x-ms-page-write')?.toLowerCase();
    if (pageWrite !== 'update') throw invalid('x-ms-page-write');
    const dest = parseRange(header(h, 'x-ms-range') ?? header(h, 'range'));
    const src = parseRange(header(h, 'x-ms-source-range'));
    if (!dest || dest[1] >= INFINITY) throw invalid('x-ms-range');
    if (!src || src[1] >= INFINITY) throw invalid('x-ms-source-range');
    const n = dest[1] - dest[0];
    if (src[1] - src[0] !== n) throw invalid('x-ms-source-range');
    if (dest[0] % PAGE !== 0 || n % PAGE !== 0) {
      throw new HttpError(416, 'InvalidPageRange', 'The page range specified is invalid.');
    }
    if (n > MAX_PUT_PAGE_BYTES) throw new HttpError(413, 'RequestBodyTooLarge', 'The request body is too large and exceeds the maximum permissible limit.');

    // Read the source range.
    const copySource = header(h, 'x-ms-copy-source')!;
    const sourceHeaders: Record<string, string> = {
      'x-ms-version': header(h, 'x-ms-version') ?? INTERNAL_API_VERSION,
      'x-ms-range': `bytes=${src[0]}-${src[1] - 1}`,
    };
    const sourceAuth = header(h, 'x-ms-copy-source-authorization');
    if (sourceAuth) sourceHeaders.authorization = sourceAuth;
    const data = await this.externalGet(copySource, sourceHeaders);
    if (data.status !== 200 && data.status !== 206) {
      throw new HttpError(data.status === 404 ? 404 : 403, 'CannotVerifyCopySource', 'Could not verify the copy source within the specified time.', {
        'x-ms-copy-source-status-code': String(data.status),
        'x-ms-copy-source-error-code': header(data.headers, 'x-ms-error-code') ?? '',
      });
    }
    if (data.body.length !== n) {
      throw new HttpError(400, 'InvalidSourceRange', `The source range returned ${data.body.length} bytes, expected ${n}.`);
    }
    const md5 = header(h, 'x-ms-source-content-md5');
    if (md5 && crypto.createHash('md5').update(data.body).digest('base64') !== md5) {
      throw new HttpError(400, 'Md5Mismatch', 'The MD5 value specified in the request did not match with the MD5 value calculated by the server.');
    }

    // Write it as a Put Page, keeping the client's conditions (lease, sequence number, etag...).
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(h)) {
      if (v === undefined || HOP_BY_HOP.has(k)) continue;
      if (k === 'authorization' || k === 'host' || k === 'content-length' || k === 'range' || k === 'content-type') continue;
      if (k.startsWith('x-ms-copy-source') || k.startsWith('x-ms-source-')) continue;
      headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    Object.assign(headers, this.internalHeaders({ 'x-ms-page-write': 'update', 'x-ms-range': `bytes=${dest[0]}-${dest[1] - 1}` }));
    headers['x-ms-version'] = header(h, 'x-ms-version') ?? INTERNAL_API_VERSION;
    headers['content-length'] = String(n);
    const release = await this.gates.shared(target.key);
    let result: Buffered;
    try {
      this.tracker.pagesWritten(target.key, dest[0], dest[1]);
      result = await this.upstreamBuffered('PUT', `${url.pathname}?comp=page`, headers, data.body);
    } finally {
      release();
    }
    this.sendBuffered(res, result);
  }

  private externalGet(urlString: string, headers: Record<string, string>): Promise<Buffered> {
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
function redactPath(u: string | undefined): string {
  return (u ?? '').split('?')[0] ?? '';
}
