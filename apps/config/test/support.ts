/** The config service as the app wires it, over a real PostgreSQL: what its tests share. */
import * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { ConfigServiceService, type TenantConfig } from '@throughline/contracts';
import { createConfigService, followConfigChanges } from '@throughline/pipeline';
import { silentLogger } from '@throughline/runtime';
import {
  createTenantConfigRepository,
  DEMO_TENANTS,
  migrate,
  type TenantConfigRepository,
} from '@throughline/stores';
import { startPostgres } from '@throughline/testkit';
import { createPutAuthorizer, type AdminAuthSettings } from '../src/admin-auth.js';

/** A valid configuration of `tenantId` as a client sends it: the demo's first tenant's, renamed. */
export const tenantConfig = (tenantId: string, feeBps = 10): TenantConfig => ({
  ...DEMO_TENANTS[0]!,
  tenantId,
  feeBps,
  version: 0n,
  updatedAtMs: 0n,
});

export interface ConfigDatabase {
  pool: pg.Pool;
  repo: TenantConfigRepository;
  stop(): Promise<void>;
}

/** A migrated database of its own on a new PostgreSQL server. */
export async function startConfigDatabase(name: string): Promise<ConfigDatabase> {
  const postgres = await startPostgres();
  const pool = new pg.Pool({ connectionString: await postgres.createDatabase(name) });
  pool.on('error', () => undefined);
  await migrate(pool);
  return {
    pool,
    repo: createTenantConfigRepository(pool),
    async stop() {
      await pool.end();
      await postgres.stop();
    },
  };
}

export interface ServeOptions {
  /** Default any free one. */
  port?: number;
  credentials?: grpc.ServerCredentials;
  /** The LISTEN connection's wait before reconnecting. */
  reconnectDelayMs?: number;
}

/**
 * The config service over `repo` on loopback with Put guarded by `settings`, following the changes on a LISTEN of
 * its own; `close` stops it at once (its Watch streams break) and stops listening.
 */
export async function serveConfig(
  repo: TenantConfigRepository,
  settings: AdminAuthSettings,
  opts: ServeOptions = {},
): Promise<{ port: number; close: () => Promise<void> }> {
  const { changes, stop } = await followConfigChanges(
    repo,
    silentLogger,
    opts.reconnectDelayMs === undefined ? {} : { reconnectDelayMs: opts.reconnectDelayMs },
  );
  const server = new grpc.Server();
  server.addService(
    ConfigServiceService,
    createConfigService(repo, changes, silentLogger, createPutAuthorizer(settings)),
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `127.0.0.1:${opts.port ?? 0}`,
      opts.credentials ?? grpc.ServerCredentials.createInsecure(),
      (err, p) => (err ? reject(err) : resolve(p)),
    ),
  );
  return {
    port,
    async close() {
      server.forceShutdown();
      await stop();
    },
  };
}
