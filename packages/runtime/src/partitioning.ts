/** Which partitions an instance asks for when it is given a static assignment. */

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
