// `npm run bench [-- NAME ...]`: runs the benchmarks (every bench/*.ts but this one, or the named ones)
// one after another, each in its own process, and prints what each reports. Results are also written to
// bench/results/<timestamp>.json (not committed).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const dir = import.meta.dirname;
const all = fs.readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'run.ts').map((f) => f.replace(/\.ts$/, '')).sort();
const args = process.argv.slice(2);
const names = args.filter((a) => !a.startsWith('-'));
const extra = args.filter((a) => a.startsWith('-'));
const chosen = names.length ? names : all;
const unknown = chosen.filter((n) => !all.includes(n));
if (unknown.length) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${all.join(', ')}`);
  process.exit(2);
}

const results: Record<string, unknown> = {};
for (const name of chosen) {
  console.log(`\n=== ${name}`);
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(dir, `${name}.ts`), ...extra], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' } });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      process.stdout.write(c);
    });
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${name} exited with ${code}`))));
  });
  try {
    results[name] = JSON.parse(output.slice(output.indexOf('{')));
  } catch {
    results[name] = output.trim();
  }
}
fs.mkdirSync(path.join(dir, 'results'), { recursive: true });
const file = path.join(dir, 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
fs.writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), results }, null, 2));
console.log(`\nwritten ${path.relative(process.cwd(), file)}`);
