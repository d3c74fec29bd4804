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

function store(opts: { dedupHorizonMs?: number } = {}): RedisStateStore {
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

const state = (balance: bigint, position: bigint, day = 19_000, debits = 0n): AccountState => ({
  balanceMinor: balance,
  position,
  debitsDay: day,
  debitsDayMinor: debits,
});

describe('RedisStateStore', () => {
  it('round-trips account states, bigint extremes included', async () => {
    const s = store();
    const accounts = new Map([
      ['a', state(-(2n ** 63n), 2n ** 63n - 1n, 20_000, 2n ** 63n - 1n)],
      ['b|with|bars', state(42n, 7n)],
      ['c', state(0n, 1n)],
    ]);
    await s.write(5, accounts, [], 0);
    const read = await s.read(5, ['a', 'b|with|bars', 'missing'], [], 0);
    expect(read.accounts).toEqual(new Map([...accounts].filter(([k]) => k !== 'c')));
    expect(read.seen.size).toBe(0);
    expect(read.epoch).toBeUndefined();
    expect(await servers.redis.get(s.keys.account(5, 'b|with|bars'))).toBe('42|7|19000|0');
  });

  it('keeps every key of a partition under one hash tag', () => {
    const s = store();
    const tag = (key: string) => /\{[^}]*\}/.exec(key)?.[0];
    expect(new Set([tag(s.keys.account(3, 'x')), tag(s.keys.seen(3, 9)), tag(s.keys.epoch(3))])).toEqual(
      new Set(['{p3}']),
    );
    expect(tag(s.keys.epoch(4))).toBe('{p4}');
  });

  it('remembers applied event ids for at least the horizon and at most twice it', async () => {
    const s = store({ dedupHorizonMs: HOUR });
    const t0 = 100 * HOUR + 10; // just after a bucket starts
    await s.write(1, new Map(), ['e1', 'e2'], t0);
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

  it('writes in one MULTI and throws on an error reply, so the caller retries', async () => {
    const s = store({ dedupHorizonMs: HOUR });
    await servers.redis.set(s.keys.seen(0, 0), 'not a set'); // SADD on it fails inside MULTI
    const err: unknown = await s
      .write(0, new Map([['a', state(1n, 1n)]]), ['e1'], 10)
      .catch((e: unknown) => e);
    expect(isStoreError(err, StoreErrorCode.redisFailed)).toBe(true);
    // MULTI does not roll back commands that ran, but the error is reported so the caller retries the turn
    await servers.redis.del(s.keys.seen(0, 0));
    await s.write(0, new Map([['a', state(2n, 2n)]]), ['e1'], 10);
    const read = await s.read(0, ['a'], ['e1'], 10);
    expect(read.accounts.get('a')).toEqual(state(2n, 2n));
    expect(read.seen).toEqual(new Set(['e1']));
  });

  it('sets the epoch only once and reads it back', async () => {
    const s = store();
    const first = await s.initEpoch(2, null, 1000);
    expect(first).toEqual({ createdAtMs: 1000, recoveredAtMs: null });
    expect(await s.initEpoch(2, 5000, 5000)).toEqual(first);
    expect((await s.read(2, [], [], 0)).epoch).toEqual(first);
    await s.deleteEpoch(2);
    expect((await s.read(2, [], [], 0)).epoch).toBeUndefined();
    expect(await s.initEpoch(2, 7000, 8000)).toEqual({ createdAtMs: 8000, recoveredAtMs: 7000 });
  });

  it('reports a value it cannot decode', async () => {
    const s = store();
    await servers.redis.set(s.keys.account(0, 'x'), 'garbage');
    const err: unknown = await s.read(0, ['x'], [], 0).catch((e: unknown) => e);
    expect(isStoreError(err, StoreErrorCode.corruptState)).toBe(true);
  });

  it('does nothing for an empty write', async () => {
    const s = store();
    await s.write(0, new Map(), [], 0);
    expect(await servers.redis.keys(`${s.keys.epoch(0).split(':')[0]}:*`)).toEqual([]);
  });
});
