/**
 * Runs a Dockerfile's stages without Docker, to prove what the image contains: every stage gets a
 * directory standing for its root filesystem; COPY copies from the build context (filtered by
 * .dockerignore) or from an earlier stage's directory; RUN runs the command with `sh -c` in the stage's
 * WORKDIR (mapped into the directory) with the stage's ENV, this machine's Node (Node 24) standing in for
 * the base image's, and cache mounts (`RUN --mount=type=cache,target=...`) kept in a persistent directory.
 *
 * Understands the instructions the project's Dockerfile uses: ARG, FROM [AS], WORKDIR, ENV, LABEL, COPY
 * [--from] [--chown] [--link], RUN [--mount=type=cache], USER, EXPOSE, ENTRYPOINT, CMD; anything else is
 * refused, so the proof never silently skips a step. RUN commands must use paths relative to WORKDIR.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';

export interface Instruction {
  op: string;
  /** Text after the instruction and its --flags. */
  args: string;
  flags: Record<string, string[]>;
  line: number;
}

export interface Stage {
  index: number;
  name?: string;
  base: string;
  instructions: Instruction[];
}

export interface ParsedDockerfile {
  globalArgs: Record<string, string>;
  stages: Stage[];
}

/** Splits shell-like words, honouring double and single quotes (no escapes inside single quotes). */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let current = '';
  let quote: '"' | "'" | undefined;
  let has = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < text.length) current += text[++i];
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || current) words.push(current);
      current = '';
      has = false;
    } else {
      current += ch;
    }
  }
  if (quote) throw new Error(`unterminated quote in: ${text}`);
  if (has || current) words.push(current);
  return words;
}

export function parseDockerfile(text: string): ParsedDockerfile {
  // Join continuation lines; drop comments and blank lines.
  const logical: { text: string; line: number }[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, i) => {
    const trimmed = raw.trim();
    if (!pending && (trimmed === '' || trimmed.startsWith('#'))) return;
    if (pending && trimmed.startsWith('#')) return; // comment lines inside a continuation
    const continued = trimmed.endsWith('\\');
    const part = continued ? trimmed.slice(0, -1).trimEnd() : trimmed;
    if (pending) pending.text += ` ${part}`;
    else pending = { text: part, line: i + 1 };
    if (!continued) {
      logical.push(pending);
      pending = undefined;
    }
  });
  if (pending) logical.push(pending);

  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const { text: lineText, line } of logical) {
    const m = /^(\w+)\s*(.*)$/s.exec(lineText);
    if (!m) throw new Error(`Dockerfile line ${line}: cannot parse "${lineText}"`);
    const op = (m[1] as string).toUpperCase();
    let rest = (m[2] as string).trim();
    const flags: Record<string, string[]> = {};
    if (op === 'COPY' || op === 'RUN' || op === 'FROM' || op === 'ADD') {
      for (;;) {
        const f = /^--([\w-]+)(?:=(\S+))?\s+/.exec(rest);
        if (!f) break;
        (flags[f[1] as string] ??= []).push(f[2] ?? 'true');
        rest = rest.slice(f[0].length);
      }
    }
    const instruction: Instruction = { op, args: rest, flags, line };
    if (op === 'FROM') {
      const words = splitWords(rest);
      const asIndex = words.findIndex((w) => w.toUpperCase() === 'AS');
      stages.push({ index: stages.length, base: words[0] as string, name: asIndex > 0 ? words[asIndex + 1]?.toLowerCase() : undefined, instructions: [] });
    } else if (stages.length === 0) {
      if (op !== 'ARG') throw new Error(`Dockerfile line ${line}: ${op} before the first FROM`);
      const [name, value = ''] = rest.split('=', 2) as [string, string?];
      globalArgs[name.trim()] = splitWords(value).join(' ');
    } else {
      (stages[stages.length - 1] as Stage).instructions.push(instruction);
    }
  }
  return { globalArgs, stages };
}

/** Docker's .dockerignore rules: the last pattern matching a path (or one of its parents) decides. */
export function dockerignoreFilter(patterns: string[]): (relPath: string) => boolean {
  const rules = patterns
    .map((p) => p.trim())
    .filter((p) => p && !p.startsWith('#'))
    .map((p) => {
      const negate = p.startsWith('!');
      const body = path.posix.normalize((negate ? p.slice(1) : p).trim()).replace(/^\/+/, '').replace(/\/+$/, '');
      let re = '';
      for (let i = 0; i < body.length; i++) {
        const ch = body[i] as string;
        if (ch === '*' && body[i + 1] === '*') {
          re += body[i + 2] === '/' ? '(?:.*/)?' : '.*';
          i += body[i + 2] === '/' ? 2 : 1;
        } else if (ch === '*') re += '[^/]*';
        else if (ch === '?') re += '[^/]';
        else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { negate, re: new RegExp(`^${re}$`) };
    });
  return (relPath: string) => {
    const parts = relPath.split('/');
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) if (candidates.some((c) => rule.re.test(c))) excluded = !rule.negate;
    return !excluded;
  };
}

function substitute(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)/g, (_m, a: string | undefined, def: string | undefined, b: string | undefined) => {
    const name = (a ?? b) as string;
    return vars[name] ?? def ?? '';
  });
}

/** This machine's registry, proxy and CA settings (environment and npm user config), for StageOptions.buildEnv. */
export function hostBuildEnv(env: NodeJS.ProcessEnv = process.env, npmUserConfig?: string): Record<string, string> {
  const out: Record<string, string> = {};
  const pass = /^(https?_proxy|no_proxy|all_proxy|node_extra_ca_certs|ssl_cert_file|ssl_cert_dir|npm_config_.+)$/i;
  for (const [k, v] of Object.entries(env)) if (v !== undefined && pass.test(k) && !/^npm_config_(cache|userconfig|prefix|globalconfig)$/i.test(k)) out[k] = v;
  if (npmUserConfig) out.NPM_CONFIG_USERCONFIG = npmUserConfig;
  return out;
}

export interface StagedImage {
  /** Directory standing for the final stage's root filesystem. */
  root: string;
  workdir: string;
  user?: string;
  env: Record<string, string>;
  entrypoint: string[];
  cmd: string[];
  exposed: string[];
  labels: Record<string, string>;
  /** Every stage's directory, by name or index. */
  stageRoots: Map<string, string>;
}

export interface StageOptions {
  dockerfile: string;
  context: string;
  /** Where the stage directories go (created; should be empty). */
  outDir: string;
  /** Persistent directory for RUN cache mounts. */
  cacheDir: string;
  /** Directory holding the `node` that stands in for the base image's (first in PATH for RUN). */
  nodeBinDir: string;
  /**
   * Environment of this machine that RUN steps get as well, as a build would through its builder's
   * settings (registry, proxy and CA configuration); the stage's ENV wins over it.
   */
  buildEnv?: Record<string, string>;
  log?: (line: string) => void;
}

function inRoot(root: string, p: string): string {
  return path.join(root, path.posix.normalize(`/${p}`));
}

function runShell(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (b: Buffer) => (output = (output + b.toString()).slice(-20_000));
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

function parseJsonOrShell(args: string): string[] {
  const trimmed = args.trim();
  if (trimmed.startsWith('[')) return JSON.parse(trimmed) as string[];
  return ['/bin/sh', '-c', trimmed];
}

/** Runs every stage of the Dockerfile (see the file comment) and returns the final stage. */
export async function stageDockerfile(opts: StageOptions): Promise<StagedImage> {
  const parsed = parseDockerfile(await fs.readFile(opts.dockerfile, 'utf8'));
  const ignore = await fs.readFile(path.join(opts.context, '.dockerignore'), 'utf8').then((t) => t.split('\n'), () => [] as string[]);
  const included = dockerignoreFilter(ignore);
  const stageRoots = new Map<string, string>();
  // Stages run concurrently, as BuildKit runs them: a stage waits only for those it copies from.
  const done = new Map<string, Promise<string>>();
  const runStage = async (stage: Stage): Promise<StagedImage> => {
    const root = path.join(opts.outDir, `stage-${stage.index}${stage.name ? `-${stage.name}` : ''}`);
    await fs.mkdir(root, { recursive: true });
    const vars: Record<string, string> = { ...parsed.globalArgs };
    const base = substitute(stage.base, vars);
    if (stageRoots.has(base.toLowerCase())) throw new Error(`FROM ${base}: stages built on other stages are not supported`);
    if (!/^node:24[.-]/.test(base) && base !== 'node:24') throw new Error(`FROM ${base}: the proof stands in Node 24 for the base image, so the base must be an official node:24 image`);
    const image: StagedImage = { root, workdir: '/', env: {}, entrypoint: [], cmd: [], exposed: [], labels: {}, stageRoots };
    for (const ins of stage.instructions) {
      const args = substitute(ins.args, { ...vars, ...image.env });
      const where = `Dockerfile line ${ins.line} (${ins.op})`;
      switch (ins.op) {
        case 'ARG': {
          const [name, value] = args.split('=', 2) as [string, string?];
          vars[name.trim()] = value !== undefined ? splitWords(value).join(' ') : (parsed.globalArgs[name.trim()] ?? '');
          break;
        }
        case 'WORKDIR':
          image.workdir = path.posix.resolve(image.workdir, args);
          await fs.mkdir(inRoot(root, image.workdir), { recursive: true });
          break;
        case 'ENV':
        case 'LABEL': {
          const words = splitWords(args);
          const pairs: [string, string][] = words.every((w) => w.includes('='))
            ? words.map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)])
            : [[words[0] as string, words.slice(1).join(' ')]];
          for (const [k, v] of pairs) (ins.op === 'ENV' ? image.env : image.labels)[k] = v;
          break;
        }
        case 'USER':
          image.user = args.trim();
          break;
        case 'EXPOSE':
          image.exposed.push(...splitWords(args));
          break;
        case 'ENTRYPOINT':
          image.entrypoint = parseJsonOrShell(args);
          image.cmd = [];
          break;
        case 'CMD':
          image.cmd = parseJsonOrShell(args);
          break;
        case 'COPY': {
          for (const f of Object.keys(ins.flags)) if (!['from', 'chown', 'chmod', 'link'].includes(f)) throw new Error(`${where}: --${f} is not supported`);
          const words = splitWords(args);
          if (words.length < 2) throw new Error(`${where}: COPY needs a source and a destination`);
          const dest = words[words.length - 1] as string;
          const sources = words.slice(0, -1);
          const destPath = path.posix.resolve(image.workdir, dest);
          const intoDir = dest.endsWith('/') || sources.length > 1;
          const from = ins.flags.from?.[0]?.toLowerCase();
          const fromStage = from !== undefined ? done.get(from) : undefined;
          if (from !== undefined && !fromStage) throw new Error(`${where}: --from=${from} names no earlier stage`);
          const fromRoot = await fromStage;
          for (const src of sources) {
            if (/[*?[]/.test(src)) throw new Error(`${where}: wildcards in COPY sources are not supported`);
            const srcPath = fromRoot ? inRoot(fromRoot, src) : path.join(opts.context, path.posix.normalize(src));
            const stat = await fs.stat(srcPath).catch(() => undefined);
            if (!stat) throw new Error(`${where}: ${src} does not exist${fromRoot ? ` in stage ${from}` : ' in the build context'}`);
            if (!fromRoot && !included(path.relative(opts.context, srcPath).split(path.sep).join('/'))) {
              throw new Error(`${where}: ${src} is excluded by .dockerignore`);
            }
            // A directory's contents go into dest; a file goes into dest when dest is (or must be) a directory.
            const destIsDir = intoDir || (await fs.stat(inRoot(root, destPath)).then((s) => s.isDirectory(), () => false));
            const targetFinal = stat.isFile() && destIsDir ? path.join(inRoot(root, destPath), path.basename(srcPath)) : inRoot(root, destPath);
            await fs.mkdir(stat.isDirectory() ? targetFinal : path.dirname(targetFinal), { recursive: true });
            await fs.cp(srcPath, targetFinal, {
              recursive: true,
              force: true,
              verbatimSymlinks: true,
              filter: (s) => fromRoot !== undefined || included(path.relative(opts.context, s).split(path.sep).join('/') || '.'),
            });
          }
          break;
        }
        case 'RUN': {
          const mounts = ins.flags.mount ?? [];
          const links: string[] = [];
          for (const mount of mounts) {
            const fields = Object.fromEntries(mount.split(',').map((kv) => kv.split('=', 2) as [string, string]));
            if (fields.type !== 'cache' || !fields.target) throw new Error(`${where}: only --mount=type=cache,target=... is supported`);
            const persistent = path.join(opts.cacheDir, fields.target.replace(/[^\w.-]+/g, '_'));
            await fs.mkdir(persistent, { recursive: true });
            const link = inRoot(root, fields.target);
            await fs.mkdir(path.dirname(link), { recursive: true });
            await fs.rm(link, { recursive: true, force: true });
            await fs.symlink(persistent, link);
            links.push(link);
          }
          const env: NodeJS.ProcessEnv = {
            ...opts.buildEnv,
            PATH: [opts.nodeBinDir, ...(process.env.PATH ?? '').split(path.delimiter).filter((p) => p && !p.includes('node_modules'))].join(path.delimiter),
            HOME: inRoot(root, '/root'),
            ...image.env,
          };
          if (env.HOME?.startsWith('/') && !env.HOME.startsWith(root)) env.HOME = inRoot(root, env.HOME);
          await fs.mkdir(env.HOME as string, { recursive: true });
          opts.log?.(`${where}: ${args}`);
          const result = await runShell(args, inRoot(root, image.workdir), env);
          for (const link of links) await fs.rm(link, { force: true });
          if (result.code !== 0) throw new Error(`${where} failed (exit ${result.code}): ${args}\n${result.output}`);
          break;
        }
        default:
          throw new Error(`${where}: instruction ${ins.op} is not supported by the staging proof`);
      }
    }
    return image;
  };
  const images: Promise<StagedImage>[] = [];
  for (const stage of parsed.stages) {
    const root = path.join(opts.outDir, `stage-${stage.index}${stage.name ? `-${stage.name}` : ''}`);
    stageRoots.set(String(stage.index), root);
    if (stage.name) stageRoots.set(stage.name, root);
    const image = runStage(stage);
    image.catch(() => {}); // awaited below; a dependent stage also sees the failure
    const rootWhenDone = image.then(() => root);
    rootWhenDone.catch(() => {});
    done.set(String(stage.index), rootWhenDone);
    if (stage.name) done.set(stage.name, rootWhenDone);
    images.push(image);
  }
  if (images.length === 0) throw new Error('the Dockerfile has no FROM');
  const results = await Promise.all(images);
  return results[results.length - 1] as StagedImage;
}
