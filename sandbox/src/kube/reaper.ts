// Makes sure the child processes of a control plane never outlive this process, even when it dies without
// running its exit handlers (SIGKILL, OOM, a crashed test runner).
//
// A small detached Node process holds the read end of a pipe from us. We tell it, line by line, which pids
// to kill and which directories to remove. When we die, the kernel closes the pipe; the reaper sees
// end-of-file and cleans up. On an orderly stop we write "release" and it exits without touching anything.
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';

const REAPER_SOURCE = `
const fs = require('node:fs');
const pids = []; const dirs = []; let released = false; let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, i); buf = buf.slice(i + 1);
    if (line.startsWith('pid ')) pids.push(Number(line.slice(4)));
    else if (line.startsWith('dir ')) dirs.push(line.slice(4));
    else if (line === 'release') released = true;
  }
});
process.stdin.on('end', () => {
  if (!released) {
    for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch {} }
    for (const dir of dirs) { try { fs.rmSync(dir, { recursive: true, force: true }); } catch {} }
  }
  process.exit(0);
});
for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => {});
`;

export interface Reaper {
  /** Kill this pid if we die. */
  watchPid(pid: number | undefined): void;
  /** Remove this directory if we die. */
  watchDir(dir: string): void;
  /** The children were stopped in an orderly way: the reaper exits without killing anything. */
  release(): void;
}

export function startReaper(): Reaper {
  const child = spawn(process.execPath, ['-e', REAPER_SOURCE], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  child.unref();
  const stdin = child.stdin as Socket;
  stdin.unref(); // the pipe must not keep our event loop alive
  stdin.on('error', () => {}); // the reaper may already be gone
  let released = false;
  const send = (line: string): void => {
    if (!released) stdin.write(`${line}\n`);
  };
  return {
    watchPid: (pid) => {
      if (pid !== undefined) send(`pid ${pid}`);
    },
    watchDir: (dir) => send(`dir ${dir}`),
    release(): void {
      if (released) return;
      released = true;
      stdin.end('release\n');
    },
  };
}
