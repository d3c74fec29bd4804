/** What the stores do when their servers die and come back (servers of this file only). */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  createPostgresSink,
  createRedisStateStore,
  createTenantConfigRepository,
  isStoreError,
  migrate,
  StoreErrorCode,
  type StoreError,
} from '../src/index.js';
import { classifyFailure } from '@throughline/runtime';
import { at, history, result } from './fixtures.js';
import { usePostgres, useRedis } from './support.js';

const db = usePostgres();
const rd = useRedis();

describe('outages', () => {
  it('PostgreSQL restart: the sink fails typed while it is down, the listener comes back and resyncs', async () => {
    const pool = await db.newPool();
    await migrate(pool);
    const repo = createTenantConfigRepository(pool);
    const sink = createPostgresSink(pool);
    const errors: StoreError[] = [];
    let resynced: () => void = () => undefined;
    const resync = new Promise<void>((resolve) => (resynced = resolve));
    let heard: (tenantId: string) => void = () => undefined;
    const stop = await repo.listen((tenantId) => heard(tenantId), {
      reconnectDelayMs: 100,
      onResync: () => resynced(),
      onError: (err) => errors.push(err),
    });
    try {
      // The test kit runs PostgreSQL with synchronous_commit=off: without a checkpoint, SIGKILL can lose the schema.
      await pool.query('CHECKPOINT');
      await db.server.kill();
      const err: unknown = await sink
        .commitBatch(at(0), history({ events: 3, accounts: 1, prefix: 'o1-' }))
        .catch((e: unknown) => e);
      expect(isStoreError(err, StoreErrorCode.commitFailed)).toBe(true);
      expect((err as Error).cause).toBeInstanceOf(Error);

      await db.server.restart();
      await resync;
      expect(errors.some((e) => e.code === StoreErrorCode.listenFailed)).toBe(true);
      const next = new Promise<string>((resolve) => (heard = resolve));
      await repo.seedDemoTenants();
      expect(await next).toMatch(/^tenant-\d$/);
      expect(await sink.commitBatch(at(0), history({ events: 3, accounts: 1, prefix: 'o1-' }))).toEqual({
        inserted: 3,
        duplicates: 0,
      });
    } finally {
      await stop();
    }
  });

  it('Redis restart: calls fail typed while it is down; afterwards the missing marker tells that state was lost', async () => {
    const store = createRedisStateStore(rd.redis, { keyPrefix: 'outage' });
    await store.initMarker(0, null, 1, 1);
    await store.write(
      0,
      { epoch: 1, upstream: 0, highWater: 0n },
      new Map([['a', { balanceMinor: 5n, position: 1n, debitsDay: 0, debitsDayMinor: 0n }]]),
    );
    await rd.server.kill();
    const err: unknown = await store
      .read(0, ['a'], [{ eventId: 'e', position: 1n }], 1)
      .catch((e: unknown) => e);
    expect(isStoreError(err, StoreErrorCode.redisFailed)).toBe(true);

    await rd.server.restart();
    const after = await store.read(0, ['a'], [], 1);
    expect(after).toEqual({ marker: undefined, accounts: new Map(), taken: new Set() });
    // Nothing is written into a partition whose state is gone until it is rebuilt.
    const lost: unknown = await store
      .write(0, { epoch: 1, upstream: 0, highWater: 0n }, new Map())
      .catch((e: unknown) => e);
    expect(isStoreError(lost, StoreErrorCode.stateLost)).toBe(true);
    expect(await rd.redis.keys('outage:*')).toEqual([]);
  });

  it('Redis out of memory (noeviction): the write is refused, classified as a dependency failure, and passes once memory is freed', async () => {
    const store = createRedisStateStore(rd.redis, { keyPrefix: 'oom' });
    await store.initMarker(1, null, 1, 1);
    const account = { balanceMinor: 5n, position: 1n, debitsDay: 0, debitsDayMinor: 0n };
    await rd.redis.config('SET', 'maxmemory-policy', 'noeviction');
    await rd.redis.config('SET', 'maxmemory', '1');
    const claims = [{ eventId: 'e-oom', position: 7n }];
    try {
      const err: unknown = await store
        .write(1, { epoch: 1, upstream: 0, highWater: 0n }, new Map([['a', account]]))
        .catch((e: unknown) => e);
      expect(isStoreError(err, StoreErrorCode.redisFailed)).toBe(true);
      expect(classifyFailure(err)).toEqual({ kind: 'dependency', dependency: 'redis', reason: 'OOM' });
      // The read claims the turn's event ids: refused the same way, so the turn waits (it never goes on unclaimed).
      const refused: unknown = await store.read(1, ['a'], claims, 1).catch((e: unknown) => e);
      expect(classifyFailure(refused)).toEqual({ kind: 'dependency', dependency: 'redis', reason: 'OOM' });
    } finally {
      await rd.redis.config('SET', 'maxmemory', '0');
    }
    await store.write(1, { epoch: 1, upstream: 0, highWater: 0n }, new Map([['a', account]]));
    expect((await store.read(1, ['a'], claims, 1)).taken.size).toBe(0);
    expect((await store.read(2, [], [{ eventId: 'e-oom', position: 8n }], 1)).taken).toEqual(new Set([8n]));
  });

  it('PostgreSQL read only (as after a fail-over): the commit is refused by SQLSTATE 25006, a dependency failure; nothing is half written', async () => {
    const migrated = await db.newPool();
    await migrate(migrated);
    // One connection, so that the setting checked below is the one the commit runs under.
    const pool = new pg.Pool({ connectionString: migrated.options.connectionString, max: 1 });
    pool.on('error', () => undefined);
    const sink = createPostgresSink(pool);
    await sink.claim(2, 1);
    const admin = await db.newPool();
    /** A backend applies a reloaded configuration between two commands: ask until it answers `value`. */
    const settled = async (value: 'on' | 'off'): Promise<void> => {
      for (let i = 0; i < 100; i++) {
        const { rows } = await pool.query<{ v: string }>(
          "SELECT current_setting('default_transaction_read_only') AS v",
        );
        if (rows[0]!.v === value) return;
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`default_transaction_read_only did not become ${value}`);
    };
    await admin.query('ALTER SYSTEM SET default_transaction_read_only = on');
    await admin.query('SELECT pg_reload_conf()');
    try {
      await settled('on');
      const err: unknown = await sink
        .commitBatch(at(2), history({ events: 3, accounts: 1, prefix: 'ro-' }))
        .catch((e: unknown) => e);
      expect(isStoreError(err, StoreErrorCode.commitFailed)).toBe(true);
      expect(classifyFailure(err)).toEqual({
        kind: 'dependency',
        dependency: 'postgres',
        reason: 'read_only',
      });
      const rows = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger');
      expect(rows.rows[0]!.n).toBe(0);
    } finally {
      await admin.query('ALTER SYSTEM RESET default_transaction_read_only');
      await admin.query('SELECT pg_reload_conf()');
    }
    await settled('off');
    const committed = await sink.commitBatch(at(2), history({ events: 3, accounts: 1, prefix: 'ro-' }));
    expect(committed).toEqual({ inserted: 3, duplicates: 0 });
    await pool.end();
  });

  it('a result PostgreSQL refuses for its own content (SQLSTATE class 22) is classified as poison', async () => {
    const pool = await db.newPool();
    await migrate(pool);
    const sink = createPostgresSink(pool);
    await sink.claim(3, 1);
    const err: unknown = await sink
      .commitBatch(at(3), [result({ eventId: 'too-long', currency: 'EURO' })])
      .catch((e: unknown) => e);
    expect(isStoreError(err, StoreErrorCode.commitFailed)).toBe(true);
    expect(classifyFailure(err)).toMatchObject({ kind: 'poison', dependency: 'postgres' });
  });
});
