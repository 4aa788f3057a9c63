// IPv4 CIDR arithmetic for address spaces, subnets and private IP allocation.

export interface Cidr {
  base: number;
  bits: number;
  size: number;
}

export function ipToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip.trim());
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(s: string): Cidr | undefined {
  const [ip, bitsStr] = String(s).split('/');
  const ipn = ipToInt(ip ?? '');
  const bits = Number(bitsStr);
  if (ipn === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32 || bitsStr === undefined) return undefined;
  const size = 2 ** (32 - bits);
  const base = ipn - (ipn % size);
  if (base !== ipn) return undefined; // host bits set: ARM rejects non-canonical prefixes
  return { base, bits, size };
}

export const contains = (outer: Cidr, inner: Cidr): boolean =>
  inner.base >= outer.base && inner.base + inner.size <= outer.base + outer.size;

export const overlaps = (a: Cidr, b: Cidr): boolean => a.base < b.base + b.size && b.base < a.base + a.size;

export const hasIp = (c: Cidr, ip: number): boolean => ip >= c.base && ip < c.base + c.size;

/** Azure reserves the network address, .1 (gateway), .2 and .3 (DNS) and the broadcast address. */
export function isReserved(c: Cidr, ip: number): boolean {
  return ip - c.base < 4 || ip === c.base + c.size - 1;
}

/** First address of the subnet that is neither reserved nor used. */
export function firstFree(c: Cidr, used: Set<number>): number | undefined {
  for (let ip = c.base + 4; ip < c.base + c.size - 1; ip++) if (!used.has(ip)) return ip;
  return undefined;
}
