/**
 * The live status view of `site-recovery start`: what a person checks first, read at a glance.
 *
 * Rendering is pure (a model in, lines out) so it is unit-tested; two outputs:
 *   - TtyScreen redraws the frame in place on a terminal (cursor up + clear down, one write per frame, lines
 *     cut to the terminal width so nothing wraps). Node's own ANSI sequences and util.styleText are all it
 *     needs: a library such as log-update or ink would add dependencies for these few escape codes.
 *   - PlainLog prints timestamped lines when output is not a terminal (CI logs, files, tests): a VM's line
 *     whenever its phase, health, sync progress (by tenths), last point or replica changes, and every
 *     line of the view at a slower period.
 */
import { styleText } from 'node:util';

export interface VmView {
  namespace: string;
  name: string;
  phase: string;
  /** 0-100 while or after the initial sync. */
  syncPercent?: number;
  syncBytesPerSecond?: number;
  /** Seconds since the newest sealed point's capture time. */
  rpoSeconds?: number;
  lastPoint?: { name: string; time: string };
  points: number;
  health?: string;
  /** Datapath replica replicating it. */
  owner?: string;
  /** Why it is not Ready, when it is not. */
  message?: string;
}

export interface ReplicaView {
  name: string;
  up: boolean;
  /** Not answering yet since it was started. */
  starting?: boolean;
  ownedVms?: number;
  captureBytesPerSecond?: number;
  applyBytesPerSecond?: number;
  backlogBytes?: number;
}

export interface FailoverView {
  name: string;
  vm: string;
  type: string;
  phase: string;
  step?: string;
  rtoSeconds?: number;
  /** The request was deleted (for a Test: cleaned up). */
  deleted?: boolean;
}

export interface LiveViewModel {
  now: number;
  startedAt: number;
  /** Lines printed under the title (how to reach the sandbox, notes). */
  header: string[];
  vms: VmView[];
  replicas: ReplicaView[];
  operator: { up: boolean; leader?: boolean };
  failovers: FailoverView[];
  /** One line about the workload, if any. */
  workload?: string;
  footer: string[];
}

type Style = Parameters<typeof styleText>[0];
interface Cell {
  text: string;
  width?: number;
  align?: 'right';
  style?: Style;
}

export function formatBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Math.max(0, n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export const formatRate = (bps: number | undefined): string => (bps === undefined ? '-' : `${formatBytes(bps)}/s`);

/** 75 → 1m15s; undefined → '-'. */
export function formatSeconds(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '-';
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/** A progress bar of `width` cells: unicode blocks on a terminal, # and - elsewhere. */
export function progressBar(percent: number, width: number, unicode: boolean): string {
  const p = Math.min(100, Math.max(0, percent));
  if (!unicode) {
    const full = Math.floor((p / 100) * width);
    return `[${'#'.repeat(full)}${'-'.repeat(width - full)}]`;
  }
  const eighths = Math.floor((p / 100) * width * 8); // floor: 99.9% is not a full bar
  const full = Math.floor(eighths / 8);
  const partial = eighths % 8;
  const partials = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
  const bar = '█'.repeat(full) + (full < width ? partials[partial]! : '');
  return bar + '░'.repeat(Math.max(0, width - [...bar].length));
}

const replicaState = (r: ReplicaView) => (r.up ? 'up' : r.starting ? 'starting' : 'down');

const hhmmss = (ms: number | string): string => new Date(ms).toISOString().slice(11, 19);

const PHASE_STYLE: Record<string, Style> = {
  Protected: 'green',
  InitialSync: 'cyan',
  EnablingReplication: 'cyan',
  Pending: 'gray',
  FailingOver: 'yellow',
  FailedOver: 'magenta',
  Error: 'red',
  Succeeded: 'green',
  Running: 'cyan',
  Failed: 'red',
  CleaningUp: 'yellow',
  CleanedUp: 'gray',
  Committed: 'magenta',
};
const HEALTH_STYLE: Record<string, Style> = { Normal: 'green', Warning: 'yellow', Critical: 'red' };

function syncCell(vm: VmView, unicode: boolean): string {
  const percent = vm.syncPercent ?? (vm.phase === 'InitialSync' ? 0 : undefined);
  if (percent === undefined) return vm.phase === 'Pending' || vm.phase === 'EnablingReplication' ? 'waiting' : '-';
  const pct = `${Math.floor(percent)}%`.padStart(4);
  const rate = percent < 100 && vm.syncBytesPerSecond ? ` ${formatRate(vm.syncBytesPerSecond)}` : '';
  return `${progressBar(percent, 16, unicode)} ${pct}${rate}`;
}

function lastPointCell(vm: VmView): string {
  return vm.lastPoint ? hhmmss(vm.lastPoint.time) : '-';
}

/** Cuts `cells` into one line of at most `max` visible characters, styling each cell. */
function row(cells: Cell[], max: number, color: boolean): string {
  let out = '';
  let used = 0;
  for (const [i, c] of cells.entries()) {
    const sep = i === 0 ? ' ' : '  ';
    let text = c.width === undefined ? c.text : c.align === 'right' ? c.text.padStart(c.width) : c.text.padEnd(c.width);
    const room = max - used - sep.length;
    if (room <= 0) break;
    if ([...text].length > room) text = [...text].slice(0, Math.max(0, room - 1)).join('') + '…';
    used += sep.length + [...text].length;
    out += sep + (color && c.style ? styleText(c.style, text, { validateStream: false }) : text);
  }
  return out.trimEnd();
}

const plainLine = (text: string, max: number) => ([...text].length > max ? [...text].slice(0, max - 1).join('') + '…' : text);

export interface RenderOptions {
  /** Visible characters per line (terminal columns − 1). */
  width: number;
  color: boolean;
  unicode: boolean;
}

/** The full frame, one string per line. */
export function renderFrame(m: LiveViewModel, o: RenderOptions): string[] {
  const w = o.width;
  const b = (style: Style, text: string) => (o.color ? styleText(style, text, { validateStream: false }) : text);
  const lines: string[] = [];
  const title = ` site-recovery · local sandbox · up ${formatSeconds((m.now - m.startedAt) / 1000)} · ${hhmmss(m.now)}`;
  lines.push(b('bold', plainLine(title, w)));
  for (const h of m.header) lines.push(b('dim', plainLine(` ${h}`, w)));
  lines.push('');

  const nameWidth = Math.max(14, ...m.vms.map((v) => v.name.length));
  lines.push(b('bold', row([
    { text: 'REPLICATED VM', width: nameWidth }, { text: 'PHASE', width: 12 }, { text: 'INITIAL SYNC', width: 33 }, { text: 'RPO', width: 6, align: 'right' },
    { text: 'LAST POINT', width: 10 }, { text: 'POINTS', width: 6, align: 'right' }, { text: 'HEALTH', width: 8 }, { text: 'REPLICA' },
  ], w, false)));
  if (m.vms.length === 0) lines.push(b('dim', row([{ text: '(no ReplicatedVM yet)' }], w, false)));
  for (const vm of m.vms) {
    lines.push(row([
      { text: vm.name, width: nameWidth },
      { text: vm.phase, width: 12, style: PHASE_STYLE[vm.phase] ?? 'white' },
      { text: syncCell(vm, o.unicode), width: 33, style: vm.syncPercent !== undefined && vm.syncPercent < 100 ? 'cyan' : 'green' },
      { text: formatSeconds(vm.rpoSeconds), width: 6, align: 'right' },
      { text: lastPointCell(vm), width: 10 },
      { text: String(vm.points), width: 6, align: 'right' },
      { text: vm.health ?? '-', width: 8, style: HEALTH_STYLE[vm.health ?? ''] ?? 'gray' },
      { text: vm.owner ?? '-' },
    ], w, o.color));
    if (vm.message && vm.phase !== 'Protected') lines.push(b('yellow', plainLine(`   └ ${vm.message}`, w)));
  }
  lines.push('');

  const total = m.vms.length;
  lines.push(b('bold', row([
    { text: 'DATAPATH', width: 12 }, { text: 'STATE', width: 8 }, { text: 'VMS', width: 3, align: 'right' }, { text: 'SHARE', width: 5, align: 'right' },
    { text: 'CAPTURE', width: 11, align: 'right' }, { text: 'APPLY', width: 11, align: 'right' }, { text: 'BACKLOG', width: 9, align: 'right' },
  ], w, false)));
  for (const r of m.replicas) {
    const share = r.ownedVms === undefined || total === 0 ? '-' : `${Math.round((100 * r.ownedVms) / total)}%`;
    lines.push(row([
      { text: r.name, width: 12 },
      { text: replicaState(r), width: 8, style: r.up ? 'green' : r.starting ? 'gray' : 'red' },
      { text: r.ownedVms === undefined ? '-' : String(r.ownedVms), width: 3, align: 'right' },
      { text: share, width: 5, align: 'right' },
      { text: formatRate(r.captureBytesPerSecond), width: 11, align: 'right' },
      { text: formatRate(r.applyBytesPerSecond), width: 11, align: 'right' },
      { text: formatBytes(r.backlogBytes), width: 9, align: 'right' },
    ], w, o.color));
  }
  lines.push('');

  const op = m.operator.up ? `up${m.operator.leader ? ', leader' : m.operator.leader === false ? ', standby' : ''}` : 'down';
  lines.push(row([{ text: 'operator', width: 9, style: 'bold' }, { text: op, style: m.operator.up ? 'green' : 'red' }], w, o.color));
  if (m.workload) lines.push(row([{ text: 'workload', width: 9, style: 'bold' }, { text: m.workload }], w, o.color));
  for (const f of m.failovers) {
    lines.push(row([
      { text: 'failover', width: 9, style: 'bold' },
      { text: f.name },
      { text: `${f.type} of ${f.vm}` },
      { text: f.phase, style: PHASE_STYLE[f.phase] ?? 'white' },
      { text: [f.phase === 'Running' && f.step ? f.step : '', f.rtoSeconds !== undefined ? `RTO ${formatSeconds(f.rtoSeconds)}` : '', f.deleted ? (f.type === 'Test' ? 'cleaned up' : 'request deleted') : ''].filter(Boolean).join(', ') },
    ], w, o.color));
  }
  if (m.footer.length) lines.push('');
  for (const f of m.footer) lines.push(b('dim', plainLine(` ${f}`, w)));
  return lines;
}

/** Redraws a frame in place on a terminal. */
export class TtyScreen {
  private readonly out: NodeJS.WriteStream;
  private height = 0;
  private cursorHidden = false;
  private readonly showCursor = () => this.out.write('\x1b[?25h');

  constructor(out: NodeJS.WriteStream) {
    this.out = out;
  }

  get width(): number {
    return Math.max(40, (this.out.columns || 100) - 1);
  }

  draw(lines: string[]): void {
    const rows = this.out.rows || 50;
    const frame = lines.length >= rows ? lines.slice(0, rows - 1) : lines;
    let text = '';
    if (!this.cursorHidden) {
      this.cursorHidden = true;
      text += '\x1b[?25l';
      process.once('exit', this.showCursor);
    }
    if (this.height) text += `\r\x1b[${this.height}A`;
    text += '\x1b[J' + frame.map((l) => `${l}\x1b[K`).join('\n') + '\n';
    this.height = frame.length;
    this.out.write(text);
  }

  /** Keeps the last frame and gives the cursor back; later output goes below it. */
  close(): void {
    if (this.cursorHidden) {
      this.showCursor();
      process.off('exit', this.showCursor);
      this.cursorHidden = false;
    }
    this.height = 0;
  }
}

/** Timestamped lines for logs: changes as they happen, everything every `fullEveryMs`. */
export class PlainLog {
  private readonly write: (line: string) => void;
  private readonly fullEveryMs: number;
  private lastFull = 0;
  private readonly lastKeys = new Map<string, string>();

  constructor(write: (line: string) => void, fullEveryMs = 15_000) {
    this.write = write;
    this.fullEveryMs = fullEveryMs;
  }

  update(m: LiveViewModel): void {
    const full = m.now - this.lastFull >= this.fullEveryMs;
    if (full) this.lastFull = m.now;
    const stamp = `[${hhmmss(m.now)}]`;
    for (const vm of m.vms) {
      const key = `${vm.phase}|${vm.health}|${vm.lastPoint?.name}|${vm.owner}|${vm.syncPercent === undefined ? '' : Math.floor(vm.syncPercent / 10)}`;
      if (!full && this.lastKeys.get(`vm/${vm.namespace}/${vm.name}`) === key) continue;
      this.lastKeys.set(`vm/${vm.namespace}/${vm.name}`, key);
      const sync = vm.syncPercent === undefined ? '-' : `${Math.floor(vm.syncPercent)}%`;
      this.write(
        `${stamp} vm ${vm.name} phase=${vm.phase} sync=${sync} rpo=${formatSeconds(vm.rpoSeconds)} lastPoint=${vm.lastPoint ? hhmmss(vm.lastPoint.time) : '-'} points=${vm.points} health=${vm.health ?? '-'} replica=${vm.owner ?? '-'}${vm.message && vm.phase !== 'Protected' ? ` (${vm.message})` : ''}`,
      );
    }
    for (const f of m.failovers) {
      const key = `${f.phase}|${f.step}|${f.deleted}`;
      if (!full && this.lastKeys.get(`fo/${f.name}`) === key) continue;
      this.lastKeys.set(`fo/${f.name}`, key);
      this.write(`${stamp} failover ${f.name} ${f.type} of ${f.vm} phase=${f.phase}${f.step && f.phase === 'Running' ? ` step=${f.step}` : ''}${f.rtoSeconds !== undefined ? ` rto=${formatSeconds(f.rtoSeconds)}` : ''}${f.deleted ? ' deleted' : ''}`);
    }
    if (!full) return;
    const total = m.vms.length;
    for (const r of m.replicas) {
      const share = r.ownedVms === undefined || total === 0 ? '-' : `${Math.round((100 * r.ownedVms) / total)}%`;
      this.write(`${stamp} datapath ${r.name} ${replicaState(r)} vms=${r.ownedVms ?? '-'} share=${share} capture=${formatRate(r.captureBytesPerSecond)} apply=${formatRate(r.applyBytesPerSecond)} backlog=${formatBytes(r.backlogBytes)}`);
    }
    this.write(`${stamp} operator ${m.operator.up ? 'up' : 'down'}${m.operator.leader ? ' leader' : ''}${m.workload ? ` · workload ${m.workload}` : ''}`);
  }
}
