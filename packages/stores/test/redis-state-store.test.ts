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

function store(opts: { dedupHorizonMs?: number; accountTtlMs?: number } = {}): RedisStateStore {
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
    await s.write(5, FENCE, accounts, [], 0);
    const read = await s.read(5, ['a', 'b|with|bars', 'missing'], [], 0);
    expect(read.accounts).toEqual(new Map([...accounts].filter(([k]) => k !== 'c')));
    expect(read.seen.size).toBe(0);
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
    await s.write(6, { ...FENCE, highWater: big }, new Map([['a', state(1n, big)]]), ['e1'], 0);
    await s.write(7, { ...FENCE, highWater: 3n }, new Map([['a', state(2n, 3n)]]), ['e1'], 0);
    expect((await s.read(6, [], [], 0)).marker?.highWater).toBe(big);

    await s.reset(6);
    const gone = await s.read(6, ['a'], ['e1'], 0);
    expect(gone).toEqual({ marker: undefined, accounts: new Map(), seen: new Set() });
    // A write to the forgotten partition is refused until it is rebuilt; the other partition is untouched.
    await expect(
      s.write(6, { ...FENCE, highWater: big }, new Map([['a', state(1n, big)]]), [], 0),
    ).rejects.toThrow(/TLLOST/);
    const kept = await s.read(7, ['a'], ['e1'], 0);
    expect(kept.accounts.get('a')).toEqual(state(2n, 3n));
    expect(kept.seen).toEqual(new Set(['e1']));
    expect(kept.marker?.highWater).toBe(3n);
  });

  it('lets an account expire its time to live after its last write (cold accounts leave Redis)', async () => {
    const s = await ready(store({ accountTtlMs: HOUR }), 8);
    await s.write(8, FENCE, new Map([['a', state(1n, 1n)]]), ['e1'], 0);
    const ttl = await servers.redis.pttl(s.keys.account(8, 'a'));
    expect(ttl).toBeGreaterThan(HOUR - 60_000);
    expect(ttl).toBeLessThanOrEqual(HOUR);
    // The marker never expires: without it the partition would be rebuilt.
    expect(await servers.redis.pttl(s.keys.marker(8))).toBe(-1);
    expect(() => store({ accountTtlMs: 60_000 })).toThrow(/at least an hour/);
  });

  it('keeps every key of a partition under one hash tag', () => {
    const s = store();
    const tag = (key: string) => /\{[^}]*\}/.exec(key)?.[0];
    expect(new Set([tag(s.keys.account(3, 'x')), tag(s.keys.seen(3, 9)), tag(s.keys.marker(3))])).toEqual(
      new Set(['{p3}']),
    );
    expect(tag(s.keys.marker(4))).toBe('{p4}');
  });

  it('remembers applied event ids for at least the horizon and at most twice it', async () => {
    const s = await ready(store({ dedupHorizonMs: HOUR }), 1);
    const t0 = 100 * HOUR + 10; // just after a bucket starts
    await s.write(1, FENCE, new Map(), ['e1', 'e2'], t0);
    expect((await s.read(1, [], ['e1', 'e2', 'e3'], t0)).seen).toEqual(new Set(['e1', 'e2']));
    // next bucket: still recognised through the "previous" bucket
    expect((await s.read(1, [], ['e1', 'e3'], t0 + HOUR)).seen).toEqual(new Set(['e1']));
    // two buckets later: forgotten
    expect((await s.read(1, [], ['e1'], t0 + 2 * HOUR)).seen.size).toBe(0);
    // partitions are separate
    expect((await s.read(2, [], ['e1'], t0)).seen.size).toBe(0);
    const ttl = await servers.redis.pttl(s.keys.seen(1, 100));
    expect(ttl).toBeGreaterThan(2 * HOUR - 60_000);
    expect(ttl).toBeLessThanOrEqual(2 * HOUR);
  });

  it('writes atomically and throws on an error reply, so the caller retries', async () => {
    const s = await ready(store({ dedupHorizonMs: HOUR }), 0);
    await servers.redis.set(s.keys.seen(0, 0), 'not a set'); // SADD on it fails inside the script
    const err: unknown = await s
      .write(0, FENCE, new Map([['a', state(1n, 1n)]]), ['e1'], 10)
      .catch((e: unknown) => e);
    expect(isStoreError(err, StoreErrorCode.redisFailed)).toBe(true);
    // A script does not roll back the commands that ran, but the error is reported so the caller retries the turn.
    await servers.redis.del(s.keys.seen(0, 0));
    await s.write(0, FENCE, new Map([['a', state(2n, 2n)]]), ['e1'], 10);
    const read = await s.read(0, ['a'], ['e1'], 10);
    expect(read.accounts.get('a')).toEqual(state(2n, 2n));
    expect(read.seen).toEqual(new Set(['e1']));
  });

  it('writes thousands of accounts and ids in one call', async () => {
    const s = await ready(store(), 7);
    const accounts = new Map(
      Array.from({ length: 9_000 }, (_, i) => [`acc-${i}`, state(BigInt(i), 1n)] as const),
    );
    const ids = Array.from({ length: 12_000 }, (_, i) => `ev-${i}`);
    await s.write(7, FENCE, accounts, ids, 0);
    const read = await s.read(7, ['acc-0', 'acc-8999'], ['ev-0', 'ev-11999', 'ev-x'], 0);
    expect(read.accounts).toEqual(
      new Map([
        ['acc-0', state(0n, 1n)],
        ['acc-8999', state(8999n, 1n)],
      ]),
    );
    expect(read.seen).toEqual(new Set(['ev-0', 'ev-11999']));
  });

  it('refuses, atomically, every write of an owner older than the one that claimed the partition', async () => {
    const s = await ready(store(), 3);
    await s.write(3, { epoch: 10, upstream: 4, highWater: 0n }, new Map([['a', state(1n, 1n)]]), ['e1'], 0);
    // A newer owner claims the partition; the old one (paused meanwhile) resumes and writes.
    await s.claim(3, 12);
    const stale: unknown = await s
      .write(3, { epoch: 10, upstream: 4, highWater: 0n }, new Map([['a', state(99n, 2n)]]), ['e2'], 0)
      .catch((e: unknown) => e);
    expect(isStoreError(stale, StoreErrorCode.fenced)).toBe(true);
    expect((stale as Error).message).toMatch(/lease epoch 12, newer than 10/);
    const read = await s.read(3, ['a'], ['e1', 'e2'], 0);
    expect(read.accounts.get('a')).toEqual(state(1n, 1n));
    expect(read.seen).toEqual(new Set(['e1']));
    // Claims of older epochs are refused too; the owner's own writes go on and keep the highest upstream epoch.
    expect(isStoreError(await s.claim(3, 11).catch((e: unknown) => e), StoreErrorCode.fenced)).toBe(true);
    await s.write(3, { epoch: 12, upstream: 2, highWater: 0n }, new Map([['a', state(5n, 3n)]]), [], 0);
    expect((await s.read(3, [], [], 0)).marker).toMatchObject({ owner: 12, upstream: 4 });
    await s.write(3, { epoch: 12, upstream: 6, highWater: 0n }, new Map(), ['e3'], 0);
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
      await s.write(4, { epoch: owner, upstream, highWater: 0n }, new Map(), [`e-${upstream}`], 0);
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

  it('does nothing for an empty write', async () => {
    const s = store();
    await s.write(0, FENCE, new Map(), [], 0);
    expect(await servers.redis.keys(`${s.keys.marker(0).split(':')[0]}:*`)).toEqual([]);
  });
});
