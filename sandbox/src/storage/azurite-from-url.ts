// Server-side copies inside Azurite (installed by azurite-child.ts): Put Page From URL, which Azurite
// 3.37 does not implement (501), and Put Block From URL, which it implements by reading the source
// over a loopback HTTPS GET to itself (TLS both ways, a new handshake per request, then MD5 and CRC-64
// of every block). Profiling a stream of 4 MiB copies showed that round trip costing Azurite more than
// the write itself; a storage service copies within its own stores, and so does this one now.
//
// The source's bytes are read from Azurite's metadata and extent stores and streamed through the
// checksum into a new extent, which becomes the destination's pages (Put Page From URL) or block (Put
// Block From URL): no HTTP, no TLS, no buffering of the data. What the service still decides from the
// request, it decides as Azure documents:
//  - Source access: the source must be readable with the request's credentials. A HEAD of the source URL,
//    sent to this same Azurite with the SAS in the URL or x-ms-copy-source-authorization and the source
//    conditions, goes through Azurite's own authentication. 404 and 403 answers become
//    CannotVerifyCopySource (with x-ms-copy-source-status-code), 304 and 412 SourceConditionNotMet.
//    An unconditional grant is remembered for 10 s per source URL and credential.
//  - Checksums: x-ms-source-content-md5 / -crc64 are checked against the bytes copied (Md5Mismatch or
//    Crc64Mismatch, nothing written). The response carries the checksum the service computed:
//    Content-MD5 when the request gave an MD5, else x-ms-content-crc64.
//  - Ranges: pages 512-aligned and at most 4 MiB, source and destination of equal length, the source
//    range inside the source (else InvalidSourceRange).
// A source on another host is not this service's to read: Put Page From URL still answers 501 for it
// (the storage front then copies it itself), Put Block From URL CannotVerifyCopySource 404 (as Azurite).
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { Crc64Nvme } from '@aws-sdk/crc64-nvme';
import { crc64Digest } from './azurite-checksums.ts';

const require = createRequire(import.meta.url);
const AZ = 'azurite/dist/src/blob';
const MAX_PAGE_WRITE = 4 * 1024 * 1024;

interface Persistency {
  id: string;
  offset: number;
  count: number;
}
interface BlobModel {
  properties: { contentLength?: number; blobType?: string };
  pageRangesInOrder?: Array<{ start: number; end: number; persistency: Persistency }>;
  committedBlocksInOrder?: Array<{ persistency: Persistency }>;
  persistency?: Persistency;
  isCommitted?: boolean;
}
interface AzuriteRequest {
  getHeader(name: string): string | undefined;
  getBodyStream(): unknown;
}
interface AzuriteContext {
  contextId?: string;
  request?: AzuriteRequest;
}
interface BlobCtx {
  account: string;
  container: string;
  blob: string;
  startTime: Date;
  contextId: string;
  request: AzuriteRequest;
}
interface MetadataStore {
  downloadBlob(context: AzuriteContext, account: string, container: string, blob: string, snapshot?: string, lease?: unknown, modified?: unknown): Promise<BlobModel>;
  uploadPages(context: AzuriteContext, blob: BlobModel, start: number, end: number, persistency: Persistency, lease?: unknown, modified?: unknown, sequence?: unknown): Promise<{ etag: string; blobSequenceNumber?: number }>;
  stageBlock(context: AzuriteContext, block: Record<string, unknown>, lease?: unknown): Promise<void>;
  checkContainerExist(context: AzuriteContext, account: string, container: string): Promise<void>;
}
interface ExtentStore {
  readExtent(chunk: Persistency | undefined, contextId?: string): Promise<Readable>;
  readExtents(chunks: Persistency[], offset: number, count: number, contextId?: string): Promise<Readable>;
  appendExtent(data: Readable, contextId?: string): Promise<Persistency>;
}
interface Handler {
  metadataStore: MetadataStore;
  extentStore: ExtentStore;
  rangesManager?: RangesManager;
  validateBlockId?(blockId: string, ctx: BlobCtx): void;
}
interface RangesManager {
  fillZeroRanges(ranges: NonNullable<BlobModel['pageRangesInOrder']>, range: { start: number; end: number }): Array<{ persistency: Persistency }>;
}
interface SourceConditions {
  sourceIfMatch?: string;
  sourceIfNoneMatch?: string;
  sourceIfModifiedSince?: Date | string;
  sourceIfUnmodifiedSince?: Date | string;
}
interface CopyOptions {
  sourceContentMD5?: Uint8Array;
  sourceContentcrc64?: Uint8Array;
  copySourceAuthorization?: string;
  sourceModifiedAccessConditions?: SourceConditions;
  leaseAccessConditions?: unknown;
  modifiedAccessConditions?: unknown;
  sequenceNumberAccessConditions?: unknown;
  requestId?: string;
}
type StorageErrorLike = Error & { statusCode?: number; storageErrorCode?: string; headers?: Record<string, string> };

const BlobStorageContext = (require(`${AZ}/context/BlobStorageContext.js`) as { default: new (context: AzuriteContext) => BlobCtx }).default;
const StorageError = (require(`${AZ}/errors/StorageError.js`) as { default: new (status: number, code: string, message: string, contextId: string, more?: Record<string, string>) => StorageErrorLike }).default;
const NotImplementedError = (require(`${AZ}/errors/NotImplementedError.js`) as { default: new (contextId: string) => Error }).default;
const Errors = (require(`${AZ}/errors/StorageErrorFactory.js`) as { default: Record<string, (...args: unknown[]) => StorageErrorLike> }).default;
const BlobWriteLeaseValidator = (require(`${AZ}/lease/BlobWriteLeaseValidator.js`) as { default: new (lease: unknown) => { validate(adapter: unknown, context: AzuriteContext): void } }).default;
const BlobLeaseAdapter = (require(`${AZ}/lease/BlobLeaseAdapter.js`) as { default: new (blob: BlobModel) => unknown }).default;
const PageBlobRangesManager = (require(`${AZ}/handlers/PageBlobRangesManager.js`) as { default: new () => RangesManager }).default;
const { BLOB_API_VERSION } = require(`${AZ}/utils/constants.js`) as { BLOB_API_VERSION: string };
const { deserializePageBlobRangeHeader } = require(`${AZ}/utils/utils.js`) as { deserializePageBlobRangeHeader(range?: string, xmsRange?: string, force512?: boolean): [number, number] };
const PageBlobHandler = (require(`${AZ}/handlers/PageBlobHandler.js`) as { default: { prototype: Record<string, unknown> } }).default;
const BlockBlobHandler = (require(`${AZ}/handlers/BlockBlobHandler.js`) as { default: { prototype: Record<string, unknown> } }).default;

const pageRanges = new PageBlobRangesManager();
/** Keep-alive connections for the source-access checks this Azurite sends to itself. */
const loopbackAgent = new https.Agent({ keepAlive: true, maxSockets: 64 });

/** Replaces Azurite's Put Page From URL and Put Block From URL with in-store copies. */
export function installServerSideCopies(): void {
  if (typeof PageBlobHandler.prototype.uploadPagesFromURL !== 'function' || typeof BlockBlobHandler.prototype.stageBlockFromURL !== 'function') {
    throw new Error('this Azurite version has no PageBlobHandler.uploadPagesFromURL / BlockBlobHandler.stageBlockFromURL to replace');
  }
  PageBlobHandler.prototype.uploadPagesFromURL = uploadPagesFromURL;
  BlockBlobHandler.prototype.stageBlockFromURL = stageBlockFromURL;
}

// ------------------------------------------------------------------------------ Put Page From URL

async function uploadPagesFromURL(this: Handler, sourceUrl: string, sourceRange: string, contentLength: number, _range: string, options: CopyOptions, context: AzuriteContext): Promise<unknown> {
  const ctx = new BlobStorageContext(context);
  const id = ctx.contextId;
  const url = parseUrl(sourceUrl, 'x-ms-copy-source', id);
  if (!sameServer(ctx, url)) throw new NotImplementedError(id);
  const invalidHeader = (name: string, value: string) => Errors.getInvalidHeaderValue!(id, { HeaderName: name, HeaderValue: value });
  if (contentLength !== 0) throw invalidHeader('Content-Length', String(contentLength));
  if ((ctx.request.getHeader('x-ms-page-write') ?? '').toLowerCase() !== 'update') throw invalidHeader('x-ms-page-write', ctx.request.getHeader('x-ms-page-write') ?? '');
  let dest: [number, number];
  try {
    dest = deserializePageBlobRangeHeader(ctx.request.getHeader('range'), ctx.request.getHeader('x-ms-range'), true);
  } catch {
    throw Errors.getInvalidPageRange!(id);
  }
  const src = /^bytes=(\d+)-(\d+)$/.exec(sourceRange ?? '');
  if (!src) throw invalidHeader('x-ms-source-range', sourceRange ?? '');
  const [start, end] = dest;
  const count = end - start + 1;
  if (!Number.isFinite(end) || Number(src[2]) - Number(src[1]) + 1 !== count) throw invalidHeader('x-ms-source-range', sourceRange);
  if (count > MAX_PAGE_WRITE) throw new StorageError(413, 'RequestBodyTooLarge', 'The request body is too large and exceeds the maximum permissible limit.', id);
  checkChecksumHeaders(options, id);

  // The destination first: nothing is read for a write that cannot happen.
  const blob = await this.metadataStore.downloadBlob(context, ctx.account, ctx.container, ctx.blob, undefined, options.leaseAccessConditions);
  if (blob.properties.blobType !== 'PageBlob') throw Errors.getBlobInvalidBlobType!(id);
  new BlobWriteLeaseValidator(options.leaseAccessConditions).validate(new BlobLeaseAdapter(blob), context);
  if (start >= (blob.properties.contentLength ?? 0)) throw Errors.getInvalidPageRange!(id);

  const copied = await copyFromSource(this, ctx, context, url, { start: Number(src[1]), count }, options);
  const result = await this.metadataStore.uploadPages(context, blob, start, end, copied.persistency, options.leaseAccessConditions, options.modifiedAccessConditions, options.sequenceNumberAccessConditions);
  return {
    statusCode: 201,
    eTag: result.etag,
    lastModified: ctx.startTime,
    contentMD5: copied.md5,
    xMsContentCrc64: copied.crc64,
    blobSequenceNumber: result.blobSequenceNumber,
    requestId: id,
    version: BLOB_API_VERSION,
    date: ctx.startTime,
    isServerEncrypted: true,
  };
}

// ------------------------------------------------------------------------------ Put Block From URL

async function stageBlockFromURL(this: Handler, blockId: string, contentLength: number, sourceUrl: string, options: CopyOptions & { sourceRange?: string }, context: AzuriteContext): Promise<unknown> {
  const ctx = new BlobStorageContext(context);
  const id = ctx.contextId;
  if (contentLength !== 0) throw Errors.getInvalidHeaderValue!(id, { HeaderName: 'Content-Length', HeaderValue: String(contentLength) });
  this.validateBlockId?.(blockId, ctx);
  checkChecksumHeaders(options, id);
  await this.metadataStore.checkContainerExist(context, ctx.account, ctx.container);
  const url = parseUrl(sourceUrl, 'x-ms-copy-source', id);
  if (!sameServer(ctx, url)) throw Errors.getCannotVerifyCopySource!(id, 404, 'The specified resource does not exist');
  let range: { start: number; count?: number } = { start: 0 };
  if (options.sourceRange !== undefined) {
    const m = /^bytes=(\d+)-(\d*)$/.exec(options.sourceRange);
    if (!m || (m[2] !== '' && Number(m[2]) < Number(m[1]))) throw Errors.getInvalidHeaderValue!(id, { HeaderName: 'x-ms-source-range', HeaderValue: options.sourceRange });
    range = { start: Number(m[1]), ...(m[2] !== '' ? { count: Number(m[2]) - Number(m[1]) + 1 } : {}) };
  }
  const copied = await copyFromSource(this, ctx, context, url, range, options);
  await this.metadataStore.stageBlock(
    context,
    { accountName: ctx.account, containerName: ctx.container, blobName: ctx.blob, isCommitted: false, name: blockId, size: copied.persistency.count, persistency: copied.persistency },
    options.leaseAccessConditions,
  );
  return { statusCode: 201, contentMD5: copied.md5, xMsContentCrc64: copied.crc64, requestId: id, version: BLOB_API_VERSION, date: ctx.startTime, isServerEncrypted: true, clientRequestId: options.requestId };
}

// ------------------------------------------------------------------------------ the copy

function parseUrl(value: string, header: string, id: string): URL {
  try {
    return new URL(value);
  } catch {
    throw Errors.getInvalidHeaderValue!(id, { HeaderName: header, HeaderValue: value });
  }
}

/** Whether the source URL names this service (Azurite's own rule: the host the request came in on). */
function sameServer(ctx: BlobCtx, url: URL): boolean {
  return (ctx.request.getHeader('host') ?? '').toLowerCase() === url.host;
}

function checkChecksumHeaders(options: CopyOptions, id: string): void {
  if (options.sourceContentMD5 !== undefined && options.sourceContentcrc64 !== undefined) throw Errors.getBothCrc64AndMd5HeaderPresent!(id);
  if (options.sourceContentMD5 !== undefined && options.sourceContentMD5.length !== 16) throw Errors.getInvalidMd5!(id);
  if (options.sourceContentcrc64 !== undefined && options.sourceContentcrc64.length < 8) {
    throw Errors.getInvalidHeaderValue!(id, { HeaderName: 'x-ms-source-content-crc64', HeaderValue: Buffer.from(options.sourceContentcrc64).toString('base64') });
  }
}

/**
 * Copies `range` of the source into a new extent: access check, then the bytes from the stores through
 * the checksum. Returns the extent and the checksum computed (MD5 when one was given, else CRC-64).
 */
async function copyFromSource(handler: Handler, ctx: BlobCtx, context: AzuriteContext, url: URL, range: { start: number; count?: number }, options: CopyOptions): Promise<{ persistency: Persistency; md5?: Uint8Array; crc64?: Uint8Array }> {
  const id = ctx.contextId;
  await checkSourceAccess(ctx, url, options);
  const parts = url.pathname.split('/').slice(1).map((p) => decodeURIComponent(p));
  const [account, container, ...name] = parts;
  let source: BlobModel;
  try {
    source = await handler.metadataStore.downloadBlob(context, account ?? '', container ?? '', name.join('/'), url.searchParams.get('snapshot') ?? '');
  } catch (error) {
    const e = error as StorageErrorLike;
    if (e.statusCode === 404) throw cannotVerify(id, 404, 'The specified resource does not exist', e.storageErrorCode);
    throw error;
  }
  if (source.isCommitted === false) throw cannotVerify(id, 404, 'The specified resource does not exist', 'BlobNotFound');
  const size = source.properties.contentLength ?? 0;
  const count = range.count ?? size - range.start;
  if (range.start + count > size || count < 0) {
    throw new StorageError(400, 'InvalidSourceRange', `The source range ${range.start}+${count} is outside the source of ${size} bytes.`, id);
  }

  const md5 = options.sourceContentMD5 !== undefined ? createHash('md5') : undefined;
  const crc = md5 ? undefined : new Crc64Nvme();
  const bytes = await readSource(handler, source, range.start, count, id);
  // Object mode on the way out: the store takes each buffer as it is (a byte stream would join them).
  const through = new Transform({
    readableObjectMode: true,
    transform(chunk: Buffer, _encoding, done) {
      md5?.update(chunk);
      crc?.update(chunk);
      done(null, chunk);
    },
  });
  bytes.on('error', (error) => through.destroy(error));
  const persistency = await handler.extentStore.appendExtent(bytes.pipe(through), id);
  if (persistency.count !== count) throw new StorageError(400, 'InvalidSourceRange', `The source range returned ${persistency.count} bytes, expected ${count}.`, id);

  if (md5) {
    const computed = md5.digest();
    if (!computed.equals(Buffer.from(options.sourceContentMD5!))) throw Errors.getMd5Mismatch!(id, Buffer.from(options.sourceContentMD5!).toString('base64'), computed.toString('base64'));
    return { persistency, md5: new Uint8Array(computed) };
  }
  const computed = await crc64Digest(crc!);
  if (options.sourceContentcrc64 !== undefined && !computed.equals(Buffer.from(options.sourceContentcrc64).subarray(0, 8))) {
    throw Errors.getCrc64Mismatch!(id, Buffer.from(options.sourceContentcrc64).toString('base64'), computed.toString('base64'));
  }
  return { persistency, crc64: new Uint8Array(computed) };
}

/**
 * The source's bytes [start, start+count) from the stores (unwritten pages read as zeros), extent piece
 * after extent piece. (Azurite's readExtents joins its pieces with a stream that copies every buffer it
 * holds into one on each read; this passes the stored buffers on as they are.)
 */
async function readSource(handler: Handler, blob: BlobModel, start: number, count: number, id: string): Promise<Readable> {
  let chunks: Persistency[];
  let offset = start;
  if (blob.properties.blobType === 'PageBlob') {
    chunks = pageRanges.fillZeroRanges(blob.pageRangesInOrder ?? [], { start, end: start + count - 1 }).map((r) => r.persistency);
    offset = 0;
  } else if ((blob.committedBlocksInOrder ?? []).length > 0) {
    chunks = blob.committedBlocksInOrder!.map((b) => b.persistency);
  } else {
    chunks = blob.persistency ? [blob.persistency] : [];
  }
  const pieces = slice(chunks, offset, count);
  const out = new PassThrough();
  // Piped (flowing) one piece after another: each stored buffer passes on as it is.
  (async () => {
    for (const piece of pieces) {
      const part = await handler.extentStore.readExtent(piece, id);
      await new Promise<void>((resolve, reject) => {
        part.once('end', resolve).once('error', reject).pipe(out, { end: false });
      });
    }
    out.end();
  })().catch((error: unknown) => out.destroy(error as Error));
  return out;
}

/** The parts of `chunks` (laid end to end) that cover [offset, offset+count). */
export function slice(chunks: readonly Persistency[], offset: number, count: number): Persistency[] {
  const out: Persistency[] = [];
  const end = offset + count;
  let at = 0;
  for (const chunk of chunks) {
    const next = at + chunk.count;
    if (next > offset && at < end) {
      const from = Math.max(offset, at) - at;
      const to = Math.min(end, next) - at;
      out.push({ id: chunk.id, offset: chunk.offset + from, count: to - from });
    }
    if (next >= end) break;
    at = next;
  }
  return out;
}

/**
 * Source access granted recently, by source URL and credential: a copy made of many chunks (a capture
 * reads one restore point SAS thousands of times a cycle) is checked once per ACCESS_TTL_MS, not once per
 * chunk. Only unconditional checks are remembered. (A revoked SAS already stays valid in this sandbox
 * until it expires; a deleted source is still found missing by the copy itself.)
 */
const ACCESS_TTL_MS = 10_000;
const ACCESS_MEMORY = 1024;
const granted = new Map<string, number>();

/** HEAD of the source, sent to this Azurite with the request's source credentials and conditions. */
async function checkSourceAccess(ctx: BlobCtx, url: URL, options: CopyOptions): Promise<void> {
  const c = options.sourceModifiedAccessConditions ?? {};
  const conditional = Object.values(c).some((v) => v !== undefined);
  const key = `${url.href}\n${options.copySourceAuthorization ?? ''}`;
  if (!conditional && (granted.get(key) ?? 0) > Date.now()) return;
  await askSourceAccess(ctx, url, options);
  if (conditional) return;
  granted.delete(key);
  granted.set(key, Date.now() + ACCESS_TTL_MS);
  if (granted.size > ACCESS_MEMORY) granted.delete(granted.keys().next().value!);
}

async function askSourceAccess(ctx: BlobCtx, url: URL, options: CopyOptions): Promise<void> {
  const id = ctx.contextId;
  const raw = ctx.request.getBodyStream() as IncomingMessage;
  const headers: Record<string, string> = { host: url.host, 'x-ms-version': ctx.request.getHeader('x-ms-version') ?? BLOB_API_VERSION };
  if (options.copySourceAuthorization) headers.authorization = options.copySourceAuthorization;
  const c = options.sourceModifiedAccessConditions ?? {};
  if (c.sourceIfMatch !== undefined) headers['if-match'] = c.sourceIfMatch;
  if (c.sourceIfNoneMatch !== undefined) headers['if-none-match'] = c.sourceIfNoneMatch;
  if (c.sourceIfModifiedSince !== undefined) headers['if-modified-since'] = new Date(c.sourceIfModifiedSince).toUTCString();
  if (c.sourceIfUnmodifiedSince !== undefined) headers['if-unmodified-since'] = new Date(c.sourceIfUnmodifiedSince).toUTCString();
  // Pinned to the address and port this request arrived on: the peer is this very server.
  const address = raw.socket.localAddress ?? '127.0.0.1';
  const answer = await new Promise<{ status: number; code: string | undefined }>((resolve, reject) => {
    const r = https.request(
      { host: address, port: raw.socket.localPort, method: 'HEAD', path: `${url.pathname}${url.search}`, headers, agent: loopbackAgent },
      (res) => {
        res.resume();
        const code = res.headers['x-ms-error-code'];
        resolve({ status: res.statusCode ?? 500, code: Array.isArray(code) ? code[0] : code });
      },
    );
    r.on('error', reject);
    r.end();
  }).catch(() => {
    throw cannotVerify(id, 500, 'Could not verify the copy source within the specified time.', undefined);
  });
  if (answer.status === 200) return;
  if (answer.status === 304 || answer.status === 412) throw Errors.getSourceConditionNotMet!(id);
  throw cannotVerify(id, answer.status === 404 ? 404 : 403, answer.status === 404 ? 'The specified resource does not exist' : 'Could not verify the copy source within the specified time.', answer.code, answer.status);
}

function cannotVerify(id: string, status: number, message: string, sourceCode: string | undefined, sourceStatus = status): StorageErrorLike {
  const error = Errors.getCannotVerifyCopySource!(id, status, message);
  error.headers = { ...error.headers, 'x-ms-copy-source-status-code': String(sourceStatus), ...(sourceCode ? { 'x-ms-copy-source-error-code': sourceCode } : {}) };
  return error;
}
