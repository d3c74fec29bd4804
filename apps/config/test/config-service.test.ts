/**
 * The config service's Watch, followed by the enrich stage's `ConfigFeed`, over a real PostgreSQL: changes the
 * feed could miss — committed late with a lower version, or while the service's LISTEN connection was down —
 * must still reach its cache.
 */
import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigServiceClient, ConfigServiceService } from '@throughline/contracts';
import { ConfigCache, ConfigFeed, ConfigSnapshot } from '@throughline/pipeline';
import { silentLogger } from '@throughline/runtime';
import { createTenantConfigRepository, migrate, type TenantConfigRepository } from '@throughline/stores';
import { startPostgres, waitFor, type PostgresHandle } from '@throughline/testkit';
import { createPutAuthorizer } from '../src/admin-auth.js';
import { createConfigService, followConfigChanges } from '../src/config-service.js';

let postgres: PostgresHandle;
let pool: pg.Pool;
let repo: TenantConfigRepository;
let stopChanges: () => Promise<void>;
let server: grpc.Server;
let port: number;
let feed: ConfigFeed | undefined;
let client: ConfigServiceClient | undefined;

async function serve(atPort = 0): Promise<void> {
  const { changes } = current;
  server = new grpc.Server();
  server.addService(
    ConfigServiceService,
    createConfigService(repo, changes, silentLogger, createPutAuthorizer({ CONFIG_PUT_OPEN: true })),
  );
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${atPort}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
}

let current: Awaited<ReturnType<typeof followConfigChanges>>;

async function startFeed(): Promise<ConfigCache> {
  const cache = new ConfigCache(new ConfigSnapshot([]));
  client = new ConfigServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  feed = new ConfigFeed({ client, cache, reconnectInitialMs: 20, reconnectMaxMs: 200 });
  await feed.start();
  return cache;
}

const versionOf = (cache: ConfigCache, tenant: string) => cache.current.get(tenant)?.version;
const newTenant = (tenantId: string) => ({
  tenantId,
  enabled: true,
  baseCurrency: 'EUR',
  feeBps: 1,
  fxRatesE9: {},
  dailyDebitLimitMinor: 0n,
  overdraftLimitMinor: 0n,
});

beforeAll(async () => {
  postgres = await startPostgres();
  pool = new pg.Pool({ connectionString: await postgres.createDatabase('config') });
  pool.on('error', () => undefined);
  await migrate(pool);
  repo = createTenantConfigRepository(pool);
  current = await followConfigChanges(repo, silentLogger, { reconnectDelayMs: 300 });
  stopChanges = current.stop;
  await serve();
});

afterEach(async () => {
  await feed?.stop();
  client?.close();
});

afterAll(async () => {
  server?.forceShutdown();
  await stopChanges?.();
  await pool?.end();
  await postgres?.stop();
});

describe('config Watch', () => {
  it('delivers a change committed late with a lower version than one the feed already has', async () => {
    const cache = await startFeed();
    // Versions are drawn from a sequence before commit: this one is drawn first and committed last.
    const late = await pool.connect();
    try {
      await late.query('BEGIN');
      const drawn = await late.query<{ version: string }>(
        `INSERT INTO tenant_configs (tenant_id, version, base_currency)
         VALUES ('late', nextval('tenant_config_version_seq'), 'EUR') RETURNING version::text AS version`,
      );
      const early = await repo.put(newTenant('early'));
      expect(BigInt(drawn.rows[0]!.version)).toBeLessThan(early.version);
      await waitFor(() => versionOf(cache, 'early') === early.version, { timeoutMs: 10_000 });
      // The Watch breaks (the service restarts), and the late change commits while the feed is away.
      server.forceShutdown();
      await late.query('COMMIT');
      await serve(port);
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
    const before = await repo.put(newTenant('before'));
    await waitFor(() => versionOf(cache, 'before') === before.version, { timeoutMs: 10_000 });
    const killed = await pool.query<{ n: number }>(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE query = 'LISTEN tl_config'`,
    );
    expect(killed.rows[0]!.n).toBe(1);
    // Committed before the service listens again (it waits 300 ms before reconnecting): no notification reaches it.
    const missed = await repo.put(newTenant('missed'));
    await waitFor(() => versionOf(cache, 'missed') === missed.version, {
      timeoutMs: 10_000,
      message: 'the change made while LISTEN was down never reached the feed',
    });
  });
});
