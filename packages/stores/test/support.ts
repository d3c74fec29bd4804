/** Real servers for the tests, one PostgreSQL and one Redis per test file, started by the test kit. */
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { startPostgres, startRedis, type PostgresHandle, type RedisHandle } from '@throughline/testkit';
import { migrate } from '../src/index.js';

type PostgresServer = PostgresHandle;
type RedisServer = RedisHandle;

export interface PostgresFixture {
  readonly server: PostgresServer;
  /** A pool on a new, empty database; closed after the file's tests. */
  newPool: () => Promise<pg.Pool>;
  /** The same, on a migrated database. */
  newMigratedPool: () => Promise<pg.Pool>;
}

/** A server started before the file's tests and stopped after them; `current` throws before it started. */
function useServer<S>(
  name: string,
  start: () => Promise<S>,
  stop: (server: S) => Promise<void>,
): { readonly current: S } {
  let server: S | undefined;
  beforeAll(async () => {
    server = await start();
  }, 60_000);
  afterAll(async () => {
    if (server !== undefined) await stop(server);
  }, 60_000);
  return {
    get current() {
      if (server === undefined) throw new Error(`${name} not started`);
      return server;
    },
  };
}

export function usePostgres(): PostgresFixture {
  const pools: pg.Pool[] = [];
  const postgres = useServer('postgres', startPostgres, async (server) => {
    await Promise.all(pools.map((p) => p.end()));
    await server.stop();
  });
  const newPool = async (): Promise<pg.Pool> => {
    const pool = new pg.Pool({ connectionString: await postgres.current.createDatabase(), max: 8 });
    pool.on('error', () => undefined); // idle clients killed by a restart are replaced on next use
    pools.push(pool);
    return pool;
  };
  return {
    get server() {
      return postgres.current;
    },
    newPool,
    newMigratedPool: async () => {
      const pool = await newPool();
      await migrate(pool);
      return pool;
    },
  };
}

/** This file's PostgreSQL, and `pool` on a new, migrated database: one for the file, or one per test (`perTest`). */
export function useMigratedDatabase(
  opts: { perTest?: boolean } = {},
): PostgresFixture & { readonly pool: pg.Pool } {
  const db = usePostgres();
  let pool: pg.Pool | undefined;
  (opts.perTest ? beforeEach : beforeAll)(async () => {
    pool = await db.newMigratedPool();
  });
  return {
    get server() {
      return db.server;
    },
    newPool: db.newPool,
    newMigratedPool: db.newMigratedPool,
    get pool() {
      if (pool === undefined) throw new Error('database not made yet');
      return pool;
    },
  };
}

export interface RedisFixture {
  readonly server: RedisServer;
  readonly redis: Redis;
}

export function useRedis(): RedisFixture {
  let redis: Redis | undefined;
  const server = useServer(
    'redis',
    async () => {
      const started = await startRedis();
      redis = new Redis(started.url, { maxRetriesPerRequest: 1 });
      return started;
    },
    async (started) => {
      redis?.disconnect();
      await started.stop();
    },
  );
  return {
    get server() {
      return server.current;
    },
    get redis() {
      if (redis === undefined) throw new Error('redis not started');
      return redis;
    },
  };
}
