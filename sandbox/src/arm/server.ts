// HTTPS front of the ARM emulator: authentication (any bearer token), api-version, fault injection,
// ARM's throttling (throttling.ts, when on), per-operation and per-client statistics, JSON bodies and ARM's
// standard response headers; then dispatch to the engine.
import crypto from 'node:crypto';
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../../src/util/logger.ts';
import type { ArmEngine, LatencyConfig, Reply, RequestContext } from './engine.ts';
import { ArmError } from './errors.ts';
import { dispatchRequest } from './dispatch.ts';
import type { FaultInjector, FaultRule } from './faults.ts';
import { parseArmPath } from './paths.ts';
import type { ParsedPath } from './paths.ts';
import { principalOf, requestAction } from './rbac.ts';
import type { ArmRbac, RoleAssignment } from './rbac.ts';
import { outageFault, regionOfRequest } from './regions.ts';
import type { ArmStats } from './stats.ts';
import type { ArmThrottling, ThrottlingConfig } from './throttling.ts';

const log = createLogger('sandbox-arm');

export interface ServerDeps {
  engine: ArmEngine;
  faults: FaultInjector;
  stats: ArmStats;
  throttling: ArmThrottling;
  rbac: ArmRbac;
  setLatency(l: number | Partial<LatencyConfig>): void;
}

/** Operation key used by stats and fault rules: `PUT Microsoft.Compute/virtualMachines`, `LIST ...`, `POST .../start`. */
export function operationKey(engine: ArmEngine, method: string, p: ParsedPath): string {
  switch (p.kind) {
    case 'resourceGroups':
      return `LIST Microsoft.Resources/resourceGroups`;
    case 'resourceGroup':
      return `${method} Microsoft.Resources/resourceGroups`;
    case 'operation':
    case 'rgOperationResult':
      return `GET operationStatus`;
    case 'genericResources':
      return `LIST Microsoft.Resources/resources`;
    case 'subscriptionProvider': {
      const h = engine.handler(`${p.ns}/${p.segment}`);
      return h ? `LIST ${h.type}` : `${method} ${p.ns}/${p.segment}`;
    }
    case 'resource': {
      const types: string[] = [];
      for (let i = 0; i < p.segments.length; i += 2) types.push(p.segments[i]!);
      const odd = p.segments.length % 2 === 1;
      const chain = `${p.ns}/${types.join('/')}`;
      const h = engine.handler(chain);
      if (!odd) return `${method} ${h?.type ?? chain}`;
      if (h) return `LIST ${h.type}`;
      const parentChain = `${p.ns}/${types.slice(0, -1).join('/')}`;
      const ph = engine.handler(parentChain);
      return `${method} ${ph?.type ?? parentChain}/${types[types.length - 1]}`;
    }
    default:
      return `${method} unknown`;
  }
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(req: http.IncomingMessage, res: http.ServerResponse, reply: Reply): void {
  const requestId = crypto.randomUUID();
  const correlation = req.headers['x-ms-correlation-request-id'];
  const headers: Record<string, string> = {
    'x-ms-request-id': requestId,
    'x-ms-correlation-request-id': typeof correlation === 'string' ? correlation : requestId,
    'Cache-Control': 'no-cache',
    ...reply.headers,
  };
  const clientRequestId = req.headers['x-ms-client-request-id'];
  if (typeof clientRequestId === 'string') headers['x-ms-client-request-id'] = clientRequestId;
  let payload: string | undefined;
  if (reply.body !== undefined && reply.status !== 204 && req.method !== 'HEAD') {
    payload = JSON.stringify(reply.body);
    headers['Content-Type'] = 'application/json; charset=utf-8';
  }
  headers['Content-Length'] = String(payload ? Buffer.byteLength(payload) : 0);
  res.writeHead(reply.status, headers);
  res.end(payload);
}

const errorReply = (e: ArmError): Reply => ({ status: e.status, body: e.toBody(), headers: e.headers });

export function createArmServer(
  deps: ServerDeps,
  tlsOptions: { cert: string; key: string },
): https.Server {
  const server = https.createServer({ ...tlsOptions, keepAlive: true }, (req, res) => {
    handle(deps, req, res).catch((e: unknown) => {
      log.error('request failed', { error: String(e) });
      if (!res.headersSent && !res.destroyed) send(req, res, toReply(e));
    });
  });
  return server;
}

/** One request: authentication, the sandbox's control endpoints, an injected fault, ARM's throttling, else the engine. */
async function handle(deps: ServerDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const { engine, faults, stats, throttling } = deps;
  const method = (req.method ?? 'GET').toUpperCase();
  const url = new URL(req.url ?? '/', 'https://arm.local');
  if (!authenticated(req, res)) return;
  if (url.pathname.startsWith('/_sandbox/')) {
    send(req, res, await handleControl(deps, req, url).catch((e: unknown) => toReply(e)));
    return;
  }

  const parsed = parseArmPath(url.pathname);
  const opKey = operationKey(engine, method, parsed);
  const userAgent = req.headers['user-agent'];
  const record = (status: number): void =>
    stats.record({ method, path: url.pathname, operation: opKey, status, time: new Date().toISOString(), userAgent });

  const fault = faults.take(method, url.pathname, opKey);
  if (fault) {
    log.debug('fault injected', { kind: fault.kind, method, path: url.pathname });
    if ((await injectFault(fault, req, res, record)) === 'answered') return;
  }

  // Azure RBAC (rbac.ts): the caller's role assignments must allow the request's action at its scope.
  const action = requestAction(method, parsed);
  const denied = action ? deps.rbac.check(principalOf(req.headers.authorization), action) : undefined;
  if (denied) {
    req.resume();
    record(denied.status);
    send(req, res, errorReply(denied));
    return;
  }

  // ARM's own limits come before the resource provider sees the request (throttling.ts).
  const admitted = throttling.admit({ method, subscriptionId: subscriptionOf(url.pathname), authorization: req.headers.authorization });
  if (admitted?.throttled) {
    req.resume();
    record(admitted.error.status);
    send(req, res, errorReply(admitted.error));
    return;
  }

  let reply: Reply;
  try {
    const ctx = await requestContext(req, method, url);
    // A resource in a region that is down (`sandbox outage`): the request fails, nothing changes.
    const down = engine.outages.nextArmFailure(regionOfRequest(engine, parsed, ctx));
    if (down) {
      await injectFault(outageFault(down.failure, down.outage.region), req, res, record);
      return;
    }
    reply = await dispatchRequest(engine, ctx, parsed);
  } catch (e) {
    reply = toReply(e);
  }
  if (admitted) reply = { ...reply, headers: { ...reply.headers, ...admitted.headers } };
  record(reply.status);
  if (!res.destroyed) send(req, res, reply);
}

const subscriptionOf = (pathname: string): string | undefined => /^\/subscriptions\/([^/]+)/i.exec(pathname)?.[1];

/** Any bearer token is accepted; without one, ARM's 401. Returns whether the request may go on. */
function authenticated(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  const auth = req.headers.authorization;
  if (auth && /^Bearer\s+\S+/i.test(auth)) return true;
  req.resume();
  send(req, res, {
    status: 401,
    headers: {
      'WWW-Authenticate':
        'Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="The authentication failed because of missing \'Authorization\' header."',
    },
    body: { error: { code: 'AuthenticationFailed', message: "Authentication failed. The 'Authorization' header is missing." } },
  });
  return false;
}

/**
 * `/_sandbox/{stats,faults,latency,idle,throttling,rbac}`: what tests and `sandbox arm-stats` use to observe and
 * steer the emulator (GET stats[?reset=true]: ArmStatsSummary plus `operations`, calls per operation key; GET/PUT
 * throttling: `{enabled, scale, region}`, see ../throttle.ts); `/_sandbox/outages[/{region}]` (GET the list, PUT `{failures?}` takes a region down, DELETE
 * brings it back): what `sandbox outage` / `restore` and ../outage.ts use; GET rbac[?reset=true]: `{enabled, assignments,
 * audit, denied}` (audit: actions used per principal), PUT rbac `{enabled?, assignments?}` (rbac.ts).
 */
async function handleControl(deps: ServerDeps, req: http.IncomingMessage, url: URL): Promise<Reply> {
  const { engine, faults, stats } = deps;
  const body = req.method === 'GET' || req.method === 'DELETE' ? undefined : parseJson(await readBody(req));
  const what = url.pathname.replace(/^\/_sandbox\//, '');
  if (what === 'stats' && req.method === 'GET') {
    const body = { ...stats.summary(), operations: stats.byOperation() };
    if (url.searchParams.get('reset') === 'true') stats.reset(); // read and reset in one step: no request is lost in between
    return { status: 200, body };
  }
  if (what === 'stats' && req.method === 'DELETE') {
    stats.reset();
    return { status: 204 };
  }
  if (what === 'rbac' && req.method === 'GET') {
    const body = { enabled: deps.rbac.enabled, assignments: deps.rbac.assignments, audit: deps.rbac.audit(), denied: deps.rbac.denied() };
    if (url.searchParams.get('reset') === 'true') deps.rbac.resetAudit();
    return { status: 200, body };
  }
  if (what === 'rbac' && req.method === 'PUT') return configureRbac(deps.rbac, body);
  if (what === 'throttling' && req.method === 'GET') return { status: 200, body: deps.throttling.config };
  if (what === 'throttling' && req.method === 'PUT') return configureThrottling(deps.throttling, body);
  if (what === 'faults' && req.method === 'GET') return { status: 200, body: { value: faults.list() } };
  if (what === 'faults' && req.method === 'POST') return { status: 201, body: faults.inject(body as FaultRule) };
  if (what === 'faults' && req.method === 'DELETE') {
    faults.clear();
    return { status: 204 };
  }
  if (what === 'latency' && req.method === 'PUT') {
    deps.setLatency(body as number | Partial<LatencyConfig>);
    return { status: 200, body: engine.config.latency };
  }
  if (what === 'outages' && req.method === 'GET') return { status: 200, body: { value: engine.outages.list() } };
  const region = /^outages\/([^/]+)$/.exec(what)?.[1];
  if (region && req.method === 'PUT') return startOutage(engine, decodeURIComponent(region), body);
  if (region && req.method === 'DELETE') {
    const ended = engine.outages.end(decodeURIComponent(region));
    if (!ended) throw new ArmError(404, 'NotFound', `region ${decodeURIComponent(region)} is not down`);
    return { status: 204 };
  }
  if (what === 'idle' && req.method === 'POST') {
    await engine.idle();
    return { status: 204 };
  }
  throw new ArmError(404, 'NotFound', `unknown sandbox control ${req.method} ${url.pathname}`);
}

function configureRbac(rbac: ArmRbac, body: unknown): Reply {
  const b = (body ?? {}) as { enabled?: unknown; assignments?: unknown };
  const assignmentOk = (a: unknown): boolean => {
    const x = a as Partial<RoleAssignment> | null;
    return !!x && typeof x.principalId === 'string' && typeof x.scope === 'string' && !!x.role && Array.isArray(x.role.Actions);
  };
  if ((b.enabled !== undefined && typeof b.enabled !== 'boolean') || (b.assignments !== undefined && !(Array.isArray(b.assignments) && b.assignments.every(assignmentOk)))) {
    throw new ArmError(400, 'InvalidRequestContent', 'expected {enabled?: boolean, assignments?: [{principalId, scope, role: {Name, Actions, NotActions?}}]}');
  }
  return { status: 200, body: rbac.configure(b as { enabled?: boolean; assignments?: RoleAssignment[] }) };
}

function configureThrottling(throttling: ArmThrottling, body: unknown): Reply {
  const b = (body ?? {}) as Partial<Record<keyof ThrottlingConfig, unknown>>;
  if ((b.enabled !== undefined && typeof b.enabled !== 'boolean') || (b.scale !== undefined && typeof b.scale !== 'number') || (b.region !== undefined && typeof b.region !== 'string')) {
    throw new ArmError(400, 'InvalidRequestContent', 'expected {enabled?: boolean, scale?: number, region?: string}');
  }
  try {
    return { status: 200, body: throttling.configure(b as Partial<ThrottlingConfig>) };
  } catch (e) {
    throw new ArmError(400, 'InvalidRequestContent', (e as Error).message);
  }
}

function startOutage(engine: ArmEngine, region: string, body: unknown): Reply {
  const failures = (body as { failures?: unknown } | undefined)?.failures;
  try {
    return { status: 200, body: engine.outages.start(region, Array.isArray(failures) ? failures : undefined) };
  } catch (e) {
    throw new ArmError(400, 'InvalidRequestContent', (e as Error).message);
  }
}

/**
 * Acts out an injected fault: the connection dropped, a hang (until the client gives up, or for a while and
 * then processed normally), a throttle (429 with Retry-After), an error or a conflict. 'answered' when the
 * request is done with, 'go on' when it is to be processed normally.
 */
async function injectFault(fault: FaultRule, req: http.IncomingMessage, res: http.ServerResponse, record: (status: number) => void): Promise<'answered' | 'go on'> {
  switch (fault.kind) {
    case 'drop':
      record(0);
      req.socket.destroy();
      return 'answered';
    case 'hang': {
      const closed = new Promise<void>((r) => res.once('close', () => r()));
      if (fault.delayMs === undefined) {
        await closed;
        record(0);
        return 'answered';
      }
      await Promise.race([closed, new Promise((r) => setTimeout(r, fault.delayMs))]);
      if (res.destroyed || res.writableEnded) {
        record(0);
        return 'answered';
      }
      return 'go on'; // then processed normally
    }
    case 'throttle': {
      req.resume();
      const e = new ArmError(
        fault.status ?? 429,
        fault.code ?? 'TooManyRequests',
        fault.message ?? 'The request is being throttled as the limit has been reached for operation type. Retry after the time in Retry-After.',
        { headers: { 'Retry-After': String(fault.retryAfterSeconds ?? 1) } },
      );
      record(e.status);
      send(req, res, errorReply(e));
      return 'answered';
    }
    case 'error':
    case 'conflict': {
      req.resume();
      const e =
        fault.kind === 'error'
          ? new ArmError(fault.status ?? 500, fault.code ?? 'InternalServerError', fault.message ?? 'Encountered internal server error. Diagnostic information: injected fault.')
          : new ArmError(fault.status ?? 409, fault.code ?? 'Conflict', fault.message ?? 'Another operation on this or dependent resource is in progress.');
      if (fault.retryAfterSeconds !== undefined) e.headers['Retry-After'] = String(fault.retryAfterSeconds);
      record(e.status);
      send(req, res, errorReply(e));
      return 'answered';
    }
  }
}

/** What the engine sees of a request: api-version is required, the body is JSON for PUT, POST and PATCH. */
async function requestContext(req: http.IncomingMessage, method: string, url: URL): Promise<RequestContext> {
  const apiVersion = url.searchParams.get('api-version');
  if (!apiVersion) {
    req.resume();
    throw new ArmError(
      400,
      'MissingApiVersionParameter',
      "The api-version query parameter (?api-version=) is required for all requests.",
    );
  }
  const raw = method === 'PUT' || method === 'POST' || method === 'PATCH' ? await readBody(req) : (req.resume(), Buffer.alloc(0));
  return {
    method,
    path: url.pathname,
    query: url.searchParams,
    body: parseJson(raw),
    apiVersion,
    headers: req.headers,
  };
}

function parseJson(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new ArmError(400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized.');
  }
}

function toReply(e: unknown): Reply {
  if (e instanceof ArmError) return errorReply(e);
  log.error('internal error', { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  return errorReply(new ArmError(500, 'InternalServerError', `Encountered internal server error: ${String(e)}`));
}

export function listen(server: https.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
