/**
 * The live view of `start`: the sample objects as the API server reports them (informers) and the
 * processes' /metrics (scraped every 2 s), redrawn at most every 100 ms after a change and every second
 * otherwise, until a stop is requested. On a terminal it is one screen drawn in place; otherwise (a pipe,
 * a test) a log of what changed. The header says how to reach the sandbox, the footer what runs how.
 */
import { once } from 'node:events';
import path from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import type { FailoverRequest } from '../../../src/api/types.ts';
import { LiveSources } from '../../../src/cli/live-view-sources.ts';
import { PlainLog, renderFrame, TtyScreen, type LiveViewModel } from '../../../src/cli/live-view.ts';
import type { StartConsole } from './console.ts';
import type { ProductProcesses } from './processes.ts';
import { SAMPLE_POLICY_INTERVAL, type Sample } from './sample.ts';
import type { SampleWorkload } from './workload.ts';

export interface LiveViewOptions {
  ui: StartConsole;
  /** The sandbox directory, its env file and logs. */
  dir: string;
  startedAt: number;
  durationMs: number | undefined;
  cycleInterval: string;
  processes: ProductProcesses;
  workload: SampleWorkload;
  sample: Sample;
  /** Aborted when the supervisor stops: the view ends. */
  stop: AbortSignal;
}

/** Watches the API server and the processes' /metrics; a real failover of the sample VM stops its workload. */
export async function connectLiveView(ui: StartConsole, kubeConfig: KubeConfig, processes: ProductProcesses, workload: SampleWorkload, sample: Sample): Promise<LiveSources> {
  const sources = new LiveSources({
    kubeConfig,
    replicas: processes.replicaPorts.map((port, i) => ({ name: `datapath-${i}`, metricsUrl: `http://127.0.0.1:${port}/metrics` })),
    operator: { name: 'operator', metricsUrl: `http://127.0.0.1:${processes.operatorPort}/metrics` },
  });
  // A real failover shuts the source VM down: its applications stop writing.
  const onFailover = (f: FailoverRequest) => workload.stopOnFailover(f, sample.rvm.metadata.name, sample.source.name);
  sources.failovers.on('add', onFailover);
  sources.failovers.on('update', onFailover);
  await ui.step('live view connected (watching the API server, scraping /metrics)', () => sources.start());
  return sources;
}

/** Shows the live view until a stop is requested. */
export async function runLiveView(sources: LiveSources, o: LiveViewOptions): Promise<void> {
  const { ui, stop } = o;
  const { header, footer } = liveViewText(o);
  const model = (): LiveViewModel => {
    const workload = o.workload.view();
    return {
      now: Date.now(),
      startedAt: o.startedAt,
      header,
      vms: sources.vmViews(),
      replicas: sources.replicaViews(),
      operator: sources.operatorView(),
      failovers: sources.failoverViews(),
      ...(workload ? { workload } : {}),
      footer: footer(),
    };
  };
  const screen = ui.tty ? new TtyScreen(ui.out) : undefined;
  const plain = ui.tty ? undefined : new PlainLog((line) => ui.print(line));
  if (!ui.tty) {
    ui.print(`ready in ${ui.since(o.startedAt)}:`);
    for (const h of header) ui.print(`  ${h}`);
    for (const f of footer()) ui.print(`  ${f}`);
  } else ui.print();
  let pending: NodeJS.Timeout | undefined;
  const draw = () => {
    pending = undefined;
    if (stop.aborted) return;
    const m = model();
    if (screen) screen.draw(renderFrame(m, { width: screen.width, color: ui.color, unicode: true }));
    else plain!.update(m);
  };
  const soon = () => (pending ??= setTimeout(draw, 100));
  for (const informer of [sources.vms, sources.failovers]) for (const e of ['add', 'update', 'delete'] as const) informer.on(e, soon);
  await sources.scrape();
  draw();
  const scrapeTimer = setInterval(() => void sources.scrape(), 2000);
  const drawTimer = setInterval(draw, 1000);
  if (!stop.aborted) await once(stop, 'abort');
  clearInterval(scrapeTimer);
  clearInterval(drawTimer);
  clearTimeout(pending);
  if (screen) {
    screen.draw(renderFrame(model(), { width: screen.width, color: ui.color, unicode: true }));
    screen.close();
  }
}

/** The view's fixed header (how to reach the sandbox) and its footer (how things run; exited processes). */
function liveViewText(o: LiveViewOptions): { header: string[]; footer: () => string[] } {
  const { ui, dir } = o;
  const header = [
    `kubectl   source ${ui.rel(path.join(dir, 'env'))}; kubectl get siterecovery`,
    `drill     source ${ui.rel(path.join(dir, 'env'))}; npm run -s site-recovery -- drill ${o.sample.rvm.metadata.name}`,
    `logs      ${ui.rel(dir)}/logs/{operator,datapath-0,datapath-1,sandbox}.log · Ctrl-C stops everything`,
  ];
  const stopsAt = o.durationMs !== undefined ? o.startedAt + o.durationMs : undefined;
  const footer = () => [
    o.cycleInterval === 'policy'
      ? `recovery points follow the policy: every ${SAMPLE_POLICY_INTERVAL}`
      : `demo: the datapath seals a recovery point every ${o.cycleInterval} (--cycle-interval; the policy says ${SAMPLE_POLICY_INTERVAL}, "--cycle-interval policy" follows it)`,
    ...o.processes.exited().map((c) => `${c.name} exited (${c.exit}): see ${ui.rel(c.logFile)}`),
    ...(stopsAt ? [`stops by itself at ${new Date(stopsAt).toISOString().slice(11, 19)} (--duration)`] : []),
  ];
  return { header, footer };
}
