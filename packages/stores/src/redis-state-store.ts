/**
 * Per-key state of the state stage, kept in Redis: account states, the claims of recent event ids (for
 * de-duplication across every partition), and the partition's marker, which tells whether Redis still holds what
 * was written and carries the partition's fences.
 *
 * Every call is one round trip for the whole batch (a pipeline of HMGET/MGET with one claim script per shard of
 * ids, one write script), never one per key. Writes are fenced: the write script refuses, atomically, a write under
 * an older lease epoch than the one that last claimed the partition, and any write to a partition whose marker is
 * gone (Redis lost it).
 */
import type { Cluster, Redis } from 'ioredis';
import { partitionOf } from '@throughline/contracts';
import type { AccountState } from './account-state.js';
import { StoreError, StoreErrorCode, toStoreError } from './errors.js';
import {
  decodeAccount,
  decodeMarker,
  encodeAccount,
  MARKER_FIELDS,
  stateKeys,
  type StateKeys,
  type StateMarker,
} from './redis-codec.js';
import {
  CLAIM_IDS_SCRIPT,
  CLAIM_SCRIPT,
  FENCED_REPLY,
  INIT_MARKER_SCRIPT,
  LOST_REPLY,
  WRITE_SCRIPT,
} from './redis-fence-scripts.js';

export interface RedisStateStoreOptions {
  /**
   * How long an event id's claim is remembered, in milliseconds: claims are kept in buckets of this width and the
   * previous, current and next bucket are checked (the next one holds the claims of a clock running ahead), so an
   * id is recognised for at least this long and at most twice it. Default 86,400,000 (one day).
   */
  dedupHorizonMs?: number;
  /**
   * Into how many hashes the claims of one bucket are split, by the id's hash: each shard is one key (one slot on
   * a cluster), and none grows so large that its expiry blocks Redis for long. Default 8. Every instance of a
   * deployment must use the same count: an id is looked for in one shard only.
   */
  claimShards?: number;
  /** First segment of every key. Default `tl`. */
  keyPrefix?: string;
  /**
   * How long an account's state stays in Redis after its last write, ms: a cold account expires and is rebuilt
   * from PostgreSQL on its next event, so Redis holds the accounts active within this time, not every account
   * ever seen. It must stay far above the writer's lag (an expired account is read back from what was committed);
   * at least an hour. Default 604,800,000 (seven days).
   */
  accountTtlMs?: number;
}

/** What one read returns for a batch. */
export interface StateRead {
  /** The partition's marker; undefined when Redis has none (empty or lost): rebuild before trusting state. */
  marker: StateMarker | undefined;
  /** The stored state of the requested accounts that have one. */
  accounts: Map<string, AccountState>;
  /**
   * The positions of the claims refused: their id is held by another position (in any partition, or earlier in the
   * same claims) within the de-duplication horizon.
   */
  taken: Set<bigint>;
}

/** An event whose id is claimed for its position (see the state stage's `EventClaim`). */
export interface IdClaim {
  eventId: string;
  position: bigint;
  /** For an event redriven from a dead letter of the state stage: the position it had then. */
  redrivenFrom?: bigint;
}

/**
 * The fences a write carries: its owner's lease epoch, and the newest enrich epoch its input came from; and the
 * partition's high-water position after it.
 */
export interface WriteFence {
  epoch: number;
  upstream: number;
  highWater: bigint;
}

export interface RedisStateStore {
  readonly keys: StateKeys;
  /**
   * Marker and account states of a batch, and the claims of its event ids (an id not claimed yet is claimed for its
   * position; `taken` are the positions of those another position holds), in one pipelined round trip.
   */
  read(
    partition: number,
    accountIds: readonly string[],
    claims: readonly IdClaim[],
    nowMs: number,
  ): Promise<StateRead>;
  /**
   * Stores account states and the partition's fences, atomically, in one round trip. Refused with `STORE_FENCED`
   * when a newer owner claimed the partition, with `STATE_LOST` (retry after rebuilding) when the partition's
   * marker is gone.
   */
  write(partition: number, fence: WriteFence, accounts: ReadonlyMap<string, AccountState>): Promise<void>;
  /** Refuses writes of older lease epochs from now on; `STORE_FENCED` when a newer one already claimed it. */
  claim(partition: number, epoch: number): Promise<void>;
  /**
   * Writes the marker unless one exists (then raises its owner to `owner`) and returns the one now stored. A new
   * marker starts at `highWater` (default 0): after a rebuild, the position PostgreSQL committed up to.
   */
  initMarker(
    partition: number,
    recoveredAtMs: number | null,
    nowMs: number,
    owner: number,
    highWater?: bigint,
  ): Promise<StateMarker>;
  /** Removes the marker, as a loss of Redis would (for tests and drills). */
  deleteMarker(partition: number): Promise<void>;
  /**
   * Forgets the partition's state, as a loss would: the marker first (so no write lands meanwhile), then its
   * accounts and applied ids. For state found rolled back (it kept a marker but lost recent writes).
   */
  reset(partition: number): Promise<void>;
}

/** A position as a claim holds it: base 36, a third shorter than decimal (claims are compared, never computed). */
const encodePosition = (position: bigint): string => position.toString(36);

type PipelineReplies = [error: Error | null, result: unknown][] | null;

/** Throws the first error reply; returns the results. `null` means the transaction was discarded. */
function repliesOf(replies: PipelineReplies, what: string): unknown[] {
  if (replies === null) throw new StoreError(StoreErrorCode.redisFailed, `${what}: transaction discarded`);
  return replies.map(([err, result]) => {
    if (err !== null) throw toStoreError(StoreErrorCode.redisFailed, what, err);
    return result;
  });
}

/** A script's refusal as the store's typed error; any other failure as `REDIS_FAILED`. */
function scriptError(err: unknown, what: string): StoreError {
  const message = err instanceof Error ? err.message : String(err);
  if (message.startsWith(FENCED_REPLY)) {
    const current = /lease epoch (\d+),/.exec(message)?.[1];
    return new StoreError(StoreErrorCode.fenced, `${what}: ${message}`, {
      cause: err,
      ...(current === undefined ? {} : { currentEpoch: Number(current) }),
    });
  }
  if (message.startsWith(LOST_REPLY))
    return new StoreError(StoreErrorCode.stateLost, `${what}: ${message}`, { cause: err });
  return toStoreError(StoreErrorCode.redisFailed, what, err);
}

interface FenceCommands {
  tlWrite(...args: (string | number)[]): Promise<number>;
  tlClaimIds(...args: string[]): Promise<number[]>;
  tlClaim(key: string, epoch: string): Promise<number>;
  tlInitMarker(
    key: string,
    created: string,
    recovered: string,
    owner: string,
    highWater: string,
  ): Promise<(string | null)[]>;
}

export function createRedisStateStore(
  redis: Redis | Cluster,
  opts: RedisStateStoreOptions = {},
): RedisStateStore {
  const horizonMs = opts.dedupHorizonMs ?? 86_400_000;
  if (!(horizonMs > 0))
    throw new StoreError(StoreErrorCode.invalidInput, `dedupHorizonMs ${horizonMs} must be > 0`);
  const accountTtlMs = opts.accountTtlMs ?? 604_800_000;
  if (!(accountTtlMs >= 3_600_000))
    throw new StoreError(
      StoreErrorCode.invalidInput,
      `accountTtlMs ${accountTtlMs} must be at least an hour`,
    );
  const shards = opts.claimShards ?? 8;
  if (!(Number.isInteger(shards) && shards >= 1 && shards <= 1024))
    throw new StoreError(
      StoreErrorCode.invalidInput,
      `claimShards ${shards} must be an integer from 1 to 1024`,
    );
  const keys = stateKeys(opts.keyPrefix ?? 'tl');
  const bucketOf = (nowMs: number): number => Math.floor(nowMs / horizonMs);
  // EVALSHA with a fallback to EVAL: the scripts are sent once per connection, not per call.
  if (!('tlClaimIds' in redis)) {
    redis.defineCommand('tlWrite', { lua: WRITE_SCRIPT });
    redis.defineCommand('tlClaimIds', { lua: CLAIM_IDS_SCRIPT, numberOfKeys: 3 });
    redis.defineCommand('tlClaim', { lua: CLAIM_SCRIPT, numberOfKeys: 1 });
    redis.defineCommand('tlInitMarker', { lua: INIT_MARKER_SCRIPT, numberOfKeys: 1 });
  }
  const commands = redis as unknown as FenceCommands;

  /**
   * The claim script calls of a batch, one per shard of ids it touches: sent with the read's pipeline, so the whole
   * read stays one round trip (each call is atomic in its own shard; a cluster routes each to its slot).
   */
  function claimCalls(claims: readonly IdClaim[], nowMs: number): Promise<bigint[]>[] {
    if (claims.length === 0) return [];
    const byShard = new Map<number, IdClaim[]>();
    for (const claim of claims) {
      // The partitioning hash, over the id: ids spread evenly, and every instance finds an id in the same shard.
      const shard = partitionOf(claim.eventId, shards);
      let list = byShard.get(shard);
      if (list === undefined) byShard.set(shard, (list = []));
      list.push(claim);
    }
    const bucket = bucketOf(nowMs);
    return [...byShard].map(async ([shard, list]) => {
      const args = [
        keys.claims(shard, bucket),
        keys.claims(shard, bucket - 1),
        keys.claims(shard, bucket + 1),
        String(2 * horizonMs),
      ];
      for (const c of list)
        args.push(
          c.eventId,
          encodePosition(c.position),
          c.redrivenFrom === undefined ? '' : encodePosition(c.redrivenFrom),
        );
      const taken = await commands.tlClaimIds(...args);
      return taken.map((i) => list[i - 1]!.position);
    });
  }

  async function read(
    partition: number,
    accountIds: readonly string[],
    claims: readonly IdClaim[],
    nowMs: number,
  ): Promise<StateRead> {
    const pipeline = redis.pipeline();
    pipeline.hmget(keys.marker(partition), ...MARKER_FIELDS);
    const accountKeys = accountIds.map((id) => keys.account(partition, id));
    if (accountKeys.length > 0) pipeline.mget(accountKeys);
    let replies: unknown[];
    let takenByShard: bigint[][];
    try {
      const [exec, ...shardReplies] = await Promise.all([pipeline.exec(), ...claimCalls(claims, nowMs)]);
      replies = repliesOf(exec, `read of partition ${partition}`);
      takenByShard = shardReplies;
    } catch (err) {
      throw toStoreError(StoreErrorCode.redisFailed, `read of partition ${partition}`, err);
    }

    const marker = decodeMarker(keys.marker(partition), replies[0] as (string | null)[]);
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
    return { marker, accounts, taken: new Set(takenByShard.flat()) };
  }

  async function write(
    partition: number,
    fence: WriteFence,
    accounts: ReadonlyMap<string, AccountState>,
  ): Promise<void> {
    const accountKeys: string[] = [];
    const values: string[] = [];
    for (const [accountId, state] of accounts) {
      accountKeys.push(keys.account(partition, accountId));
      values.push(encodeAccount(state));
    }
    const what = `write of partition ${partition}`;
    try {
      await commands.tlWrite(
        1 + accountKeys.length,
        keys.marker(partition),
        ...accountKeys,
        String(fence.epoch),
        String(fence.upstream),
        String(accountTtlMs),
        fence.highWater.toString(),
        ...values,
      );
    } catch (err) {
      throw scriptError(err, what);
    }
  }

  async function claim(partition: number, epoch: number): Promise<void> {
    try {
      await commands.tlClaim(keys.marker(partition), String(epoch));
    } catch (err) {
      throw scriptError(err, `claim of partition ${partition} under epoch ${epoch}`);
    }
  }

  async function initMarker(
    partition: number,
    recoveredAtMs: number | null,
    nowMs: number,
    owner: number,
    highWater = 0n,
  ): Promise<StateMarker> {
    const key = keys.marker(partition);
    let fields: (string | null)[];
    try {
      fields = await commands.tlInitMarker(
        key,
        String(nowMs),
        recoveredAtMs === null ? '' : String(recoveredAtMs),
        String(owner),
        String(highWater),
      );
    } catch (err) {
      throw scriptError(err, `initMarker of partition ${partition}`);
    }
    const marker = decodeMarker(key, fields);
    if (marker === undefined)
      throw new StoreError(
        StoreErrorCode.redisFailed,
        `initMarker of partition ${partition}: no marker after writing it`,
      );
    return marker;
  }

  async function deleteMarker(partition: number): Promise<void> {
    try {
      await redis.del(keys.marker(partition));
    } catch (err) {
      throw toStoreError(StoreErrorCode.redisFailed, `deleteMarker of partition ${partition}`, err);
    }
  }

  async function reset(partition: number): Promise<void> {
    const what = `reset of partition ${partition}`;
    try {
      await redis.del(keys.marker(partition));
      // Every key of the partition shares its hash tag, so on a cluster they are all on one node.
      const pattern = `${keys.partitionPrefix(partition)}*`;
      const nodes = 'nodes' in redis ? redis.nodes('master') : [redis];
      for (const node of nodes) {
        let cursor = '0';
        do {
          const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next;
          if (found.length > 0) await node.unlink(...found);
        } while (cursor !== '0');
      }
    } catch (err) {
      throw toStoreError(StoreErrorCode.redisFailed, what, err);
    }
  }

  return { keys, read, write, claim, initMarker, deleteMarker, reset };
}
