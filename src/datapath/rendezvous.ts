/**
 * Ownership by rendezvous (highest-random-weight) hashing: every replica computes, from the same list of
 * live members, the same owner for each VM, with no coordination. A member joining takes about 1/N of
 * the VMs (only those it now wins) and a member leaving hands only its own VMs to the others.
 */
import { createHash } from 'node:crypto';

/** The weight of `member` for `key`: the first 8 bytes of sha256(member, key) as an unsigned integer. */
function weight(member: string, key: string): bigint {
  return createHash('sha256').update(member).update('\0').update(key).digest().readBigUInt64BE(0);
}

/** The member that owns `key`, or undefined when there are no members. Ties break by member name. */
export function ownerOf(key: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1n;
  for (const member of members) {
    const w = weight(member, key);
    if (w > bestWeight || (w === bestWeight && best !== undefined && member < best)) {
      best = member;
      bestWeight = w;
    }
  }
  return best;
}
