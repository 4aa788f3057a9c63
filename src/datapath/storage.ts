/**
 * Blob storage access of the datapath: one BlobServiceClient per storage account, its endpoint read from
 * ARM (primaryEndpoints.blob, so nothing here knows whether it talks to Azure or a sandbox), authenticated
 * with the process's TokenCredential; page-blob clients for the SAS URLs ARM hands out for disk restore
 * points; and the bearer authorization Put Page From URL sends for its copy source.
 *
 * No storage call waits long on an account that hangs (a source region that is down: its cache account and
 * its disks' SAS exports stop answering). The SDK's `tryTimeoutInMs` is only the server-side `timeout`
 * parameter: a request the service never answers would wait forever. So one policy, ahead of the SDK's
 * retry policy, bounds every call:
 *  - each attempt gets no answer (response headers) within `tryTimeoutMs` (60 s): it is aborted and the call
 *    fails with ETIMEDOUT (the SDK does not retry an aborted attempt; the datapath backs off and retries);
 *  - the call as a whole — attempts, backoff — has a deadline, `callTimeoutMs` (90 s), after ARM's;
 *  - both fail as "no answer", which source-region.ts counts towards SourceRegionUnavailable: with a 1-minute
 *    interval a hung cache account fails the next capture within 90 s of its start, and is reported within
 *    two intervals plus a minute of the outage (issue #14).
 * Healthy calls fit easily: the longest is a 4 MiB Put Block / Put Page From URL, a copy inside storage that
 * Azure answers in seconds (and the service itself gives up after the server-side timeout); a listing is one
 * call per page; a streamed download only has to start within the attempt timeout (small bodies here:
 * journal, manifests, 512 KiB seed pieces).
 */
import type { TokenCredential } from '@azure/core-auth';
import { AnonymousCredential, BlobServiceClient, newPipeline, PageBlobClient, type ContainerClient, type Pipeline, type RequestPolicyFactory, type StoragePipelineOptions } from '@azure/storage-blob';
import { sendWithDeadline, type AzureClients } from '../azure/clients.ts';
import { parseArmId } from '../azure/arm-id.ts';

const STORAGE_SCOPE = 'https://storage.azure.com/.default';

export interface BlobAccessOptions {
  /**
   * Timeout of one storage request attempt. Default 60 s: the datapath's largest request moves 4 MiB
   * storage to storage (Put Block / Put Page From URL); a dead account must not hold a VM much longer.
   */
  tryTimeoutMs?: number | undefined;
  /** Attempts per storage request (429, 5xx, timeouts, network errors). Default 4. */
  maxTries?: number | undefined;
  /**
   * Deadline of one storage call, every attempt and backoff included. Default: the AzureClients' setting
   * (`SITE_RECOVERY_STORAGE_CALL_TIMEOUT_MS`), else 90 s.
   */
  callTimeoutMs?: number | undefined;
}

const DEFAULT_TRY_TIMEOUT_MS = 60_000;
const DEFAULT_CALL_TIMEOUT_MS = 90_000;

/**
 * The deadlines as a request policy of the storage SDK's pipeline (its documented extension point: a
 * RequestPolicyFactory in `pipeline.factories`, which the SDK runs ahead of its retry policy).
 */
function deadlinePolicy(tryTimeoutMs: number, callTimeoutMs: number): RequestPolicyFactory {
  return {
    create: (next) => ({
      sendRequest(request) {
        if (!request.timeout) request.timeout = tryTimeoutMs;
        return sendWithDeadline(request, callTimeoutMs, () => next.sendRequest(request), { attemptTimeouts: true });
      },
    }),
  };
}

function storagePipeline(credential: TokenCredential | AnonymousCredential, options: StoragePipelineOptions, deadlines: RequestPolicyFactory): Pipeline {
  const pipeline = newPipeline(credential, options);
  pipeline.factories.push(deadlines);
  return pipeline;
}

export class BlobAccess {
  private readonly az: AzureClients;
  private readonly credential: TokenCredential;
  private readonly endpoints = new Map<string, Promise<string>>();
  private readonly services = new Map<string, BlobServiceClient>();
  /** One pipeline (and so one pool of connections) for the accounts, one for every SAS client. */
  private readonly pipeline: Pipeline;
  private readonly sasPipeline: Pipeline;
  private token: { value: string; refreshAt: number } | undefined;

  constructor(az: AzureClients, credential: TokenCredential, options: BlobAccessOptions = {}) {
    this.az = az;
    this.credential = credential;
    const tryTimeoutMs = options.tryTimeoutMs ?? DEFAULT_TRY_TIMEOUT_MS;
    const pipelineOptions: StoragePipelineOptions = {
      retryOptions: { maxTries: options.maxTries ?? 4, tryTimeoutInMs: tryTimeoutMs, retryDelayInMs: 200, maxRetryDelayInMs: 10_000 },
      keepAliveOptions: { enable: true },
    };
    const deadlines = deadlinePolicy(tryTimeoutMs, options.callTimeoutMs ?? az.storageCallTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS);
    this.pipeline = storagePipeline(credential, pipelineOptions, deadlines);
    this.sasPipeline = storagePipeline(new AnonymousCredential(), pipelineOptions, deadlines);
  }

  /** The blob endpoint of a storage account (from ARM, cached). */
  endpoint(accountId: string): Promise<string> {
    const key = accountId.toLowerCase();
    let endpoint = this.endpoints.get(key);
    if (!endpoint) {
      const id = parseArmId(accountId);
      endpoint = this.az.storage.storageAccounts.getProperties(id.resourceGroup, id.name).then((account) => {
        const blob = account.primaryEndpoints?.blob;
        if (!blob) throw new Error(`storage account ${id.name} has no blob endpoint (provisioningState ${account.provisioningState})`);
        return blob;
      });
      endpoint.catch(() => this.endpoints.delete(key));
      this.endpoints.set(key, endpoint);
    }
    return endpoint;
  }

  async service(accountId: string): Promise<BlobServiceClient> {
    const endpoint = await this.endpoint(accountId);
    let service = this.services.get(endpoint);
    if (!service) {
      service = new BlobServiceClient(endpoint, this.pipeline);
      this.services.set(endpoint, service);
    }
    return service;
  }

  /** The container whose ARM id is `containerId` (…/storageAccounts/<a>/blobServices/default/containers/<c>). */
  async container(containerId: string): Promise<ContainerClient> {
    const id = parseArmId(containerId);
    const accountId = containerId.replace(/\/blobServices\/.*$/i, '');
    return (await this.service(accountId)).getContainerClient(id.name);
  }

  /** A client for a SAS URL (disk restore point access): the SAS is the credential. */
  sasPageBlob(url: string): PageBlobClient {
    return new PageBlobClient(url, this.sasPipeline);
  }

  /** `Authorization: Bearer` for a copy source (Put Page From URL reads the cache with our identity). */
  async copySourceAuthorization(): Promise<{ scheme: 'Bearer'; value: string }> {
    if (!this.token || Date.now() > this.token.refreshAt) {
      const token = await this.credential.getToken(STORAGE_SCOPE);
      if (!token) throw new Error('no storage access token');
      this.token = { value: token.token, refreshAt: Math.min(token.expiresOnTimestamp - 5 * 60_000, Date.now() + 30 * 60_000) };
    }
    return { scheme: 'Bearer', value: this.token.value };
  }
}

/** HTTP status and storage error code of a failed storage call. */
export function storageError(error: unknown): { status: number | undefined; code: string | undefined } {
  const e = error as { statusCode?: number; code?: string; details?: { errorCode?: string }; response?: { headers?: { get?(name: string): string | undefined } } };
  const code = e?.details?.errorCode ?? e?.response?.headers?.get?.('x-ms-error-code') ?? (typeof e?.code === 'string' ? e.code : undefined);
  return { status: typeof e?.statusCode === 'number' ? e.statusCode : undefined, code };
}
