/**
 * One set of ARM clients per process, built from configuration: endpoint (public cloud by default),
 * credential, a per-attempt timeout on every call, retries that honour Retry-After (the SDK pipeline's
 * throttling and exponential retry policies), and a request counter for metrics.
 */
import { ComputeManagementClient } from '@azure/arm-compute';
import { NetworkManagementClient } from '@azure/arm-network';
import { ResourceManagementClient } from '@azure/arm-resources';
import { StorageManagementClient } from '@azure/arm-storage';
import type { TokenCredential } from '@azure/core-auth';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { azureRequests } from '../runtime/metrics.ts';
import { credentialFromEnvironment } from './credential.ts';

export interface AzureConfig {
  subscriptionId: string;
  /** ARM endpoint; default https://management.azure.com. */
  resourceManagerEndpoint?: string;
  credential: TokenCredential;
  /** Timeout of one HTTP attempt. Default 60 s. */
  requestTimeoutMs?: number;
  /** Retries per call (429 with Retry-After, 5xx, network errors). Default 6. */
  maxRetries?: number;
}

export function azureConfigFromEnvironment(env: NodeJS.ProcessEnv = process.env): AzureConfig {
  const subscriptionId = env.AZURE_SUBSCRIPTION_ID;
  if (!subscriptionId) throw new Error('AZURE_SUBSCRIPTION_ID is not set');
  return {
    subscriptionId,
    resourceManagerEndpoint: env.AZURE_RESOURCE_MANAGER_ENDPOINT || undefined,
    credential: credentialFromEnvironment(env),
    requestTimeoutMs: env.SITE_RECOVERY_AZURE_TIMEOUT_MS ? Number(env.SITE_RECOVERY_AZURE_TIMEOUT_MS) : undefined,
    maxRetries: env.SITE_RECOVERY_AZURE_MAX_RETRIES ? Number(env.SITE_RECOVERY_AZURE_MAX_RETRIES) : undefined,
  };
}

function timeoutPolicy(timeoutMs: number): PipelinePolicy {
  return {
    name: 'siteRecoveryRequestTimeout',
    sendRequest(request, next) {
      if (!request.timeout) request.timeout = timeoutMs;
      return next(request);
    },
  };
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

export class AzureClients {
  readonly subscriptionId: string;
  readonly compute: ComputeManagementClient;
  readonly network: NetworkManagementClient;
  readonly resources: ResourceManagementClient;
  readonly storage: StorageManagementClient;
  readonly credential: TokenCredential;

  constructor(config: AzureConfig) {
    this.subscriptionId = config.subscriptionId;
    this.credential = config.credential;
    const options = {
      endpoint: config.resourceManagerEndpoint,
      retryOptions: { maxRetries: config.maxRetries ?? 6, retryDelayInMs: 800, maxRetryDelayInMs: 60_000 },
      additionalPolicies: [
        { policy: timeoutPolicy(config.requestTimeoutMs ?? 60_000), position: 'perRetry' as const },
        { policy: metricsPolicy, position: 'perRetry' as const },
      ],
    };
    this.compute = new ComputeManagementClient(config.credential, config.subscriptionId, options);
    this.network = new NetworkManagementClient(config.credential, config.subscriptionId, options);
    this.resources = new ResourceManagementClient(config.credential, config.subscriptionId, options);
    this.storage = new StorageManagementClient(config.credential, config.subscriptionId, options);
  }
}
