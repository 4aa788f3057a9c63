/**
 * What every user command (failover, commit, cleanup, reprotect, sync-now, status, points) shares: the
 * `-n/--namespace`, `--kubeconfig` and `--wait`/`--timeout` options, the namespace of the kubeconfig
 * context when none is given (as kubectl does), typed clients for the kinds, and waiting on an object.
 */
import { Option, type Command } from 'commander';
import type { KubeConfig } from '@kubernetes/client-node';
import type { FailoverRequest, RecoveryPoint, ReplicatedVM } from '../../api/types.ts';
import { CustomResourceClient, type CustomObject } from '../../kube/custom-resources.ts';
import { waitForObject } from '../../kube/wait-for-object.ts';
import { parseDuration } from '../../util/duration.ts';
import { contextNamespace, namespaceName } from '../options.ts';
import { loadKubeConfig } from '../process.ts';

export interface UserOptions {
  namespace?: string;
  kubeconfig?: string;
  wait?: boolean;
  timeout: number;
}

/** Adds the options every user command takes (and --wait/--timeout where waiting makes sense). */
export function userOptions(command: Command, waits = false): Command {
  command
    .option('-n, --namespace <ns>', "namespace (default: SITE_RECOVERY_NAMESPACE, else the kubeconfig context's)", namespaceName, process.env.SITE_RECOVERY_NAMESPACE || undefined)
    .option('--kubeconfig <path>', 'kubeconfig file (default: KUBECONFIG, ~/.kube/config)');
  if (waits) {
    command
      .option('--wait', 'wait until it is done and exit 0 only when it succeeded', false)
      .addOption(new Option('--timeout <duration>', 'limit for --wait').argParser((v) => parseDuration(v)).default(parseDuration('30m'), '30m'));
  }
  return command;
}

export class UserContext {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  readonly vms: CustomResourceClient<ReplicatedVM>;
  readonly failovers: CustomResourceClient<FailoverRequest>;
  readonly points: CustomResourceClient<RecoveryPoint>;
  private readonly timeoutMs: number;

  constructor(options: UserOptions) {
    this.kubeConfig = loadKubeConfig(options.kubeconfig);
    this.namespace = options.namespace ?? contextNamespace(this.kubeConfig);
    this.vms = new CustomResourceClient<ReplicatedVM>(this.kubeConfig, 'ReplicatedVM');
    this.failovers = new CustomResourceClient<FailoverRequest>(this.kubeConfig, 'FailoverRequest');
    this.points = new CustomResourceClient<RecoveryPoint>(this.kubeConfig, 'RecoveryPoint');
    this.timeoutMs = options.timeout ?? parseDuration('30m');
  }

  ref(name: string) {
    return { namespace: this.namespace, name };
  }

  /** The object, or an error a person understands when it does not exist. */
  async need<T extends CustomObject>(client: CustomResourceClient<T>, kind: string, name: string): Promise<T> {
    const object = await client.get(this.ref(name));
    if (!object) throw new Error(`${kind} ${name} not found in namespace ${this.namespace}`);
    return object;
  }

  wait<T extends CustomObject>(client: CustomResourceClient<T>, name: string, what: string, done: (o: T | undefined) => boolean): Promise<T | undefined> {
    return waitForObject(this.kubeConfig, client, this.ref(name), done, { what, timeoutMs: this.timeoutMs });
  }
}
