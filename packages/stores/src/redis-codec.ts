/** Redis key layout and value encodings of the state store. */
import type { AccountState } from './account-state.js';
import { StoreError, StoreErrorCode } from './errors.js';

/**
 * The marker of a partition's state in Redis: when that state began, whether it was rebuilt from PostgreSQL, and
 * the fences of the partition (the lease epoch of its owner, the highest epoch of the enrich instances whose output
 * it applied). Accounts without a marker beside them are not trusted: the state is rebuilt first.
 */
export interface StateMarker {
  /** When this state was begun, milliseconds since the Unix epoch. */
  createdAtMs: number;
  /** When state was rebuilt from PostgreSQL after Redis lost it; null for a partition that started empty. */
  recoveredAtMs: number | null;
  /** The lease epoch of the state instance that last claimed the partition: writes of older epochs are refused. */
  owner: number;
  /** The highest lease epoch of the enrich instances whose output was applied: older output is stale. */
  upstream: number;
  /**
   * The highest position applied in the partition (0 for a marker written before it was kept). Lower than what
   * was written, or than PostgreSQL's, it tells that Redis lost recent writes (a rollback) though it kept a marker.
   */
  highWater: bigint;
}

/**
 * Key builders. `{p<partition>}` is a Redis Cluster hash tag: every key of one partition lands in one slot, so the
 * pipelines and MULTI of one partition's turn never cross slots. The claims of event ids are shared by every
 * partition: sharded by the id's hash, each shard (`{c<shard>}`) in one slot.
 */
export interface StateKeys {
  account(partition: number, accountId: string): string;
  /** The claims (event id → position) of one shard of ids, made within one de-duplication bucket. */
  claims(shard: number, bucket: number): string;
  marker(partition: number): string;
  /** What every key of the partition begins with. */
  partitionPrefix(partition: number): string;
}

export function stateKeys(keyPrefix: string): StateKeys {
  return {
    account: (partition, accountId) => `${keyPrefix}:{p${partition}}:a:${accountId}`,
    claims: (shard, bucket) => `${keyPrefix}:{c${shard}}:claims:${bucket}`,
    // A hash (the former `epoch` key held JSON; a deployment that still has one rebuilds once from PostgreSQL).
    marker: (partition) => `${keyPrefix}:{p${partition}}:marker`,
    partitionPrefix: (partition) => `${keyPrefix}:{p${partition}}:`,
  };
}

/** `balance|position|day|debits` in decimal: compact, and bigints keep every digit. */
export function encodeAccount(state: AccountState): string {
  return `${state.balanceMinor}|${state.position}|${state.debitsDay}|${state.debitsDayMinor}`;
}

export function decodeAccount(key: string, value: string): AccountState {
  const parts = value.split('|');
  if (parts.length !== 4) throw corrupt(key, value);
  try {
    const debitsDay = Number(parts[2]);
    if (!Number.isSafeInteger(debitsDay)) throw corrupt(key, value);
    return {
      balanceMinor: BigInt(parts[0] as string),
      position: BigInt(parts[1] as string),
      debitsDay,
      debitsDayMinor: BigInt(parts[3] as string),
    };
  } catch (err) {
    throw err instanceof StoreError ? err : corrupt(key, value, err);
  }
}

/** The marker hash's fields, in the order `decodeMarker` takes them. */
export const MARKER_FIELDS = ['created', 'recovered', 'owner', 'upstream', 'hw'] as const;

/** Decodes the marker hash's fields as HMGET returns them (`MARKER_FIELDS`). */
export function decodeMarker(key: string, fields: readonly (string | null)[]): StateMarker | undefined {
  const [created, recovered, owner, upstream, hw] = fields;
  if (created === null || created === undefined) return undefined;
  const numbers = [created, owner ?? '0', upstream ?? '0', recovered === '' ? '0' : (recovered ?? '0')].map(
    Number,
  );
  if (!numbers.every(Number.isSafeInteger)) throw corrupt(key, JSON.stringify(fields));
  let highWater = 0n;
  try {
    if (hw !== null && hw !== undefined) highWater = BigInt(hw);
  } catch (err) {
    throw corrupt(key, JSON.stringify(fields), err);
  }
  return {
    createdAtMs: numbers[0]!,
    recoveredAtMs: recovered === null || recovered === undefined || recovered === '' ? null : numbers[3]!,
    owner: numbers[1]!,
    upstream: numbers[2]!,
    highWater,
  };
}

function corrupt(key: string, value: string, cause?: unknown): StoreError {
  return new StoreError(StoreErrorCode.corruptState, `cannot decode ${key}: ${JSON.stringify(value)}`, {
    cause,
  });
}
