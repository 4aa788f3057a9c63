// Parsing of the sandbox CLI's human units: sizes (`64GiB`, `512MiB`, `1.5GB`, `4096`), rates (`5MiB/s`)
// and durations (`60s`, `5m`, `1h30m`, `250ms`). A tiny parser instead of a dependency: the grammar is
// small and the CLI needs exact binary/decimal semantics (KiB = 1024, KB = 1000) that general-purpose
// libraries disagree on.

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1000 ** 4,
  tib: 1024 ** 4,
};

/** Bytes of a size such as `64GiB`, `512MiB`, `10MB`, `4096` (plain numbers are bytes). */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? SIZE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new Error(`invalid size ${JSON.stringify(text)} (examples: 4096, 512MiB, 64GiB)`);
  const bytes = Number(m[1]) * unit;
  if (!Number.isSafeInteger(Math.round(bytes))) throw new Error(`size ${JSON.stringify(text)} is too large`);
  return Math.round(bytes);
}

/** Bytes per second of a rate such as `5MiB/s`, `100KiB/s`, `1MB/s`. */
export function parseRate(text: string): number {
  const m = /^\s*(.+?)\s*\/\s*s(?:ec)?\s*$/i.exec(text);
  if (!m) throw new Error(`invalid rate ${JSON.stringify(text)} (example: 5MiB/s)`);
  return parseSize(m[1]!);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a duration such as `60s`, `5m`, `1h30m`, `250ms` (a plain number is seconds). */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (/^\d+(?:\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    end = re.lastIndex;
  }
  if (end === 0 || end !== t.length) throw new Error(`invalid duration ${JSON.stringify(text)} (examples: 60s, 5m, 1h30m)`);
  return Math.round(total);
}

/** Whole GiB of a disk size (managed disk sizes are whole GiB). */
export function sizeToGiB(text: string): number {
  const bytes = parseSize(text);
  const gib = bytes / 1024 ** 3;
  if (!Number.isInteger(gib) || gib < 1) throw new Error(`disk size ${JSON.stringify(text)} must be a whole number of GiB (e.g. 1GiB, 64GiB)`);
  return gib;
}
