/** Applies the schema migrations, once, even when several processes start at the same time. */
import type pg from 'pg';
import { MIGRATIONS, SCHEMA_VERSION, type Migration } from './migrations/index.js';
import { StoreError, StoreErrorCode, toStoreError } from './errors.js';
import { withClient } from './pg-client.js';

/** Session-level advisory lock key ('tl_migr' in ASCII) that serialises migrations across processes. */
export const MIGRATION_LOCK_KEY = 0x746c5f6d696772n;

export interface MigrateOptions {
  /** Advisory lock key taken while migrating. Default {@link MIGRATION_LOCK_KEY}. */
  lockKey?: bigint;
  /** Migrations to apply. Default: the package's own ({@link MIGRATIONS}); tests pass others. */
  migrations?: readonly Migration[];
}

export interface MigrateOutcome {
  /** Versions applied by this call, in order (empty when the schema was up to date). */
  applied: number[];
  /** The highest version recorded after this call. */
  currentVersion: number;
}

const CREATE_TRACKING_TABLE = `
CREATE TABLE IF NOT EXISTS tl_schema_migrations (
  version    int         PRIMARY KEY,
  name       text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

/**
 * Applies the pending migrations in version order, each in its own transaction, recording each in
 * `tl_schema_migrations`. A session-level `pg_advisory_lock` held for the whole run makes concurrent callers wait
 * and then find nothing left to do.
 */
export async function migrate(pool: pg.Pool, opts: MigrateOptions = {}): Promise<MigrateOutcome> {
  const migrations = [...(opts.migrations ?? MIGRATIONS)].sort((a, b) => a.version - b.version);
  assertDistinctVersions(migrations);
  const lockKey = (opts.lockKey ?? MIGRATION_LOCK_KEY).toString();
  const how = {
    code: StoreErrorCode.migrationFailed,
    connectFailed: 'cannot connect to migrate',
    failed: 'migration failed',
  };
  return withClient(pool, how, async (client) => {
    await client.query('SELECT pg_advisory_lock($1::bigint)', [lockKey]);
    try {
      return await applyPending(client, migrations);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [lockKey]);
    }
  });
}

async function applyPending(
  client: pg.PoolClient,
  migrations: readonly Migration[],
): Promise<MigrateOutcome> {
  await client.query(CREATE_TRACKING_TABLE);
  const done = await client.query<{ version: number }>('SELECT version FROM tl_schema_migrations');
  const appliedVersions = new Set(done.rows.map((r) => r.version));
  const applied: number[] = [];
  for (const migration of migrations) {
    if (appliedVersions.has(migration.version)) continue;
    await client.query('BEGIN');
    try {
      await client.query(migration.sql);
      await client.query('INSERT INTO tl_schema_migrations (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw toStoreError(
        StoreErrorCode.migrationFailed,
        `migration ${migration.version} (${migration.name}) failed`,
        err,
      );
    }
    applied.push(migration.version);
    appliedVersions.add(migration.version);
  }
  return { applied, currentVersion: Math.max(0, ...appliedVersions) };
}

/** What a service does at start when the schema is behind: migrate it (`auto`), or refuse to start (`off`). */
export type SchemaPolicy = 'auto' | 'off';

/**
 * The version the schema of `pool`'s database is at (0: never migrated). Read-only, so a role that may not change the
 * schema can ask; it needs USAGE on the schema and SELECT on `tl_schema_migrations` (every service role has them).
 */
export async function schemaVersion(pool: pg.Pool): Promise<number> {
  try {
    const table = await pool.query<{ found: boolean }>(
      `SELECT to_regclass('tl_schema_migrations') IS NOT NULL AS found`,
    );
    if (!table.rows[0]?.found) return 0;
    const res = await pool.query<{ version: number | null }>(
      'SELECT max(version) AS version FROM tl_schema_migrations',
    );
    return res.rows[0]?.version ?? 0;
  } catch (err) {
    throw toStoreError(StoreErrorCode.migrationFailed, 'cannot read the schema version', err);
  }
}

/**
 * Makes sure the schema is at least at the last of `opts.migrations`: nothing is written when it is (so a
 * least-privilege role, which may not create anything, starts on a current schema); when it is behind, `auto`
 * migrates and `off` fails, saying what to run.
 */
export async function ensureSchema(
  pool: pg.Pool,
  policy: SchemaPolicy,
  opts: MigrateOptions = {},
): Promise<MigrateOutcome> {
  const needed =
    opts.migrations === undefined ? SCHEMA_VERSION : Math.max(0, ...opts.migrations.map((m) => m.version));
  const current = await schemaVersion(pool);
  if (current >= needed) return { applied: [], currentVersion: current };
  if (policy === 'off') {
    throw new StoreError(
      StoreErrorCode.schemaBehind,
      `the database schema is at version ${current} and this build needs ${needed}: run the migrations first ` +
        "(the chart's migration Job, `throughline db migrate`, or a writer with MIGRATE_ONLY=true) as the role that owns the schema",
    );
  }
  return migrate(pool, opts);
}

function assertDistinctVersions(migrations: readonly Migration[]): void {
  for (let i = 1; i < migrations.length; i++) {
    const version = migrations[i]?.version;
    if (version === migrations[i - 1]?.version) {
      throw new StoreError(StoreErrorCode.invalidInput, `migration version ${version} appears twice`);
    }
  }
}
