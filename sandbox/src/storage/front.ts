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
//    The answer (PageRange / ClearRange entries, NextMarker paging) is written by front-page-list.ts.
//  - Put Page From URL (`comp=page` + `x-ms-copy-source` + `x-ms-source-range`): a source on this sandbox
//    is copied by Azurite itself, within its stores (azurite-from-url.ts); the front only tracks the
//    write. A source elsewhere: the front reads the range and writes it with Put Page.
//  - freezeWrites(): holds writes to some blobs while a caller snapshots them (crash-consistent points).
//
// Authorization stays Azurite's: before answering a diff or a Put-Page-From-URL itself, the front sends
// the client's request unchanged to Azurite, which authenticates it (SAS, shared key or bearer) and then
// answers 200 (diff: it ignores prevsnapshot) or 501 APINotImplemented (from URL, for a source not on
// this sandbox); any other answer (403, 404, ...) goes back to the client as is. The front's own
// follow-up calls to Azurite use a bearer token. Before all that, a request signed with the key of an account
// that refuses it (front-shared-key.ts), or a bearer token whose roles lack the operation's data action when
// role assignments are enforced (front-rbac.ts), gets Azure's 403.
import crypto from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createLogger } from '../../../src/util/logger.ts';
import { Gates } from './gate.ts';
import { stoppedByOutage, type FrontOutages } from './front-outage.ts';
import { INFINITY, PAGE, RangeSet } from './ranges.ts';
import { sendPageListDiff, type DiffRequest, type DiffResult } from './front-page-list.ts';
import type { Endpoint } from './tracker.ts';
import { ChangeTracker, normalizeSnapshot } from './tracker.ts';
import {
  type BlobTarget, type Buffered, type StorageFrontOptions, FrontUpstream, HOP_BY_HOP, HttpError, INTERNAL_API_VERSION,
  MAX_PUT_PAGE_BYTES, header, isSuccess, parseBlobPath, parseRange, queryMap, redactPath,
} from './front-upstream.ts';
import { SharedKeyAccess } from './front-shared-key.ts';
import { rbacRefusal, type StorageRbac } from './front-rbac.ts';


const log = createLogger('sandbox-storage-front');

export class StorageFront extends FrontUpstream {
  readonly tracker: ChangeTracker;
  readonly gates = new Gates();
  private server: https.Server | undefined;
  private readonly sockets = new Set<Duplex>();
  /** Regional outages (`sandbox outage`): requests on accounts and disks of a down region get no answer. */
  outages: FrontOutages | undefined;
  /** Accounts with `allowSharedKeyAccess: false`: requests signed with their key are refused (front-shared-key.ts). */
  readonly sharedKey = new SharedKeyAccess();
  /** The ARM emulator's role assignments, which Entra ID requests must satisfy when enforced (front-rbac.ts). */
  rbac: StorageRbac | undefined;

  constructor(opts: StorageFrontOptions) {
    super(opts);
    this.tracker = opts.tracker ?? new ChangeTracker();
  }

  async start(): Promise<void> {
    const server = https.createServer({ cert: this.opts.certPem, key: this.opts.keyPem, requestTimeout: 0 }, (req, res) => {
      if (this.outages && stoppedByOutage(this.outages, req, (e) => this.sendError(res, req, e))) return;
      const refused = this.sharedKey.refusal(req) ?? rbacRefusal(this.rbac, req);
      if (refused) {
        req.resume();
        this.sendError(res, req, refused);
        return;
      }
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
    const target = parseBlobPath(url.pathname);
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

  // ---- request dispatch ---------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://front.invalid');
    const q = queryMap(url);
    const method = (req.method ?? 'GET').toUpperCase();
    const comp = q.get('comp')?.toLowerCase();
    const restype = q.get('restype')?.toLowerCase();
    const h = req.headers;

    if (restype === 'container') {
      await this.handleContainer(req, res, url, method);
      return;
    }
    const target = restype === undefined ? parseBlobPath(url.pathname) : undefined;
    if (!target) {
      await this.forward(req, res);
      return;
    }
    if (method === 'GET' && comp === 'pagelist' && (q.has('prevsnapshot') || h['x-ms-previous-snapshot-url'])) {
      await this.handleDiff(req, res, url, q, target);
      return;
    }
    const snapshot = q.get('snapshot');
    const versionId = q.get('versionid');
    if (snapshot || versionId) {
      if (method === 'DELETE' && snapshot && !versionId) await this.handleSnapshotDelete(req, res, target.key, snapshot);
      else await this.forward(req, res);
      return;
    }
    if (method === 'PUT') {
      await this.handleBlobPut(req, res, url, target, comp);
      return;
    }
    if (method === 'DELETE') {
      await this.handleBlobDelete(req, res, target.key);
      return;
    }
    await this.forward(req, res);
  }

  /** Container requests pass through; a deleted container's blobs leave the tracking. */
  private async handleContainer(req: IncomingMessage, res: ServerResponse, url: URL, method: string): Promise<void> {
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
  }

  private async handleSnapshotDelete(req: IncomingMessage, res: ServerResponse, key: string, snapshot: string): Promise<void> {
    const release = await this.gates.exclusive([{ key, kind: 'snapshot' }]);
    await this.forward(req, res, {
      release,
      onResponse: (status) => {
        if (isSuccess(status)) this.tracker.snapshotDeleted(key, snapshot);
      },
    });
  }

  /** The PUTs on a blob, by `comp`: each passes the gate it needs and tells the tracker what it changed. */
  private async handleBlobPut(req: IncomingMessage, res: ServerResponse, url: URL, target: BlobTarget, comp: string | undefined): Promise<void> {
    const h = req.headers;
    const key = target.key;
    if (comp === 'page') {
      await this.handlePutPage(req, res, url, target);
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
      await this.handleSetProperties(req, res, key);
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
      if (copySource) await this.handleCopy(req, res, key, copySource);
      else await this.handlePutBlob(req, res, key);
      return;
    }
    await this.forward(req, res);
  }

  private async handlePutPage(req: IncomingMessage, res: ServerResponse, url: URL, target: BlobTarget): Promise<void> {
    const h = req.headers;
    // Put Page From URL from a source on this sandbox: Azurite copies it within its stores
    // (azurite-from-url.ts), and for change tracking it is a page write like any other. A source
    // elsewhere: the front copies it.
    const copySource = header(h, 'x-ms-copy-source');
    if (copySource && !this.ownEndpoint(copySource)) {
      await this.handleExternalPutPageFromUrl(req, res, url, target);
      return;
    }
    const range = parseRange(header(h, 'x-ms-range') ?? header(h, 'range'));
    const release = await this.gates.shared(target.key);
    if (range) this.tracker.pagesWritten(target.key, range[0], range[1]);
    await this.forward(req, res, { release });
  }

  /** Set Blob Properties: with x-ms-blob-content-length, a page blob resize. */
  private async handleSetProperties(req: IncomingMessage, res: ServerResponse, key: string): Promise<void> {
    const len = header(req.headers, 'x-ms-blob-content-length');
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
  }

  /** Put Blob: a new page blob (empty: nothing changed yet) or any other blob rewritten whole. */
  private async handlePutBlob(req: IncomingMessage, res: ServerResponse, key: string): Promise<void> {
    const isPage = header(req.headers, 'x-ms-blob-type')?.toLowerCase() === 'pageblob';
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
  }

  /** Delete Blob, or only its snapshots (x-ms-delete-snapshots: only). */
  private async handleBlobDelete(req: IncomingMessage, res: ServerResponse, key: string): Promise<void> {
    const only = header(req.headers, 'x-ms-delete-snapshots')?.toLowerCase() === 'only';
    const release = await this.gates.exclusive([{ key, kind: only ? 'snapshot' : 'write' }]);
    await this.forward(req, res, {
      release,
      onResponse: (status) => {
        if (isSuccess(status)) this.tracker.blobDeleted(key, only);
      },
    });
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

  // ---- Get Page Ranges diff -----------------------------------------------------------------------

  private async handleDiff(req: IncomingMessage, res: ServerResponse, url: URL, q: Map<string, string>, target: BlobTarget): Promise<void> {
    const probe = await this.probe(req);
    if (!StorageFront.probeAccepted(probe)) {
      this.sendBuffered(res, probe);
      return;
    }
    const request = await this.diffRequest(req, url, q, target);
    const outcome = await this.diffRanges(request);
    if ('answer' in outcome) {
      this.sendBuffered(res, outcome.answer);
      return;
    }
    sendPageListDiff(res, req.headers, q, outcome);
  }

  /** The diff asked: the target (blob or snapshot), the page-aligned range, and the previous state, checked. */
  private async diffRequest(req: IncomingMessage, url: URL, q: Map<string, string>, target: BlobTarget): Promise<DiffRequest> {
    const h = req.headers;
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
      prev = await this.previousSnapshotUrl(header(h, 'x-ms-previous-snapshot-url')!);
    }
    if (
      prev.key === target.key &&
      prev.snapshot &&
      targetSnapshot &&
      normalizeSnapshot(prev.snapshot) > normalizeSnapshot(targetSnapshot)
    ) {
      throw new HttpError(400, 'PreviousSnapshotCannotBeNewer', 'The prevsnapshot query parameter value cannot be newer than snapshot query parameter value.');
    }
    return { pathname: url.pathname, key: target.key, targetSnapshot, range, prev };
  }

  /** x-ms-previous-snapshot-url: a blob or snapshot on this sandbox, readable with the authorization it carries. */
  private async previousSnapshotUrl(prevUrl: string): Promise<Endpoint & { pathname: string }> {
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
    return { key: ep.key, pathname: new URL(prevUrl).pathname, ...(ep.snapshot ? { snapshot: ep.snapshot } : {}) };
  }

  /**
   * The changed pages in the range, from tracking or else by comparing contents, with the target's pages;
   * or Azurite's answer to pass on when a page list cannot be read.
   */
  private async diffRanges(d: DiffRequest): Promise<DiffResult | { answer: Buffered }> {
    const { range, prev, targetSnapshot } = d;
    // Diffing the live blob: no write may slip between reading its page list and the tracked set.
    const release = targetSnapshot ? undefined : await this.gates.exclusive([{ key: d.key, kind: 'snapshot' }]);
    try {
      const t = await this.pageList(d.pathname, targetSnapshot, range);
      if (t.status !== 200) return { answer: t };
      const targetLength = Number(header(t.headers, 'x-ms-blob-content-length') ?? 0);
      // The previous state may be shorter than the range asked (the disk grew): nothing allocated there.
      let p = await this.pageList(prev.pathname, prev.snapshot, range);
      if (p.status === 416) p = { ...p, status: 200, pages: new RangeSet(Number.MAX_SAFE_INTEGER) };
      if (p.status === 404) throw new HttpError(409, 'PreviousSnapshotNotFound', 'The previous snapshot is not found.');
      if (p.status !== 200) return { answer: p };
      const lo = range ? range[0] : 0;
      const hi = Math.min(targetLength, range ? range[1] : INFINITY);
      let changed = this.tracker.changedBetween(prev, { key: d.key, ...(targetSnapshot ? { snapshot: targetSnapshot } : {}) });
      if (changed) {
        changed = changed.clip(lo, hi);
      } else {
        log.info('diff without tracking: comparing contents', { target: d.key, prev: prev.key });
        changed = await this.compareContents(
          { pathname: d.pathname, snapshot: targetSnapshot, pages: t.pages.clip(lo, hi) },
          { pathname: prev.pathname, snapshot: prev.snapshot, pages: p.pages.clip(lo, hi) },
        );
      }
      return { changed, targetPages: t.pages, targetLength, headers: t.headers };
    } finally {
      release?.();
    }
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

}
