/** Who owns what, as the lease bucket says: for `throughline status` and operators' tools. Reads only. */
import type { LeaseBucket } from '@throughline/bus';
import { decodeLease, decodeMember, leaseKeys, memberOfKey, partitionOfLeaseKey } from './lease-records.js';

export interface MemberView {
  member: string;
  startedAtMs: number;
  static: boolean;
}

export interface PartitionView {
  partition: number;
  /** The instance holding the lease; empty when it is free (never taken, released, or expired with its owner). */
  owner: string;
  /** The lease's epoch (0 when free). */
  epoch: number;
  /** When the owner took it, ms since the epoch (its clock). */
  acquiredAtMs: number | null;
  /** Who held it before (the releaser of a free lease). */
  previousOwner: string;
  /** How long the partition waited in its last cooperative hand-over. */
  pauseMs: number | null;
  /** When a free lease was released. */
  releasedAtMs: number | null;
}

export interface OwnershipView {
  stage: string;
  members: MemberView[];
  /** One entry per partition in `[0, partitionCount)`, plus any lease found beyond it. */
  partitions: PartitionView[];
}

export async function readOwnership(
  bucket: LeaseBucket,
  stage: string,
  partitionCount: number,
): Promise<OwnershipView> {
  const [memberEntries, leaseEntries] = await Promise.all([
    bucket.entries(leaseKeys.memberPrefix(stage)),
    bucket.entries(leaseKeys.leasePrefix(stage)),
  ]);
  const members: MemberView[] = [];
  for (const entry of memberEntries) {
    const record = decodeMember(entry.value);
    if (record !== undefined && memberOfKey(stage, entry.key) !== undefined)
      members.push({ member: record.member, startedAtMs: record.startedAtMs, static: record.static });
  }
  const leases = new Map<number, PartitionView>();
  for (const entry of leaseEntries) {
    const partition = partitionOfLeaseKey(stage, entry.key);
    const record = decodeLease(entry.value);
    if (partition === undefined || record === undefined) continue;
    leases.set(partition, {
      partition,
      owner: record.owner,
      epoch: record.owner === '' ? 0 : record.epoch,
      acquiredAtMs: record.owner === '' ? null : record.acquiredAtMs,
      previousOwner: record.previousOwner,
      pauseMs: record.pauseMs,
      releasedAtMs: record.releasedAtMs,
    });
  }
  const free = (partition: number): PartitionView => ({
    partition,
    owner: '',
    epoch: 0,
    acquiredAtMs: null,
    previousOwner: '',
    pauseMs: null,
    releasedAtMs: null,
  });
  const count = Math.max(partitionCount, ...[...leases.keys()].map((p) => p + 1));
  const partitions = Array.from({ length: count }, (_, p) => leases.get(p) ?? free(p));
  members.sort((a, b) => a.member.localeCompare(b.member));
  return { stage, members, partitions };
}
