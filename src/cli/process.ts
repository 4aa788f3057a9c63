/** Shared plumbing for the long-running commands: kubeconfig loading and graceful shutdown. */
import { KubeConfig } from '@kubernetes/client-node';
import { shareConnections } from '../kube/shared-connections.ts';
import { createLogger } from '../util/logger.ts';

const log = createLogger('process');

export function loadKubeConfig(path?: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (path) kubeConfig.loadFromFile(path);
  else kubeConfig.loadFromDefault();
  return shareConnections(kubeConfig);
}

/** An AbortSignal that fires on the first SIGTERM or SIGINT; a second one exits at once. */
export function shutdownSignal(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      log.warn('second signal: exiting now', { signal });
      process.exit(130);
    }
    log.info('shutting down gracefully', { signal });
    controller.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return controller.signal;
}
