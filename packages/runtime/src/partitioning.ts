/** Which partition a key belongs to, and which partitions an instance owns. */

/**
 * FNV-1a (32-bit) over the UTF-8 bytes of `key`, modulo `partitionCount`. Stable across processes, versions
 * and languages, so every instance (and any client) computes the same partition for an account.
 */
export function partitionOf(key: string, partitionCount: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    let code = key.charCodeAt(i);
    if (code < 0x80) {
      hash = Math.imul(hash ^ code, 0x01000193);
      continue;
    }
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < key.length) {
      const low = key.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    const bytes =
      code < 0x800
        ? [0xc0 | (code >> 6), 0x80 | (code & 0x3f)]
        : code < 0x10000
          ? [0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f)]
          : [
              0xf0 | (code >> 18),
              0x80 | ((code >> 12) & 0x3f),
              0x80 | ((code >> 6) & 0x3f),
              0x80 | (code & 0x3f),
            ];
    for (const b of bytes) hash = Math.imul(hash ^ b, 0x01000193);
  }
  return (hash >>> 0) % partitionCount;
}

/**
 * The partitions instance `instanceIndex` of `instanceCount` owns: every `p` in `[0, partitionCount)` with
 * `p % instanceCount === instanceIndex`.
 */
export function ownedPartitions(
  partitionCount: number,
  instanceIndex: number,
  instanceCount: number,
): number[] {
  if (!Number.isInteger(partitionCount) || partitionCount < 1) {
    throw new RangeError(`partition count must be a positive integer, got ${partitionCount}`);
  }
  if (!Number.isInteger(instanceCount) || instanceCount < 1 || instanceCount > partitionCount) {
    throw new RangeError(
      `instance count must be between 1 and the partition count (${partitionCount}), got ${instanceCount}`,
    );
  }
  if (!Number.isInteger(instanceIndex) || instanceIndex < 0 || instanceIndex >= instanceCount) {
    throw new RangeError(`instance index must be between 0 and ${instanceCount - 1}, got ${instanceIndex}`);
  }
  const owned: number[] = [];
  for (let p = instanceIndex; p < partitionCount; p += instanceCount) owned.push(p);
  return owned;
}

/**
 * The partitions an instance owns according to `PARTITION_COUNT`, `INSTANCE_INDEX` and `INSTANCE_COUNT` in `env`
 * (defaults 16, 0, 1), or undefined when they are invalid. For labels (such as the telemetry resource) that are
 * needed before the service has validated its settings; the service itself refuses to start with a clear message.
 */
export function ownedPartitionsFromEnv(env: NodeJS.ProcessEnv): number[] | undefined {
  try {
    return ownedPartitions(
      Number(env.PARTITION_COUNT ?? 16),
      Number(env.INSTANCE_INDEX ?? 0),
      Number(env.INSTANCE_COUNT ?? 1),
    );
  } catch {
    return undefined;
  }
}
