/**
 * The config service as the app wires it (the repository's LISTEN, the Watch fan-out), followed by the enrich
 * stage's `ConfigFeed`, over a real PostgreSQL: changes the feed could miss — committed late with a lower version,
 * or while the service's LISTEN connection was down — must still reach its cache.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigServiceClient } from '@throughline/contracts';
import { ConfigCache, ConfigFeed } from '@throughline/pipeline';
import { waitFor } from '@throughline/testkit';
import { serveConfig, startConfigDatabase, tenantConfig, type ConfigDatabase } from './support.js';

let db: ConfigDatabase;
let service: { port: number; close: () => Promise<void> } | undefined;
let feed: ConfigFeed | undefined;
let client: ConfigServiceClient | undefined;

/** The service, at the port it had before when it had one; its LISTEN waits 300 ms before reconnecting. */
async function serve(): Promise<void> {
  service = await serveConfig(
    db.repo,
    { CONFIG_PUT_OPEN: true },
    { reconnectDelayMs: 300, ...(service ? { port: service.port } : {}) },
  );
}

async function startFeed(): Promise<ConfigCache> {
  const cache = new ConfigCache();
  client = new ConfigServiceClient(`127.0.0.1:${service!.port}`, grpc.credentials.createInsecure());
  feed = new ConfigFeed({ client, cache, reconnectInitialMs: 20, reconnectMaxMs: 200 });
  await feed.start();
  return cache;
}

const versionOf = (cache: ConfigCache, tenant: string) => cache.current.get(tenant)?.version;

beforeAll(async () => {
  db = await startConfigDatabase('config');
  await serve();
});

afterEach(async () => {
  await feed?.stop();
  client?.close();
});

afterAll(async () => {
  await service?.close();
  await db?.stop();
});

describe('config Watch', () => {
  it('delivers a change committed late with a lower version than one the feed already has', async () => {
    const cache = await startFeed();
    // Versions are drawn from a sequence before commit: this one is drawn first and committed last.
    const late = await db.pool.connect();
    try {
      await late.query('BEGIN');
      const drawn = await late.query<{ version: string }>(
        `INSERT INTO tenant_configs (tenant_id, version, base_currency)
         VALUES ('late', nextval('tenant_config_version_seq'), 'EUR') RETURNING version::text AS version`,
      );
      const early = await db.repo.put(tenantConfig('early'));
      expect(BigInt(drawn.rows[0]!.version)).toBeLessThan(early.version);
      await waitFor(() => versionOf(cache, 'early') === early.version, { timeoutMs: 10_000 });
      // The Watch breaks (the service restarts), and the late change commits while the feed is away.
      await service!.close();
      await late.query('COMMIT');
      await serve();
      await waitFor(() => versionOf(cache, 'late') === BigInt(drawn.rows[0]!.version), {
        timeoutMs: 10_000,
        message: 'the feed never got tenant "late"',
      });
    } finally {
      late.release();
    }
  });

  it("pushes a change made while the service's LISTEN connection was down", async () => {
    const cache = await startFeed();
    const before = await db.repo.put(tenantConfig('before'));
    await waitFor(() => versionOf(cache, 'before') === before.version, { timeoutMs: 10_000 });
    const killed = await db.pool.query<{ n: number }>(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE query = 'LISTEN tl_config'`,
    );
    expect(killed.rows[0]!.n).toBe(1);
    // Committed before the service listens again (it waits 300 ms before reconnecting): no notification reaches it.
    const missed = await db.repo.put(tenantConfig('missed'));
    await waitFor(() => versionOf(cache, 'missed') === missed.version, {
      timeoutMs: 10_000,
      message: 'the change made while LISTEN was down never reached the feed',
    });
  });
});
