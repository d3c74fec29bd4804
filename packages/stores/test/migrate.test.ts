import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isStoreError, migrate, MIGRATIONS, StoreErrorCode } from '../src/index.js';
import { usePostgres } from './support.js';

const db = usePostgres();

async function tables(pool: pg.Pool): Promise<string[]> {
  const res = await pool.query<{ name: string }>(
    `SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`,
  );
  return res.rows.map((r) => r.name);
}

describe('migrate', () => {
  it('applies the schema once; a second run is a no-op', async () => {
    const pool = await db.newPool();
    const first = await migrate(pool);
    expect(first.applied).toEqual(MIGRATIONS.map((m) => m.version));
    expect(await tables(pool)).toEqual([
      'balances',
      'ledger',
      'tenant_config_history',
      'tenant_configs',
      'tl_schema_migrations',
    ]);
    const second = await migrate(pool);
    expect(second).toEqual({ applied: [], currentVersion: first.currentVersion });
    const recorded = await pool.query('SELECT version, name FROM tl_schema_migrations');
    expect(recorded.rows).toEqual([{ version: 1, name: 'schema' }]);
  });

  it('is safe when several processes migrate at once', async () => {
    const pool = await db.newPool();
    const url = (pool.options as { connectionString: string }).connectionString;
    const racers = Array.from({ length: 6 }, () => new pg.Pool({ connectionString: url, max: 1 }));
    try {
      const outcomes = await Promise.all(racers.map((p) => migrate(p)));
      const applied = outcomes.flatMap((o) => o.applied);
      expect(applied).toEqual([1]);
      expect(outcomes.every((o) => o.currentVersion === 1)).toBe(true);
    } finally {
      await Promise.all(racers.map((p) => p.end()));
    }
  });

  it('applies later migrations in order and rolls back a failing one', async () => {
    const pool = await db.newPool();
    await migrate(pool);
    const more = [
      ...MIGRATIONS,
      { version: 3, name: 'third', sql: 'CREATE TABLE third (id int)' },
      { version: 2, name: 'second', sql: 'CREATE TABLE second (id int)' },
    ];
    expect((await migrate(pool, { migrations: more })).applied).toEqual([2, 3]);

    const broken = [
      ...more,
      { version: 4, name: 'broken', sql: 'CREATE TABLE fourth (id int); SELECT nope' },
    ];
    const err: unknown = await migrate(pool, { migrations: broken }).catch((e: unknown) => e);
    expect(isStoreError(err, StoreErrorCode.migrationFailed)).toBe(true);
    expect(await tables(pool)).not.toContain('fourth');
    const versions = await pool.query<{ version: number }>(
      'SELECT version FROM tl_schema_migrations ORDER BY 1',
    );
    expect(versions.rows.map((r) => r.version)).toEqual([1, 2, 3]);
    // the advisory lock was released: another run does not hang
    expect((await migrate(pool, { migrations: more })).applied).toEqual([]);
  });
});
