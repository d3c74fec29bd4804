/** What the lease bucket holds for a stage: member registrations and partition leases, as JSON. */

/** A live instance of a stage, renewed every heartbeat under `<stage>.member.<memberId>`. */
export interface MemberRecord {
  member: string;
  /** When the instance started, ms since the epoch. */
  startedAtMs: number;
  /** Static instances ask for fixed partitions and take no share of the balanced assignment. */
  static: boolean;
}

/**
 * The lease of one partition, under `<stage>.lease.<partition>`. `owner` is empty once its owner released it (the
 * next owner takes it over by compare-and-set on that revision); an absent key is free too (never taken, or its
 * owner died and the key expired).
 */
export interface LeaseRecord {
  owner: string;
  /** The lease's epoch: the bucket revision at which `owner` acquired it. 0 until recorded. */
  epoch: number;
  /** When `owner` acquired it, ms since the epoch (owner's clock). */
  acquiredAtMs: number;
  /** Who held it before, when known. */
  previousOwner: string;
  /** How long the partition went unprocessed before this owner took it, when the previous owner released it. */
  pauseMs: number | null;
  /** Set by a cooperative release: when the previous owner stopped processing, ms since the epoch. */
  releasedAtMs: number | null;
}

export const leaseKeys = {
  memberPrefix: (stage: string): string => `${stage}.member`,
  member: (stage: string, member: string): string => `${stage}.member.${member}`,
  leasePrefix: (stage: string): string => `${stage}.lease`,
  lease: (stage: string, partition: number): string => `${stage}.lease.${partition}`,
};

/** The partition of a key under `leasePrefix`, or undefined. */
export function partitionOfLeaseKey(stage: string, key: string): number | undefined {
  const prefix = `${leaseKeys.leasePrefix(stage)}.`;
  if (!key.startsWith(prefix)) return undefined;
  const text = key.slice(prefix.length);
  return /^(0|[1-9][0-9]*)$/.test(text) ? Number(text) : undefined;
}

/** The member id of a key under `memberPrefix`, or undefined. */
export function memberOfKey(stage: string, key: string): string | undefined {
  const prefix = `${leaseKeys.memberPrefix(stage)}.`;
  return key.startsWith(prefix) ? key.slice(prefix.length) : undefined;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeRecord(record: MemberRecord | LeaseRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

/** Parses a stored record; undefined for anything unreadable (it is then treated as absent). */
export function decodeLease(value: Uint8Array | undefined): LeaseRecord | undefined {
  const parsed = parse(value);
  if (parsed === undefined || typeof parsed.owner !== 'string' || typeof parsed.epoch !== 'number')
    return undefined;
  return {
    owner: parsed.owner,
    epoch: parsed.epoch,
    acquiredAtMs: typeof parsed.acquiredAtMs === 'number' ? parsed.acquiredAtMs : 0,
    previousOwner: typeof parsed.previousOwner === 'string' ? parsed.previousOwner : '',
    pauseMs: typeof parsed.pauseMs === 'number' ? parsed.pauseMs : null,
    releasedAtMs: typeof parsed.releasedAtMs === 'number' ? parsed.releasedAtMs : null,
  };
}

export function decodeMember(value: Uint8Array | undefined): MemberRecord | undefined {
  const parsed = parse(value);
  if (parsed === undefined || typeof parsed.member !== 'string') return undefined;
  return {
    member: parsed.member,
    startedAtMs: typeof parsed.startedAtMs === 'number' ? parsed.startedAtMs : 0,
    static: parsed.static === true,
  };
}

function parse(value: Uint8Array | undefined): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(decoder.decode(value));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
