import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  isStoreError,
  migrate,
  MIGRATIONS,
  readDeploymentId,
  stateKeyPrefixFor,
  StoreErrorCode,
} from '../src/index.js';
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
      'tl_deployment',
      'tl_partition_epochs',
      'tl_schema_migrations',
    ]);
    const second = await migrate(pool);
    expect(second).toEqual({ applied: [], currentVersion: first.currentVersion });
    const recorded = await pool.query('SELECT version, name FROM tl_schema_migrations');
    expect(recorded.rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
  });

  it('is safe when several processes migrate at once', async () => {
    const pool = await db.newPool();
    const url = (pool.options as { connectionString: string }).connectionString;
    const racers = Array.from({ length: 6 }, () => new pg.Pool({ connectionString: url, max: 1 }));
    try {
      const outcomes = await Promise.all(racers.map((p) => migrate(p)));
      const applied = outcomes.flatMap((o) => o.applied);
      expect(applied).toEqual(MIGRATIONS.map((m) => m.version));
      expect(outcomes.every((o) => o.currentVersion === MIGRATIONS.at(-1)!.version)).toBe(true);
    } finally {
      await Promise.all(racers.map((p) => p.end()));
    }
  });

  it('applies later migrations in order and rolls back a failing one', async () => {
    const pool = await db.newPool();
    await migrate(pool);
    const more = [
      ...MIGRATIONS,
      { version: 11, name: 'third', sql: 'CREATE TABLE third (id int)' },
      { version: 10, name: 'second', sql: 'CREATE TABLE second (id int)' },
    ];
    expect((await migrate(pool, { migrations: more })).applied).toEqual([10, 11]);

    const broken = [
      ...more,
      { version: 12, name: 'broken', sql: 'CREATE TABLE fourth (id int); SELECT nope' },
    ];
    const err: unknown = await migrate(pool, { migrations: broken }).catch((e: unknown) => e);
    expect(isStoreError(err, StoreErrorCode.migrationFailed)).toBe(true);
    expect(await tables(pool)).not.toContain('fourth');
    const versions = await pool.query<{ version: number }>(
      'SELECT version FROM tl_schema_migrations ORDER BY 1',
    );
    expect(versions.rows.map((r) => r.version)).toEqual([...MIGRATIONS.map((m) => m.version), 10, 11]);
    // the advisory lock was released: another run does not hang
    expect((await migrate(pool, { migrations: more })).applied).toEqual([]);
  });

  it('gives each database its own deployment id, and a Redis key prefix from it', async () => {
    const [a, b] = [await db.newPool(), await db.newPool()];
    await Promise.all([migrate(a), migrate(b)]);
    const [idA, idB] = await Promise.all([readDeploymentId(a), readDeploymentId(b)]);
    expect(idA).toMatch(/^[0-9a-f-]{36}$/);
    expect(idA).not.toBe(idB);
    expect(await readDeploymentId(a)).toBe(idA);
    expect(stateKeyPrefixFor(idA)).toBe(`tl:${idA.replace(/-/g, '').slice(0, 12)}`);
  });
});
