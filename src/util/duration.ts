/** Go-style duration strings (the API's Duration type): 90s, 5m, 1h30m, 250ms. */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(?:(\d+(?:\.\d+)?)(ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

export function parseDuration(text: string): number {
  if (!DURATION.test(text)) throw new Error(`invalid duration "${text}" (expected e.g. 30s, 5m, 1h30m)`);
  let total = 0;
  for (const [, value, unit] of text.matchAll(PART)) total += Number(value) * (UNIT_MS[unit as string] ?? 0);
  return Math.round(total);
}

/** Formats milliseconds compactly for people and printer columns: 2m10s, 1h5m, 45s. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '0s';
  let seconds = Math.round(ms / 1000);
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  let out = '';
  if (hours) out += `${hours}h`;
  if (minutes) out += `${minutes}m`;
  if (seconds || !out) out += `${seconds}s`;
  return out;
}
