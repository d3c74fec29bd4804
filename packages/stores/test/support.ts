/** Real servers for the tests, one PostgreSQL and one Redis per test file, started by the test kit. */
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { startPostgres, startRedis, type PostgresHandle, type RedisHandle } from '@throughline/testkit';

type PostgresServer = PostgresHandle;
type RedisServer = RedisHandle;

export interface PostgresFixture {
  readonly server: PostgresServer;
  /** A pool on a new, empty database; closed after the file's tests. */
  newPool(): Promise<pg.Pool>;
}

export function usePostgres(): PostgresFixture {
  let server: PostgresServer | undefined;
  const pools: pg.Pool[] = [];
  beforeAll(async () => {
    server = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end()));
    await server?.stop();
  }, 60_000);
  return {
    get server() {
      if (server === undefined) throw new Error('postgres not started');
      return server;
    },
    async newPool() {
      if (server === undefined) throw new Error('postgres not started');
      const pool = new pg.Pool({ connectionString: await server.createDatabase(), max: 8 });
      pool.on('error', () => undefined); // idle clients killed by a restart are replaced on next use
      pools.push(pool);
      return pool;
    },
  };
}

export interface RedisFixture {
  readonly server: RedisServer;
  readonly redis: Redis;
}

export function useRedis(): RedisFixture {
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  beforeAll(async () => {
    server = await startRedis();
    redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
  }, 60_000);
  afterAll(async () => {
    redis?.disconnect();
    await server?.stop();
  }, 60_000);
  return {
    get server() {
      if (server === undefined) throw new Error('redis not started');
      return server;
    },
    get redis() {
      if (redis === undefined) throw new Error('redis not started');
      return redis;
    },
  };
}
