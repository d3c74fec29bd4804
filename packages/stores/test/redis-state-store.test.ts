import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createRedisStateStore,
  isStoreError,
  StoreErrorCode,
  type AccountState,
  type RedisStateStore,
} from '../src/index.js';
import { useRedis } from './support.js';

const servers = useRedis();
const HOUR = 3_600_000;
const prefixes: string[] = [];

function store(
  opts: { dedupHorizonMs?: number; accountTtlMs?: number; claimShards?: number } = {},
): RedisStateStore {
  const keyPrefix = `tltest-${randomBytes(4).toString('hex')}`;
  prefixes.push(keyPrefix);
  return createRedisStateStore(servers.redis, { ...opts, keyPrefix });
}

afterEach(async () => {
  for (const prefix of prefixes.splice(0)) {
    const keys = await servers.redis.keys(`${prefix}:*`);
    if (keys.length > 0) await servers.redis.del(keys);
  }
});

const FENCE = { epoch: 10, upstream: 0, highWater: 0n };

/** A store whose partitions already have a marker owned under `FENCE.epoch`. */
async function ready(s: RedisStateStore, ...partitions: number[]): Promise<RedisStateStore> {
  for (const p of partitions) await s.initMarker(p, null, 1, FENCE.epoch);
  return s;
}

/** The claims shard whose bucket holds `eventId`. */
async function shardHolding(s: RedisStateStore, eventId: string, bucket: number): Promise<number> {
  for (let shard = 0; shard < 8; shard++)
    if ((await servers.redis.hexists(s.keys.claims(shard, bucket), eventId)) === 1) return shard;
  throw new Error(`${eventId} is claimed in no shard of bucket ${bucket}`);
}

/** Claims of ids at positions: `claim('e1', 10)`. */
const claim = (eventId: string, position: number, redrivenFrom?: number) => ({
  eventId,
  position: BigInt(position),
  ...(redrivenFrom === undefined ? {} : { redrivenFrom: BigInt(redrivenFrom) }),
});

const state = (balance: bigint, position: bigint, day = 19_000, debits = 0n): AccountState => ({
  balanceMinor: balance,
  position,
  debitsDay: day,
  debitsDayMinor: debits,
});

describe('RedisStateStore', () => {
  it('round-trips account states, bigint extremes included', async () => {
    const s = await ready(store(), 5);
    const accounts = new Map([
      ['a', state(-(2n ** 63n), 2n ** 63n - 1n, 20_000, 2n ** 63n - 1n)],
      ['b|with|bars', state(42n, 7n)],
      ['c', state(0n, 1n)],
    ]);
    await s.write(5, FENCE, accounts);
    const read = await s.read(5, ['a', 'b|with|bars', 'missing'], [], 0);
    expect(read.accounts).toEqual(new Map([...accounts].filter(([k]) => k !== 'c')));
    expect(read.taken.size).toBe(0);
    expect(read.marker).toEqual({
      createdAtMs: 1,
      recoveredAtMs: null,
      owner: 10,
      upstream: 0,
      highWater: 0n,
    });
    expect(await servers.redis.get(s.keys.account(5, 'b|with|bars'))).toBe('42|7|19000|0');
  });

  it('keeps the high-water position a write gives, and forgets a whole partition on reset', async () => {
    const s = await ready(store(), 6, 7);
    const big = 2n ** 62n + 5n;
    await s.read(6, [], [claim('e1', 1)], 0);
    await s.write(6, { ...FENCE, highWater: big }, new Map([['a', state(1n, big)]]));
    await s.write(7, { ...FENCE, highWater: 3n }, new Map([['a', state(2n, 3n)]]));
    expect((await s.read(6, [], [], 0)).marker?.highWater).toBe(big);

    await s.reset(6);
    // The claims of event ids are not the partition's: they stay (each still names its event's position).
    const gone = await s.read(6, ['a'], [claim('e1', 1), claim('e2', 2)], 0);
    expect(gone).toEqual({ marker: undefined, accounts: new Map(), taken: new Set() });
    expect((await s.read(7, [], [claim('e1', 5)], 0)).taken).toEqual(new Set([5n]));
    // A write to the forgotten partition is refused until it is rebuilt; the other partition is untouched.
    await expect(s.write(6, { ...FENCE, highWater: big }, new Map([['a', state(1n, big)]]))).rejects.toThrow(
      /TLLOST/,
    );
    const kept = await s.read(7, ['a'], [], 0);
    expect(kept.accounts.get('a')).toEqual(state(2n, 3n));
    expect(kept.marker?.highWater).toBe(3n);
  });

  it('lets an account expire its time to live after its last write (cold accounts leave Redis)', async () => {
    const s = await ready(store({ accountTtlMs: HOUR }), 8);
    await s.write(8, FENCE, new Map([['a', state(1n, 1n)]]));
    const ttl = await servers.redis.pttl(s.keys.account(8, 'a'));
    expect(ttl).toBeGreaterThan(HOUR - 60_000);
    expect(ttl).toBeLessThanOrEqual(HOUR);
    // The marker never expires: without it the partition would be rebuilt.
    expect(await servers.redis.pttl(s.keys.marker(8))).toBe(-1);
    expect(() => store({ accountTtlMs: 60_000 })).toThrow(/at least an hour/);
  });

  it('keeps every key of a partition under one hash tag, and every key of a claims shard under its own', () => {
    const s = store();
    const tag = (key: string) => /\{[^}]*\}/.exec(key)?.[0];
    expect(new Set([tag(s.keys.account(3, 'x')), tag(s.keys.marker(3))])).toEqual(new Set(['{p3}']));
    expect(tag(s.keys.marker(4))).toBe('{p4}');
    expect(new Set([tag(s.keys.claims(5, 9)), tag(s.keys.claims(5, 10))])).toEqual(new Set(['{c5}']));
    expect(() => store({ claimShards: 0 })).toThrow(/claimShards 0/);
  });

  it('claims an event id for its position across every partition: another position finds it taken', async () => {
    const s = store();
    // Claimed in partition 1 for position 10: the same event (a redelivery, a retried turn) finds it its own.
    expect((await s.read(1, [], [claim('e1', 10), claim('e2', 11)], 0)).taken.size).toBe(0);
    expect((await s.read(1, [], [claim('e1', 10)], 0)).taken.size).toBe(0);
    // Another occurrence of the id — on an account of another partition, or a client retry — is refused, wherever.
    expect((await s.read(2, [], [claim('e1', 20), claim('e3', 21)], 0)).taken).toEqual(new Set([20n]));
    expect((await s.read(1, [], [claim('e2', 30)], 0)).taken).toEqual(new Set([30n]));
    // Within one read, the first occurrence claims and the second finds it taken.
    expect((await s.read(3, [], [claim('e4', 40), claim('e4', 41)], 0)).taken).toEqual(new Set([41n]));
    // The first claim stays: the refused occurrences changed nothing.
    expect((await s.read(2, [], [claim('e1', 10), claim('e3', 21), claim('e4', 40)], 0)).taken.size).toBe(0);
  });

  it('passes a claim to the new position of an event redriven from it, once', async () => {
    const s = store({ dedupHorizonMs: HOUR });
    await s.read(1, [], [claim('e1', 10)], 0);
    // Redriven from position 10 (where the state stage dead-lettered it): it takes the claim over.
    expect((await s.read(1, [], [claim('e1', 30, 10)], 0)).taken.size).toBe(0);
    expect((await s.read(1, [], [claim('e1', 30)], 0)).taken.size).toBe(0);
    // A second copy of the same redrive finds the claim moved on; the former position no longer holds it either.
    expect((await s.read(1, [], [claim('e1', 31, 10)], 0)).taken).toEqual(new Set([31n]));
    expect((await s.read(1, [], [claim('e1', 10)], 0)).taken).toEqual(new Set([10n]));
    // Dead-lettered again and redriven again, in the next bucket: the claim there (the previous one) moves on, into
    // the current bucket, where it lives the whole horizon again.
    expect((await s.read(1, [], [claim('e1', 40, 30)], HOUR)).taken.size).toBe(0);
    expect((await s.read(1, [], [claim('e1', 30)], HOUR)).taken).toEqual(new Set([30n]));
    const shard = await shardHolding(s, 'e1', 1);
    expect(await servers.redis.hexists(s.keys.claims(shard, 0), 'e1')).toBe(0);
    expect(await servers.redis.hget(s.keys.claims(shard, 1), 'e1')).toBe((40).toString(36));
    // A redrive naming a position that never held the claim is another occurrence.
    await s.read(1, [], [claim('e2', 50)], 0);
    expect((await s.read(1, [], [claim('e2', 60, 55)], 0)).taken).toEqual(new Set([60n]));
  });

  it('finds a claim made in the next bucket by an instance whose clock runs ahead', async () => {
    const s = store({ dedupHorizonMs: HOUR, claimShards: 1 });
    // Just past a bucket's start on one clock, just before it on another: both occurrences must meet.
    await s.read(1, [], [claim('e1', 10)], 101 * HOUR + 5);
    expect((await s.read(2, [], [claim('e1', 20)], 101 * HOUR - 5)).taken).toEqual(new Set([20n]));
    expect(await servers.redis.hexists(s.keys.claims(0, 100), 'e1')).toBe(0);
  });

  it('remembers claims for at least the horizon and at most twice it', async () => {
    const s = store({ dedupHorizonMs: HOUR, claimShards: 1 });
    const t0 = 100 * HOUR + 10; // just after a bucket starts
    await s.read(1, [], [claim('e1', 1), claim('e2', 2)], t0);
    expect((await s.read(1, [], [claim('e1', 91), claim('e2', 92), claim('e3', 3)], t0)).taken).toEqual(
      new Set([91n, 92n]),
    );
    // next bucket: still recognised through the "previous" bucket, and not claimed again in the current one
    expect((await s.read(2, [], [claim('e1', 93), claim('e3', 94)], t0 + HOUR)).taken).toEqual(
      new Set([93n, 94n]),
    );
    expect(await servers.redis.hexists(s.keys.claims(0, 101), 'e1')).toBe(0);
    // two buckets later: forgotten
    expect((await s.read(1, [], [claim('e2', 9)], t0 + 2 * HOUR)).taken.size).toBe(0);
    const ttl = await servers.redis.pttl(s.keys.claims(0, 100));
    expect(ttl).toBeGreaterThan(2 * HOUR - 60_000);
    expect(ttl).toBeLessThanOrEqual(2 * HOUR);
  });

  it('spreads the claims over its shards, each claimed atomically, and reports an error reply', async () => {
    const s = store({ dedupHorizonMs: HOUR, claimShards: 4 });
    const ids = Array.from({ length: 400 }, (_, i) => claim(`ev-${i}`, i));
    await s.read(0, [], ids, 10);
    const sizes = await Promise.all([0, 1, 2, 3].map((shard) => servers.redis.hlen(s.keys.claims(shard, 0))));
    expect(sizes.reduce((a, b) => a + b)).toBe(400);
    for (const size of sizes) expect(size).toBeGreaterThan(50);
    // One shard refusing (a key of the wrong type): the read fails as a whole, so the turn is retried.
    await servers.redis.del(s.keys.claims(2, 0));
    await servers.redis.set(s.keys.claims(2, 0), 'not a hash');
    const err: unknown = await s.read(0, [], ids, 10).catch((e: unknown) => e);
    expect(isStoreError(err, StoreErrorCode.redisFailed)).toBe(true);
    await servers.redis.del(s.keys.claims(2, 0));
    expect((await s.read(0, [], ids, 10)).taken.size).toBe(0);
  });

  it('writes thousands of accounts and claims thousands of ids in one call', async () => {
    const s = await ready(store(), 7);
    const accounts = new Map(
      Array.from({ length: 9_000 }, (_, i) => [`acc-${i}`, state(BigInt(i), 1n)] as const),
    );
    await s.write(7, FENCE, accounts);
    const ids = Array.from({ length: 12_000 }, (_, i) => claim(`ev-${i}`, i));
    // Past the script's first thousand ids of a shard, a second occurrence of the first id is still found.
    expect((await s.read(7, [], [...ids, claim('ev-0', 12_000)], 0)).taken).toEqual(new Set([12_000n]));
    const read = await s.read(
      7,
      ['acc-0', 'acc-8999'],
      [claim('ev-0', 0), claim('ev-11999', 1), claim('ev-x', 2)],
      0,
    );
    expect(read.accounts).toEqual(
      new Map([
        ['acc-0', state(0n, 1n)],
        ['acc-8999', state(8999n, 1n)],
      ]),
    );
    expect(read.taken).toEqual(new Set([1n]));
  });

  it('refuses, atomically, every write of an owner older than the one that claimed the partition', async () => {
    const s = await ready(store(), 3);
    await s.write(3, { epoch: 10, upstream: 4, highWater: 0n }, new Map([['a', state(1n, 1n)]]));
    // A newer owner claims the partition; the old one (paused meanwhile) resumes and writes.
    await s.claim(3, 12);
    const stale: unknown = await s
      .write(3, { epoch: 10, upstream: 4, highWater: 0n }, new Map([['a', state(99n, 2n)]]))
      .catch((e: unknown) => e);
    expect(isStoreError(stale, StoreErrorCode.fenced)).toBe(true);
    expect((stale as Error).message).toMatch(/lease epoch 12, newer than 10/);
    const read = await s.read(3, ['a'], [], 0);
    expect(read.accounts.get('a')).toEqual(state(1n, 1n));
    // Claims of older epochs are refused too; the owner's own writes go on and keep the highest upstream epoch.
    expect(isStoreError(await s.claim(3, 11).catch((e: unknown) => e), StoreErrorCode.fenced)).toBe(true);
    await s.write(3, { epoch: 12, upstream: 2, highWater: 0n }, new Map([['a', state(5n, 3n)]]));
    expect((await s.read(3, [], [], 0)).marker).toMatchObject({ owner: 12, upstream: 4 });
    // A write without accounts raises the fences all the same.
    await s.write(3, { epoch: 12, upstream: 6, highWater: 0n }, new Map());
    expect((await s.read(3, [], [], 0)).marker).toMatchObject({ owner: 12, upstream: 6 });
  });

  it('keeps lease epochs of sixteen digits exactly (a rounded upstream epoch would make its batches look stale)', async () => {
    const s = await ready(store(), 4);
    // Lease epochs are revisions counted from the time in microseconds: 16 digits, more than Lua's tostring keeps.
    const owner = 1_796_199_393_437_002;
    const steps: [number, number][] = [
      [1_796_199_393_437_080, 1_796_199_393_437_080],
      [1_796_199_393_437_087, 1_796_199_393_437_087],
      // An older upstream epoch leaves the newest in place.
      [1_796_199_393_437_049, 1_796_199_393_437_087],
    ];
    for (const [upstream, kept] of steps) {
      await s.write(4, { epoch: owner, upstream, highWater: 0n }, new Map());
      expect((await s.read(4, [], [], 0)).marker).toMatchObject({ owner, upstream: kept });
    }
  });

  it('sets the marker only once, raises its owner, and reads it back', async () => {
    const s = store();
    const first = await s.initMarker(2, null, 1000, 5);
    expect(first).toEqual({ createdAtMs: 1000, recoveredAtMs: null, owner: 5, upstream: 0, highWater: 0n });
    expect(await s.initMarker(2, 5000, 5000, 6)).toEqual({ ...first, owner: 6 });
    expect((await s.read(2, [], [], 0)).marker).toEqual({ ...first, owner: 6 });
    expect(
      isStoreError(await s.initMarker(2, null, 1, 4).catch((e: unknown) => e), StoreErrorCode.fenced),
    ).toBe(true);
    await s.deleteMarker(2);
    expect((await s.read(2, [], [], 0)).marker).toBeUndefined();
    // A claim without a marker has nothing to fence; the next initMarker records the owner.
    await s.claim(2, 3);
    expect(await s.initMarker(2, 7000, 8000, 7)).toEqual({
      createdAtMs: 8000,
      recoveredAtMs: 7000,
      owner: 7,
      upstream: 0,
      highWater: 0n,
    });
  });

  it('reports a value it cannot decode', async () => {
    const s = store();
    await servers.redis.set(s.keys.account(0, 'x'), 'garbage');
    const err: unknown = await s.read(0, ['x'], [], 0).catch((e: unknown) => e);
    expect(isStoreError(err, StoreErrorCode.corruptState)).toBe(true);
  });

  it('refuses even an empty write to a partition without a marker, and writes nothing', async () => {
    const s = store();
    await expect(s.write(0, FENCE, new Map())).rejects.toThrow(/TLLOST/);
    expect(await servers.redis.keys(`${s.keys.marker(0).split(':')[0]}:*`)).toEqual([]);
  });
});
