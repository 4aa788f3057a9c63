/** The HTTP endpoints every process serves: /healthz (alive), /readyz (ready, with a reason) and /metrics. */
import { createServer, type Server } from 'node:http';
import { createLogger } from '../util/logger.ts';
import { registry } from './metrics.ts';

const log = createLogger('health-server');

export interface Readiness {
  ready: boolean;
  /** Shown in the response body, e.g. "ok (leader)" or "caches not synced". */
  detail: string;
}

export async function serveHealth(port: number, host: string, readiness: () => Readiness): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' || path === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    } else if (path === '/readyz') {
      const { ready, detail } = readiness();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(detail);
    } else if (path === '/metrics') {
      registry
        .metrics()
        .then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text))
        .catch((error: unknown) => res.writeHead(500).end(String(error)));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new Error(`port ${port} is already in use: choose another with --metrics-port or METRICS_PORT`, { cause: error }) : error),
    );
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  log.info('serving /healthz, /readyz and /metrics', { port: address && typeof address === 'object' ? address.port : port });
  return server;
}

export function closeServer(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}
