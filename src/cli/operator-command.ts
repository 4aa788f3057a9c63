import { Option, type Command } from 'commander';
import type { ArmBudgetLimits } from '../azure/arm-budget.ts';
import { azureConfigFromEnvironment } from '../azure/clients.ts';
import { TENANCY_MODES, type Tenancy } from '../controllers/tenancy.ts';
import { ARM_BUDGET_HELP, armBudgetOption, durationAtLeast, explicitMetricsPort, metricsPort, namespaceName, portNumber, wholeNumber } from './options.ts';
import { parseDuration } from '../util/duration.ts';
import { loadKubeConfig, shutdownSignal } from './process.ts';

export function registerOperatorCommand(program: Command): void {
  program
    .command('operator')
    .description('Run the operator: converges Azure to the ReplicationPolicy, NetworkMapping and ReplicatedVM objects')
    .option('--kubeconfig <path>', 'kubeconfig file (default: KUBECONFIG, in-cluster, ~/.kube/config)')
    .option('--metrics-port <port>', 'port for /metrics, /healthz and /readyz (default: METRICS_PORT, else 8080, else any free port)', portNumber)
    .option('--leader-election-namespace <ns>', 'namespace of the leader-election Lease (default: POD_NAMESPACE)', namespaceName, process.env.POD_NAMESPACE)
    .option('--no-leader-election', 'run without leader election (a single replica only)')
    .option('--workers <n>', 'concurrent reconciles per kind', wholeNumber(1, 256), 4)
    .addOption(new Option('--final-sync-timeout <duration>', 'how long a failover\'s FinalSync waits for the datapath before a Planned one fails and an Unplanned one uses the newest sealed point (a FailoverRequest may say otherwise: spec.finalSyncTimeout)').argParser((v) => parseDuration(v)).default(parseDuration('5m'), '5m'))
    .addOption(new Option('--source-probe-timeout <duration>', 'deadline of one call into the source region (a Planned failover\'s shutdown, re-protect\'s deallocate); no answer means the region is unavailable').argParser((v) => parseDuration(v)).default(parseDuration('20s'), '20s'))
    .addOption(new Option('--drift-check-interval <duration>', 'how often each object is reconciled with nothing changed, to find and repair drift in Azure (the only Azure calls of a quiet fleet)').argParser(durationAtLeast(10_000)).default(parseDuration('10m'), '10m'))
    .addOption(new Option('--tenancy <mode>', 'cluster: single-tenant, every object may use the whole subscription; namespaced: each namespace may use only the Azure scopes its siterecovery.io/azure-scopes annotation lists').choices(TENANCY_MODES).default('cluster'))
    .option('--namespace <ns>', 'watch only this namespace (default: all namespaces)', namespaceName, process.env.WATCH_NAMESPACE || undefined)
    .option('--arm-budget <buckets>', ARM_BUDGET_HELP, armBudgetOption)
    .addOption(new Option('--lease-duration-ms <ms>', 'leader lease duration').argParser(wholeNumber(1)).default(15_000).hideHelp())
    .addOption(new Option('--renew-deadline-ms <ms>', 'leader renew deadline').argParser(wholeNumber(1)).default(10_000).hideHelp())
    .addOption(new Option('--retry-period-ms <ms>', 'leader retry period').argParser(wholeNumber(1)).default(2_000).hideHelp())
    .addHelpText('after', '\nAzure: AZURE_SUBSCRIPTION_ID; optional AZURE_RESOURCE_MANAGER_ENDPOINT; credential from DefaultAzureCredential\n(workload identity in a cluster) or, for emulators only, SITE_RECOVERY_ACCESS_TOKEN.')
    .action(async (opts: { kubeconfig?: string; metricsPort?: number; leaderElectionNamespace?: string; leaderElection: boolean; workers: number; namespace?: string; leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number; finalSyncTimeout: number; sourceProbeTimeout: number; driftCheckInterval: number; tenancy: Tenancy; armBudget?: ArmBudgetLimits | 'off' }) => {
      // Loaded only when this command runs: a datapath replica or the CLI does not carry the operator's code.
      const { buildOperator } = await import('../operator/run-operator.ts');
      const manager = buildOperator({
        kubeConfig: loadKubeConfig(opts.kubeconfig),
        azure: { ...azureConfigFromEnvironment('operator'), ...(opts.armBudget ? { armBudget: opts.armBudget } : {}) },
        leaseNamespace: opts.leaderElection ? (opts.leaderElectionNamespace ?? 'default') : undefined,
        port: await metricsPort(explicitMetricsPort(opts.metricsPort)),
        workers: opts.workers,
        resyncMs: opts.driftCheckInterval,
        namespace: opts.namespace,
        tenancy: opts.tenancy,
        leaseDurationMs: opts.leaseDurationMs,
        renewDeadlineMs: opts.renewDeadlineMs,
        retryPeriodMs: opts.retryPeriodMs,
        failover: { finalSyncTimeoutMs: opts.finalSyncTimeout, sourceProbeTimeoutMs: opts.sourceProbeTimeout },
      });
      await manager.run(shutdownSignal());
    });
}
