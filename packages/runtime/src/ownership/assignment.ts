/**
 * Which partitions each live member of a stage should own. Every member computes this from the same member list,
 * so they agree without talking to each other.
 *
 * - Balanced: each member gets ⌊P/N⌋ or ⌈P/N⌉ partitions (the first `P mod N` members in id order get one more).
 * - Stable: each partition ranks the members by a rendezvous (highest random weight) score of (member, partition)
 *   and the pairs are handed out best score first within those quotas. A member joining or leaving changes only
 *   the pairs that involve it and the quotas, so few partitions move (measured in the test: about P/N per change).
 */

/** FNV-1a over the UTF-16 code units of `text`, then a 32-bit finaliser (murmur3's) so close ids spread well. */
function score(member: string, partition: number): number {
  let h = 0x811c9dc5;
  const text = `${member}#${partition}`;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The partitions of each member (every member appears, possibly with none), each list ascending. Deterministic in
 * the set of members (their order does not matter).
 */
export function assignPartitions(members: readonly string[], partitionCount: number): Map<string, number[]> {
  if (!Number.isSafeInteger(partitionCount) || partitionCount < 0)
    throw new RangeError(`partition count must be a non-negative integer, got ${partitionCount}`);
  const ids = [...new Set(members)].sort();
  const out = new Map<string, number[]>(ids.map((id) => [id, []]));
  if (ids.length === 0) return out;
  const base = Math.floor(partitionCount / ids.length);
  const extra = partitionCount % ids.length;
  const quota = new Map(ids.map((id, i) => [id, base + (i < extra ? 1 : 0)]));
  const pairs: { member: string; partition: number; score: number }[] = [];
  for (const member of ids) {
    for (let partition = 0; partition < partitionCount; partition++)
      pairs.push({ member, partition, score: score(member, partition) });
  }
  pairs.sort(
    (a, b) =>
      b.score - a.score ||
      a.partition - b.partition ||
      (a.member < b.member ? -1 : a.member > b.member ? 1 : 0),
  );
  const taken = new Set<number>();
  for (const { member, partition } of pairs) {
    if (taken.has(partition) || quota.get(member)! === 0) continue;
    taken.add(partition);
    quota.set(member, quota.get(member)! - 1);
    out.get(member)!.push(partition);
  }
  for (const list of out.values()) list.sort((a, b) => a - b);
  return out;
}
