import type { Command } from 'commander';
import type { ArmBudgetLimits } from '../azure/arm-budget.ts';
import { azureConfigFromEnvironment } from '../azure/clients.ts';
import { DEFAULT_INITIAL_SYNC_CONCURRENCY } from '../datapath/initial-sync-slots.ts';
import { parseDuration } from '../util/duration.ts';
import { ARM_BUDGET_HELP, armBudgetOption, durationAtLeast, explicitMetricsPort, metricsPort, namespaceName, portNumber, wholeNumber } from './options.ts';
import { loadKubeConfig, shutdownSignal } from './process.ts';

const env = process.env;
const durationOption = (value: string) => parseDuration(value);

export function registerDatapathCommand(program: Command): void {
  program
    .command('datapath')
    .description('Run a datapath replica: captures VM disk changes into the cache, applies them to replica blobs, seals recovery points')
    .option('--kubeconfig <path>', 'kubeconfig file (default: KUBECONFIG, in-cluster, ~/.kube/config)')
    .option('--metrics-port <port>', 'port for /metrics, /healthz and /readyz (default: METRICS_PORT, else 8080, else any free port)', portNumber)
    .option('--lease-namespace <ns>', 'namespace of the member Leases (default: POD_NAMESPACE)', namespaceName, env.POD_NAMESPACE ?? 'default')
    .option('--namespace <ns>', 'replicate only the VMs of this namespace (default: all namespaces)', namespaceName, env.WATCH_NAMESPACE || undefined)
    .option('--lease-duration <duration>', 'a replica that has not renewed its member lease for this long is gone', durationOption, parseDuration(env.SITE_RECOVERY_DATAPATH_LEASE_DURATION ?? '15s'))
    .option('--cycle-interval <duration>', 'replace the policies\' recovery point interval (tests and benchmarks only)', durationOption, env.SITE_RECOVERY_DATAPATH_CYCLE_INTERVAL ? parseDuration(env.SITE_RECOVERY_DATAPATH_CYCLE_INTERVAL) : undefined)
    .option('--status-interval <duration>', 'how often health and progress are looked at; status is written only when they changed', durationOption, parseDuration(env.SITE_RECOVERY_DATAPATH_STATUS_INTERVAL ?? '10s'))
    .option('--status-heartbeat <duration>', 'an unchanged status is written again after this long', durationAtLeast(10_000), parseDuration(env.SITE_RECOVERY_DATAPATH_STATUS_HEARTBEAT ?? '10m'))
    .option('--concurrency <n>', 'concurrent transfers per VM (capture and apply each)', wholeNumber(1, 256), wholeNumber(1, 256)(env.SITE_RECOVERY_DATAPATH_CONCURRENCY ?? '8'))
    .option('--initial-sync-concurrency <n>', 'how many of this replica\'s VMs run their initial sync at once; the others wait their turn (shown in their status)', wholeNumber(1, 10_000), wholeNumber(1, 10_000)(env.SITE_RECOVERY_DATAPATH_INITIAL_SYNC_CONCURRENCY ?? String(DEFAULT_INITIAL_SYNC_CONCURRENCY)))
    .option('--arm-budget <buckets>', ARM_BUDGET_HELP, armBudgetOption)
    .addHelpText('after', '\nIdentity: POD_NAME (downward API), else <hostname>-<pid>.\nAzure: AZURE_SUBSCRIPTION_ID; optional AZURE_RESOURCE_MANAGER_ENDPOINT; credential from DefaultAzureCredential\n(workload identity in a cluster) or, for emulators only, SITE_RECOVERY_ACCESS_TOKEN. The same credential reaches blob storage.')
    .action(async (opts: { kubeconfig?: string; metricsPort?: number; leaseNamespace: string; namespace?: string; leaseDuration: number; cycleInterval?: number; statusInterval: number; statusHeartbeat: number; concurrency: number; initialSyncConcurrency: number; armBudget?: ArmBudgetLimits | 'off' }) => {
      // Loaded only when this command runs: the operator's and the CLI's processes do not carry the datapath (and blob storage SDK) code.
      const { buildDatapath } = await import('../datapath/datapath.ts');
      const datapath = buildDatapath({
        kubeConfig: loadKubeConfig(opts.kubeconfig),
        azure: { ...azureConfigFromEnvironment('datapath'), ...(opts.armBudget ? { armBudget: opts.armBudget } : {}) },
        namespace: opts.leaseNamespace,
        ...(opts.namespace ? { watchNamespace: opts.namespace } : {}),
        port: await metricsPort(explicitMetricsPort(opts.metricsPort)),
        leaseDurationMs: opts.leaseDuration,
        worker: {
          ...(opts.cycleInterval !== undefined ? { cycleIntervalMs: opts.cycleInterval } : {}),
          statusIntervalMs: opts.statusInterval,
          statusHeartbeatMs: opts.statusHeartbeat,
          captureConcurrency: opts.concurrency,
          applyConcurrency: opts.concurrency,
          initialSyncConcurrency: opts.initialSyncConcurrency,
        },
      });
      await datapath.run(shutdownSignal());
      // Every VM is released and the member lease deleted: leave now rather than wait for idle
      // keep-alive connections of the Azure and Kubernetes clients to time out.
      process.exit(process.exitCode ?? 0);
    });
}
