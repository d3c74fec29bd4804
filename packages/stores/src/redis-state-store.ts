/**
 * Per-key state of the state stage, kept in Redis: account states, recently applied event ids (for
 * de-duplication), and an epoch marker that tells whether Redis still holds what was written.
 *
 * Every call is one round trip for the whole batch (MGET/MSET, multi-member SMISMEMBER/SADD), never one per key.
 */
import type { Cluster, Redis } from 'ioredis';
import type { AccountState } from './account-state.js';
import { StoreError, StoreErrorCode, toStoreError } from './errors.js';
import {
  decodeAccount,
  decodeEpoch,
  encodeAccount,
  encodeEpoch,
  stateKeys,
  type Epoch,
  type StateKeys,
} from './redis-codec.js';

export interface RedisStateStoreOptions {
  /**
   * How long an applied event id is remembered, in milliseconds: ids are kept in buckets of this width and the
   * current and previous bucket are checked, so an id is recognised for at least this long and at most twice it.
   * Default 86,400,000 (one day).
   */
  dedupHorizonMs?: number;
  /** First segment of every key. Default `tl`. */
  keyPrefix?: string;
}

/** What one read returns for a batch. */
export interface StateRead {
  /** The partition's epoch marker; undefined when Redis has none (empty or lost): rebuild before trusting state. */
  epoch: Epoch | undefined;
  /** The stored state of the requested accounts that have one. */
  accounts: Map<string, AccountState>;
  /** The requested event ids that were applied within the de-duplication horizon. */
  seen: Set<string>;
}

export interface RedisStateStore {
  readonly keys: StateKeys;
  /** Epoch, account states and seen event ids of a batch, in one pipelined round trip. */
  read(
    partition: number,
    accountIds: readonly string[],
    eventIds: readonly string[],
    nowMs: number,
  ): Promise<StateRead>;
  /** Stores account states and remembers applied event ids, atomically (MULTI/EXEC), in one round trip. */
  write(
    partition: number,
    accounts: ReadonlyMap<string, AccountState>,
    appliedEventIds: readonly string[],
    nowMs: number,
  ): Promise<void>;
  /** Writes the epoch marker unless one exists (SET NX) and returns the one now stored. */
  initEpoch(partition: number, recoveredAtMs: number | null, nowMs: number): Promise<Epoch>;
  /** Removes the epoch marker, as a loss of Redis would (for tests and drills). */
  deleteEpoch(partition: number): Promise<void>;
}

type PipelineReplies = [error: Error | null, result: unknown][] | null;

/** Throws the first error reply; returns the results. `null` means the transaction was discarded. */
function repliesOf(replies: PipelineReplies, what: string): unknown[] {
  if (replies === null) throw new StoreError(StoreErrorCode.redisFailed, `${what}: transaction discarded`);
  return replies.map(([err, result]) => {
    if (err !== null) throw toStoreError(StoreErrorCode.redisFailed, what, err);
    return result;
  });
}

export function createRedisStateStore(
  redis: Redis | Cluster,
  opts: RedisStateStoreOptions = {},
): RedisStateStore {
  const horizonMs = opts.dedupHorizonMs ?? 86_400_000;
  if (!(horizonMs > 0))
    throw new StoreError(StoreErrorCode.invalidInput, `dedupHorizonMs ${horizonMs} must be > 0`);
  const keys = stateKeys(opts.keyPrefix ?? 'tl');
  const bucketOf = (nowMs: number): number => Math.floor(nowMs / horizonMs);

  async function read(
    partition: number,
    accountIds: readonly string[],
    eventIds: readonly string[],
    nowMs: number,
  ): Promise<StateRead> {
    const pipeline = redis.pipeline();
    pipeline.get(keys.epoch(partition));
    const accountKeys = accountIds.map((id) => keys.account(partition, id));
    if (accountKeys.length > 0) pipeline.mget(accountKeys);
    if (eventIds.length > 0) {
      const bucket = bucketOf(nowMs);
      pipeline.smismember(keys.seen(partition, bucket), eventIds as string[]);
      pipeline.smismember(keys.seen(partition, bucket - 1), eventIds as string[]);
    }
    let replies: unknown[];
    try {
      replies = repliesOf(await pipeline.exec(), `read of partition ${partition}`);
    } catch (err) {
      throw toStoreError(StoreErrorCode.redisFailed, `read of partition ${partition}`, err);
    }

    const epochValue = replies[0] as string | null;
    const epoch = epochValue === null ? undefined : decodeEpoch(keys.epoch(partition), epochValue);
    const accounts = new Map<string, AccountState>();
    let next = 1;
    if (accountKeys.length > 0) {
      const values = replies[next++] as (string | null)[];
      for (let i = 0; i < accountKeys.length; i++) {
        const value = values[i];
        if (value !== null && value !== undefined) {
          accounts.set(accountIds[i] as string, decodeAccount(accountKeys[i] as string, value));
        }
      }
    }
    const seen = new Set<string>();
    if (eventIds.length > 0) {
      const current = replies[next++] as number[];
      const previous = replies[next] as number[];
      for (let i = 0; i < eventIds.length; i++) {
        if (current[i] === 1 || previous[i] === 1) seen.add(eventIds[i] as string);
      }
    }
    return { epoch, accounts, seen };
  }

  async function write(
    partition: number,
    accounts: ReadonlyMap<string, AccountState>,
    appliedEventIds: readonly string[],
    nowMs: number,
  ): Promise<void> {
    if (accounts.size === 0 && appliedEventIds.length === 0) return;
    const multi = redis.multi();
    if (accounts.size > 0) {
      const keyValues: string[] = [];
      for (const [accountId, state] of accounts)
        keyValues.push(keys.account(partition, accountId), encodeAccount(state));
      multi.mset(...keyValues);
    }
    if (appliedEventIds.length > 0) {
      const seenKey = keys.seen(partition, bucketOf(nowMs));
      multi.sadd(seenKey, appliedEventIds as string[]);
      // Twice the horizon from the last write: the bucket outlives the time it is still read as "previous".
      multi.pexpire(seenKey, 2 * horizonMs);
    }
    try {
      repliesOf(await multi.exec(), `write of partition ${partition}`);
    } catch (err) {
      throw toStoreError(StoreErrorCode.redisFailed, `write of partition ${partition}`, err);
    }
  }

  async function initEpoch(partition: number, recoveredAtMs: number | null, nowMs: number): Promise<Epoch> {
    const key = keys.epoch(partition);
    const mine: Epoch = { createdAtMs: nowMs, recoveredAtMs };
    let replies: unknown[];
    try {
      replies = repliesOf(
        await redis.pipeline().set(key, encodeEpoch(mine), 'NX').get(key).exec(),
        'initEpoch',
      );
    } catch (err) {
      throw toStoreError(StoreErrorCode.redisFailed, `initEpoch of partition ${partition}`, err);
    }
    const stored = replies[1] as string | null;
    // The key vanishing between SET and GET of one pipeline would need a concurrent DEL; report ours then.
    return stored === null ? mine : decodeEpoch(key, stored);
  }

  async function deleteEpoch(partition: number): Promise<void> {
    try {
      await redis.del(keys.epoch(partition));
    } catch (err) {
      throw toStoreError(StoreErrorCode.redisFailed, `deleteEpoch of partition ${partition}`, err);
    }
  }

  return { keys, read, write, initEpoch, deleteEpoch };
}
