/**
 * One set of ARM clients per process, built from configuration: endpoint (public cloud by default),
 * credential, deadlines on every call, retries that honour Retry-After, and a request counter for metrics.
 *
 * No call waits forever on a dead endpoint (a region that is down answers nothing, or hangs):
 *  - each HTTP attempt has a timeout (`requestTimeoutMs`, default 30 s): the pipeline's `timeout` field,
 *    which the SDK's HTTP client enforces until the response headers arrive. The client reports a
 *    timed-out attempt as an AbortError, which the retry policy would not retry; it is turned into a
 *    RestError with code ETIMEDOUT here so the SDK's exponential strategy retries it like a reset;
 *  - each call — every attempt, the backoff between them and any Retry-After wait — has a deadline
 *    (`callTimeoutMs`, default 120 s), applied as the request's abortSignal by a per-call policy, so a
 *    long Retry-After or a string of hung attempts fails the call instead of holding its caller; the
 *    caller's own abortSignal still cancels it earlier;
 *  - retries are the SDK's own policies (client-level `retryOptions`): at most `maxRetries` (default 6),
 *    429 and 503 honour Retry-After (throttling strategy), other 5xx and network errors back off
 *    exponentially (0.8 s doubling, at most 60 s). They are the well-supported mechanism every Azure SDK
 *    client shares, and they see the ARM response (Retry-After) that a wrapper around the call cannot.
 * A long-running operation is many calls (the first request, then polls): its overall wait needs the
 * caller's deadline on top (the datapath's `lroTimeoutMs`; the operator never waits on an LRO). Its polls
 * follow the service: the SDK's poller waits the Retry-After of each poll's answer, as ARM asks of clients
 * polling an Azure-AsyncOperation or Location URL ("Retry-After - The number of seconds to wait before
 * checking the status of the asynchronous operation", https://learn.microsoft.com/en-us/azure/
 * azure-resource-manager/management/async-operations); a caller's `updateIntervalInMs` is only the wait
 * when an answer has none (test/integration/sandbox-arm-throttling.test.ts shows the datapath's polls).
 * The operator starts an operation and returns (`followOperations`): the next reconcile polls it, after
 * the Retry-After its last answer gave (operation-polls.ts, `operationStatus`).
 * The blob storage clients of the datapath get the same per-call deadline (`sendWithDeadline`) from
 * src/datapath/storage.ts.
 *
 * A process given an ARM budget gate (arm-budget-gate.ts: the datapath's share of the subscription's
 * buckets) makes each attempt of each request wait for a token of its kind first, inside the retries and
 * the call's deadline: a call that cannot get a token in time fails like one that got no answer.
 *
 * Each process names itself in the User-Agent of its ARM calls (`component`: `site-recovery-operator`,
 * `site-recovery-datapath`, `site-recovery-cli` before the SDK's own tokens, through the SDK's
 * `userAgentOptions.userAgentPrefix`), so that ARM-side request logs and the sandbox's `arm-stats` tell
 * which component spends the subscription's request budget.
 *
 * The clients address one subscription (the SDK puts it in every path). A resource of another subscription
 * (a ReplicatedVM's spec.targetSubscriptionId: its failover's VM, disks and NICs) is acted on through
 * `forSubscription` / `forResource`: clients of the same configuration, credential, budget and followed
 * operations, for that subscription, built once per subscription.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { ComputeManagementClient } from '@azure/arm-compute';
import type * as NetworkSdk from '@azure/arm-network';
import type { NetworkManagementClient } from '@azure/arm-network';
import type * as ResourcesSdk from '@azure/arm-resources';
import type { ResourceManagementClient } from '@azure/arm-resources';
import { StorageManagementClient } from '@azure/arm-storage';
import type { TokenCredential } from '@azure/core-auth';
import { createDefaultHttpClient, RestError, type HttpClient, type PipelinePolicy, type PipelineRequest } from '@azure/core-rest-pipeline';
import { azureRequests } from '../runtime/metrics.ts';
import { parseArmBudget, type ArmBudgetLimits } from './arm-budget.ts';
import { armBudgetPolicy, type ArmBudgetGate } from './arm-budget-gate.ts';
import { armRefusalPolicy, responseOfRefusal } from './arm-error-body.ts';
import { credentialFromEnvironment } from './credential.ts';
import { OperationPolls, type OperationStatus } from './operation-polls.ts';

/** Which of our processes makes the calls (see the header). */
export type AzureComponent = 'operator' | 'datapath' | 'cli';

/** The User-Agent product token of a component, before the SDK's own. */
export const userAgentPrefix = (component: AzureComponent): string => `site-recovery-${component}`;

export interface AzureConfig {
  subscriptionId: string;
  /** Names the process in the User-Agent of its ARM calls (none: the SDK's User-Agent alone). */
  component?: AzureComponent;
  /** ARM endpoint; default https://management.azure.com. */
  resourceManagerEndpoint?: string;
  credential: TokenCredential;
  /** Timeout of one HTTP attempt (until the response headers arrive). Default 30 s. */
  requestTimeoutMs?: number;
  /** Deadline of one call: all its attempts, backoff and Retry-After waits. Default 120 s. */
  callTimeoutMs?: number;
  /** Retries per call (429 with Retry-After, 5xx, timeouts, network errors). Default 6. */
  maxRetries?: number;
  /** Overall wait of one long-running operation the datapath waits on (restore point, grant). Default 10 min. */
  lroTimeoutMs?: number;
  /** Blob storage (the datapath): timeout of one attempt (default 60 s) and attempts per request (default 4). */
  storageTimeoutMs?: number;
  storageMaxTries?: number;
  /** Blob storage (the datapath): deadline of one call, its attempts and backoff included. Default 90 s. */
  storageCallTimeoutMs?: number;
  /**
   * The ARM request budget of the subscription, region and principal (arm-budget.ts): the datapath's
   * replicas share it, the operator checks policies' intervals against it. Default ARM's published
   * buckets; `off`: none.
   */
  armBudget?: ArmBudgetLimits | 'off';
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_CALL_TIMEOUT_MS = 120_000;

export function azureConfigFromEnvironment(component?: AzureComponent, env: NodeJS.ProcessEnv = process.env): AzureConfig {
  const subscriptionId = env.AZURE_SUBSCRIPTION_ID;
  if (!subscriptionId) throw new Error('AZURE_SUBSCRIPTION_ID is not set');
  return {
    subscriptionId,
    ...(component ? { component } : {}),
    resourceManagerEndpoint: env.AZURE_RESOURCE_MANAGER_ENDPOINT || undefined,
    credential: credentialFromEnvironment(env),
    requestTimeoutMs: numberFrom(env.SITE_RECOVERY_AZURE_TIMEOUT_MS),
    callTimeoutMs: numberFrom(env.SITE_RECOVERY_AZURE_CALL_TIMEOUT_MS),
    maxRetries: numberFrom(env.SITE_RECOVERY_AZURE_MAX_RETRIES),
    lroTimeoutMs: numberFrom(env.SITE_RECOVERY_AZURE_LRO_TIMEOUT_MS),
    storageTimeoutMs: numberFrom(env.SITE_RECOVERY_STORAGE_TIMEOUT_MS),
    storageMaxTries: numberFrom(env.SITE_RECOVERY_STORAGE_MAX_TRIES),
    storageCallTimeoutMs: numberFrom(env.SITE_RECOVERY_STORAGE_CALL_TIMEOUT_MS),
    ...(env.SITE_RECOVERY_ARM_BUDGET ? { armBudget: parseArmBudget(env.SITE_RECOVERY_ARM_BUDGET) ?? 'off' } : {}),
  };
}

function numberFrom(value: string | undefined): number | undefined {
  return value ? Number(value) : undefined;
}

type AbortSignalLike = NonNullable<PipelineRequest['abortSignal']>;

/** What a deadline needs of a request: a PipelineRequest, or the WebResource a storage client's policy sees. */
export interface DeadlineRequest {
  method: string;
  url: string;
  abortSignal?: AbortSignalLike | undefined;
  timeout: number;
}

const describe = (request: DeadlineRequest): string => `${request.method} ${new URL(request.url).pathname}`;

/** An attempt that got no answer within `request.timeout`, as a RestError the retry policies retry (a reset's). */
function attemptTimedOut(request: DeadlineRequest): RestError {
  return new RestError(`${describe(request)}: no answer within ${request.timeout / 1000}s`, { code: 'ETIMEDOUT' });
}

/** Per attempt: the HTTP timeout, and a timed-out attempt reported as a retryable ETIMEDOUT. */
function attemptTimeoutPolicy(timeoutMs: number): PipelinePolicy {
  return {
    name: 'siteRecoveryAttemptTimeout',
    async sendRequest(request, next) {
      if (!request.timeout) request.timeout = timeoutMs;
      const started = Date.now();
      try {
        return await next(request);
      } catch (error) {
        const timedOut = (error as Error).name === 'AbortError' && !request.abortSignal?.aborted && Date.now() - started >= request.timeout;
        if (!timedOut) throw error;
        throw attemptTimedOut(request);
      }
    },
  };
}

/** Aborts when either aborts (the caller's signal may be any AbortSignalLike, not a DOM AbortSignal). */
function anySignal(caller: AbortSignalLike, deadline: AbortSignal): AbortSignal {
  if (caller instanceof AbortSignal) return AbortSignal.any([caller, deadline]);
  const both = new AbortController();
  if (caller.aborted) both.abort();
  caller.addEventListener('abort', () => both.abort(), { once: true });
  return AbortSignal.any([both.signal, deadline]);
}

/**
 * Sends one call — every attempt, backoff and Retry-After wait `send` makes — under a deadline of
 * `timeoutMs`, set as the request's abortSignal (the caller's own signal still cancels it earlier); a call
 * past its deadline fails with a RestError ETIMEDOUT, which callers and `classifyAzureError` treat as "no
 * answer". `attemptTimeouts`: an attempt aborted by its own `request.timeout` (the HTTP client reports an
 * AbortError, which a retry policy below this one did not retry) fails the call with ETIMEDOUT as well.
 */
export async function sendWithDeadline<T>(request: DeadlineRequest, timeoutMs: number, send: () => Promise<T>, opts: { attemptTimeouts?: boolean } = {}): Promise<T> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const caller = request.abortSignal;
  request.abortSignal = caller ? anySignal(caller, deadline) : deadline;
  try {
    return await send();
  } catch (error) {
    if (caller?.aborted) throw error;
    if (deadline.aborted) throw new RestError(`${describe(request)}: no answer within the call deadline of ${timeoutMs / 1000}s`, { code: 'ETIMEDOUT' });
    if (opts.attemptTimeouts && request.timeout > 0 && (error as Error).name === 'AbortError') throw attemptTimedOut(request);
    throw error;
  } finally {
    request.abortSignal = caller;
  }
}

/** Per call: a deadline over every attempt and wait, as the request's abort signal. */
function callDeadlinePolicy(timeoutMs: number): PipelinePolicy {
  return { name: 'siteRecoveryCallDeadline', sendRequest: (request, next) => sendWithDeadline(request, timeoutMs, () => next(request)) };
}

/** e.g. /subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/virtualMachines/z → Microsoft.Compute/virtualMachines */
function resourceTypeOf(url: string): string {
  const path = new URL(url).pathname;
  const match = /\/providers\/([^/]+)\/([^/]+)(?:\/[^/]+\/([^/]+))?/i.exec(path);
  if (match) return `${match[1]}/${match[2]}${match[3] ? `/${match[3]}` : ''}`;
  return /\/resourceGroups\/[^/]+$/i.test(path) || /\/resourcegroups$/i.test(path) ? 'resourceGroups' : 'other';
}

const metricsPolicy: PipelinePolicy = {
  name: 'siteRecoveryRequestMetrics',
  async sendRequest(request, next) {
    try {
      const response = await next(request);
      azureRequests.inc({ method: request.method, type: resourceTypeOf(request.url), code: String(response.status) });
      return response;
    } catch (error) {
      const status = (error as { statusCode?: number }).statusCode;
      azureRequests.inc({ method: request.method, type: resourceTypeOf(request.url), code: status ? String(status) : 'error' });
      throw error;
    }
  },
};

const requireModule = createRequire(import.meta.url);

/**
 * An SDK's ES module loaded synchronously on first use (Node's require(esm)): the same module instance an
 * `import` of it gives. The datapath never uses the network and resources SDKs; loading them only when a
 * client is first used keeps their code (about 11 MiB of the datapath's RSS) out of its memory.
 */
function loadOnUse<T>(specifier: string): T {
  return requireModule(fileURLToPath(import.meta.resolve(specifier))) as T;
}

export class AzureClients {
  readonly subscriptionId: string;
  readonly compute: ComputeManagementClient;
  readonly storage: StorageManagementClient;
  readonly credential: TokenCredential;
  /** Overall deadline of a long-running operation waited on (begin…AndWait). */
  readonly lroTimeoutMs: number;
  /** Deadline of one blob storage call (the datapath's BlobAccess; configured here with the other deadlines). */
  readonly storageCallTimeoutMs: number | undefined;

  /** The process's share of the ARM budget its requests wait on (the datapath's), if any. */
  readonly gate: ArmBudgetGate | undefined;

  /** The long-running operations started and not waited on, polled as Azure says (followOperations). */
  readonly operations: OperationPolls | undefined;

  constructor(config: AzureConfig, options: { gate?: ArmBudgetGate | undefined; followOperations?: boolean; operations?: OperationPolls } = {}) {
    this.config = config;
    this.options = options;
    this.subscriptionId = config.subscriptionId;
    this.credential = config.credential;
    this.lroTimeoutMs = config.lroTimeoutMs ?? 600_000;
    this.storageCallTimeoutMs = config.storageCallTimeoutMs;
    this.gate = options.gate;
    this.operations = options.operations ?? (options.followOperations ? new OperationPolls() : undefined);
    const budget = options.gate ? [{ policy: armBudgetPolicy(options.gate), position: 'perRetry' as const }] : [];
    const follow = this.operations ? [{ policy: this.operations.policy(), position: 'perCall' as const }] : [];
    const clientOptions = {
      endpoint: config.resourceManagerEndpoint,
      ...(config.component ? { userAgentOptions: { userAgentPrefix: userAgentPrefix(config.component) } } : {}),
      retryOptions: { maxRetries: config.maxRetries ?? 6, retryDelayInMs: 800, maxRetryDelayInMs: 60_000 },
      additionalPolicies: [
        { policy: callDeadlinePolicy(config.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS), position: 'perCall' as const },
        { policy: armRefusalPolicy, position: 'perCall' as const }, // a 403 keeps ARM's message, list pages too (arm-error-body.ts)
        ...follow,
        ...budget,
        { policy: attemptTimeoutPolicy(config.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS), position: 'perRetry' as const },
        { policy: metricsPolicy, position: 'perRetry' as const },
      ],
    };
    this.clientOptions = clientOptions;
    this.compute = new ComputeManagementClient(config.credential, config.subscriptionId, clientOptions);
    this.storage = new StorageManagementClient(config.credential, config.subscriptionId, clientOptions);
  }

  private readonly clientOptions: ConstructorParameters<typeof ComputeManagementClient>[2];
  private networkClient: NetworkManagementClient | undefined;
  private resourcesClient: ResourceManagementClient | undefined;

  /** Network's client, created (and its SDK loaded) on first use. */
  get network(): NetworkManagementClient {
    this.networkClient ??= new (loadOnUse<typeof NetworkSdk>('@azure/arm-network').NetworkManagementClient)(this.credential, this.subscriptionId, this.clientOptions);
    return this.networkClient;
  }

  /** Resources' client, created (and its SDK loaded) on first use. */
  get resources(): ResourceManagementClient {
    this.resourcesClient ??= new (loadOnUse<typeof ResourcesSdk>('@azure/arm-resources').ResourceManagementClient)(this.credential, this.subscriptionId, this.clientOptions);
    return this.resourcesClient;
  }

  /**
   * The operation this process last started on `resourceId` and has not seen finish (operation-polls.ts):
   * polled once if its Retry-After has passed. Undefined when none is followed.
   */
  operationStatus(resourceId: string): Promise<OperationStatus | undefined> {
    // Through a client's pipeline: the same credential, deadline, retries, budget and metrics as any call.
    this.pollClient ??= createDefaultHttpClient();
    const http = this.pollClient;
    return this.operations?.status(resourceId, (request) => this.resources.pipeline.sendRequest(http, request).catch(responseOfRefusal)) ?? Promise.resolve(undefined);
  }

  private pollClient: HttpClient | undefined;

  private readonly config: AzureConfig;
  private readonly options: { gate?: ArmBudgetGate | undefined; followOperations?: boolean; operations?: OperationPolls };
  private readonly others = new Map<string, AzureClients>();

  /** The clients of `subscriptionId` (these when it is theirs): same configuration, credential, budget gate and followed operations. */
  forSubscription(subscriptionId: string): AzureClients {
    if (subscriptionId.toLowerCase() === this.subscriptionId.toLowerCase()) return this;
    const key = subscriptionId.toLowerCase();
    let other = this.others.get(key);
    if (!other) {
      const operations = this.operations ? { operations: this.operations } : {};
      other = new AzureClients({ ...this.config, subscriptionId }, { ...this.options, ...operations });
      this.others.set(key, other);
    }
    return other;
  }

  /** The clients of the subscription ARM id `id` names (these when it names none, or theirs). */
  forResource(id: string): AzureClients {
    const named = /^\/subscriptions\/([^/]+)/i.exec(id)?.[1];
    return named ? this.forSubscription(named) : this;
  }
}
