/** What the stores do when their servers die and come back (servers of this file only). */
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
import { at, history } from './fixtures.js';
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
      { epoch: 1, upstream: 0 },
      new Map([['a', { balanceMinor: 5n, position: 1n, debitsDay: 0, debitsDayMinor: 0n }]]),
      ['e'],
      1,
    );
    await rd.server.kill();
    const err: unknown = await store.read(0, ['a'], ['e'], 1).catch((e: unknown) => e);
    expect(isStoreError(err, StoreErrorCode.redisFailed)).toBe(true);

    await rd.server.restart();
    const after = await store.read(0, ['a'], ['e'], 1);
    expect(after).toEqual({ marker: undefined, accounts: new Map(), seen: new Set() });
    // Nothing is written into a partition whose state is gone until it is rebuilt.
    const lost: unknown = await store
      .write(0, { epoch: 1, upstream: 0 }, new Map(), ['f'], 1)
      .catch((e: unknown) => e);
    expect(isStoreError(lost, StoreErrorCode.stateLost)).toBe(true);
    expect(await rd.redis.keys('outage:*')).toEqual([]);
  });
});
