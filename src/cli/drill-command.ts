// `site-recovery drill VM_NAME [--verify checksums|full|none]`: a DR drill end to end with a report (see
// drill-run.ts; the report is drill-report.ts, printed here for a person). `site-recovery drill --schedule
// NAME [--wait]`: a run of a DrillSchedule now, done by the operator (drill-schedule-run.ts).
import { styleText } from 'node:util';
import { Option, type Command } from 'commander';
import { azureConfigFromEnvironment } from '../azure/clients.ts';
import { parseDuration } from '../util/duration.ts';
import type { VerifyMethod } from '../azure/verify/disk-verifier.ts';
import type { DrillDiskResult, DrillReport, DrillType } from './drill-report.ts';
import { formatBytes } from './live-view.ts';
import { contextNamespace, namespaceName } from './options.ts';
import { loadKubeConfig } from './process.ts';

interface DrillCommandOptions {
  type: DrillType;
  verify: 'checksums' | 'full' | 'none';
  namespace?: string;
  recoveryPoint?: string;
  json: boolean;
  timeout: number;
  kubeconfig?: string;
  schedule?: string;
  wait: boolean;
}

export function registerDrillCommand(program: Command): void {
  program
    .command('drill [vm]')
    .description('Run a DR drill of a ReplicatedVM: fail over, verify every disk (checksums computed by storage, or sha256), clean up, report RPO, RTO and pass/fail')
    .addOption(new Option('--type <type>', 'Test (isolated network, replication continues; cleaned up after) or Planned (source shut down; not undone)').choices(['Test', 'Planned']).default('Test'))
    .addOption(new Option('--verify <method>', 'checksums: storage computes CRC-64s of every 4 MiB of both sides (no disk byte read here); full: read both and compare sha256; none').choices(['checksums', 'full', 'none']).default('checksums'))
    .option('-n, --namespace <ns>', "namespace of the ReplicatedVM (default: SITE_RECOVERY_NAMESPACE, else the kubeconfig context's)", namespaceName, process.env.SITE_RECOVERY_NAMESPACE || undefined)
    .option('--recovery-point <point>', 'LatestProcessed, Latest, LatestAppConsistent or a RecoveryPoint name (default: the operator\'s, LatestProcessed)')
    .addOption(new Option('--timeout <duration>', 'limit for each wait (Protected, failover, cleanup)').argParser((v) => parseDuration(v)).default(parseDuration('15m'), '15m'))
    .option('--kubeconfig <path>', 'kubeconfig file (default: KUBECONFIG, in-cluster, ~/.kube/config)')
    .option('--json', 'print the report as JSON (progress is not printed)', false)
    .option('--schedule <name>', 'instead of VM: start a run of this DrillSchedule now (the operator runs it; sets the siterecovery.io/run-now annotation)')
    .option('--wait', 'with --schedule: wait until the run finished and cleaned up; exit 0 only when it passed', false)
    .addHelpText(
      'after',
      '\nThe drill reaches disks through the public data plane: failed-over (and, for Planned, source) disks through an\n' +
        'incremental snapshot exported with a read SAS (beginGrantAccess), replica snapshots with the process\'s credential.\n' +
        '--verify checksums stages uncommitted blocks in scratch blobs beside the replica blob (Storage Blob Data\n' +
        'Contributor on the target storage account), removed after; --verify full needs only Reader.\n' +
        'Azure: AZURE_SUBSCRIPTION_ID; optional AZURE_RESOURCE_MANAGER_ENDPOINT; DefaultAzureCredential or, for emulators\n' +
        'only, SITE_RECOVERY_ACCESS_TOKEN. On the sandbox: `source .sandbox/env` first.\nExit code 0 only when the drill passed.',
    )
    .action(async (vmName: string | undefined, opts: DrillCommandOptions, command: Command) => {
      if (Boolean(vmName) === Boolean(opts.schedule)) command.error(`error: name a ReplicatedVM or --schedule NAME${vmName ? ', not both' : ''}`, { exitCode: 2, code: 'site-recovery.usage' });
      if (opts.schedule) return scheduledDrill(opts.schedule, opts);
      if (!vmName) return;
      const controller = new AbortController();
      const onSignal = () => {
        if (controller.signal.aborted) process.exit(130);
        process.stderr.write('interrupted: cleaning up (again to exit at once)\n');
        controller.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const progress = opts.json ? undefined : (line: string) => process.stderr.write(`${line}\n`);
      const kubeConfig = loadKubeConfig(opts.kubeconfig);
      const azure = azureConfigFromEnvironment('cli');
      let report: DrillReport;
      try {
        // Loaded only when this command runs (it brings the verification engine and the blob storage SDK).
        const { runDrill } = await import('./drill-run.ts');
        report = await runDrill({
          kubeConfig,
          azure,
          namespace: opts.namespace ?? contextNamespace(kubeConfig),
          vmName,
          type: opts.type,
          verify: METHODS[opts.verify],
          timeoutMs: opts.timeout,
          signal: controller.signal,
          ...(opts.recoveryPoint ? { recoveryPoint: opts.recoveryPoint } : {}),
          ...(progress ? { progress } : {}),
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatDrillReport(report, { color: process.stdout.isTTY }));
      process.exitCode = report.pass ? 0 : 1;
    });
}

/** `drill --schedule NAME [--wait]`. */
async function scheduledDrill(name: string, opts: DrillCommandOptions): Promise<void> {
  const kubeConfig = loadKubeConfig(opts.kubeconfig);
  const progress = opts.json ? undefined : (line: string) => process.stderr.write(`${line}\n`);
  const { formatDrillRun, runScheduledDrill } = await import('./drill-schedule-run.ts');
  const run = await runScheduledDrill({ kubeConfig, namespace: opts.namespace ?? contextNamespace(kubeConfig), name, wait: opts.wait, timeoutMs: opts.timeout, ...(progress ? { progress } : {}) });
  if (!run) return;
  process.stdout.write(opts.json ? `${JSON.stringify(run, null, 2)}\n` : formatDrillRun(name, run));
  process.exitCode = run.result === 'Passed' ? 0 : 1;
}

const METHODS: Record<DrillCommandOptions['verify'], VerifyMethod> = { checksums: 'Checksums', full: 'Full', none: 'None' };

const short = (sha?: string) => (sha ? `${sha.slice(0, 12)}…` : '-');
const hhmmss = (iso?: string) => (iso ? new Date(iso).toISOString().slice(11, 19) : '-');

/** The report for a person. */
export function formatDrillReport(r: DrillReport, o: { color?: boolean } = {}): string {
  const paint = (style: Parameters<typeof styleText>[0], text: string) => (o.color ? styleText(style, text, { validateStream: false }) : text);
  const verdict = (ok: boolean) => (ok ? paint(['bold', 'green'], 'PASS') : paint(['bold', 'red'], 'FAIL'));
  const lines: string[] = [];
  const row = (label: string, value: string) => lines.push(`  ${label.padEnd(18)} ${value}`);
  lines.push('', `${paint('bold', `DR drill of ${r.namespace}/${r.vm}`)} (${r.type} failover)`);
  if (r.failoverRequest) row('failover request', `${r.failoverRequest}${r.phase ? ` ${r.phase}` : ''}${r.reason && r.phase !== 'Succeeded' ? ` (${r.reason}: ${r.message ?? ''})` : ''}`);
  if (r.recoveryPoint) row('recovery point', `${r.recoveryPoint.name}, captured ${hhmmss(r.recoveryPoint.time)}${r.recoveryPoint.consistency ? ` (${r.recoveryPoint.consistency})` : ''}`);
  if (r.rpoSeconds !== undefined) row('RPO at failover', `${r.rpoSeconds} s (requested ${hhmmss(r.requestTime)}, point captured ${hhmmss(r.recoveryPoint?.time)})`);
  if (r.rtoSeconds !== undefined) row('RTO', `${r.rtoSeconds} s (request to ${r.type === 'Test' ? 'test ' : ''}VM running)`);
  if (r.targetVirtualMachineId) row('target VM', r.targetVirtualMachineId);
  if (r.disks.length) {
    const against = r.type === 'Test' ? 'recovery point replica snapshot' : 'source disk';
    lines.push(`  disks (${DESCRIBE[r.verify]} the ${against})`);
    for (const d of r.disks) lines.push(`    ${d.name.padEnd(6)} ${formatBytes(d.sizeBytes).padStart(10)}  ${diskDetail(d)}  ${verdict(d.pass)}${d.error && !d.pass ? `  ${d.error}` : ''}`);
  }
  row('bytes verified', `${formatBytes(r.bytesVerified)}${r.verifySeconds !== undefined ? ` in ${r.verifySeconds} s` : ''} (${r.verify.toLowerCase()}; ${formatBytes(r.bytesRead)} of disk data read by this process)`);
  const c = r.cleanup;
  row('cleanup', c.state === 'Done' ? `${c.resourcesRemoved} test resource(s) removed in ${c.seconds} s` : c.state === 'Failed' ? paint('red', `FAILED: ${c.message ?? ''}`) : (c.message ?? 'none'));
  if (r.error) row('error', paint('red', r.error));
  row('result', `${verdict(r.pass)} in ${r.durationSeconds} s`);
  lines.push('');
  return lines.join('\n');
}

const DESCRIBE: Record<VerifyMethod, string> = {
  Checksums: 'CRC-64s storage computed of each 4 MiB of the failed-over disk = those of',
  Full: 'sha256 of the failed-over disk = sha256 of',
  None: 'not verified against',
};

/** What a disk's line says about its verification. */
function diskDetail(d: DrillDiskResult): string {
  if (d.method === 'Full') return `${short(d.sha256)} ${d.pass ? '=' : '≠'} ${short(d.expected.sha256)}`;
  if (d.method === 'None') return 'not verified';
  return `${formatBytes(d.bytesCompared ?? 0)} compared by checksums${d.seconds !== undefined ? ` in ${d.seconds} s` : ''}`;
}
