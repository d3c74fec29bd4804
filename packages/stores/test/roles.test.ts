/**
 * The services' least-privilege roles on a real PostgreSQL that asks them for their passwords (SCRAM): each role
 * does its service's work through the stores' own code, and is refused everything else.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createPostgresSink,
  createPostgresStateSource,
  createTenantConfigRepository,
  DEMO_TENANTS,
  ensureSchema,
  grantServiceRoles,
  isStoreError,
  migrate,
  MIGRATIONS,
  readDeploymentId,
  readRolePasswords,
  schemaVersion,
  SERVICE_ROLES,
  StoreErrorCode,
  verifyLedger,
  type ServiceRole,
} from '../src/index.js';
import { history } from './fixtures.js';
import { usePostgres } from './support.js';

const db = usePostgres();
const pools: pg.Pool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
});

const LATEST = MIGRATIONS.at(-1)!.version;

/** A database migrated (up to `upTo`) by its owner, `postgres`; role names unique to the test. */
async function database(upTo = LATEST) {
  const owner = await db.newPool();
  await migrate(owner, { migrations: MIGRATIONS.filter((m) => m.version <= upTo) });
  const url = (owner.options as { connectionString: string }).connectionString;
  const prefix = `t${randomBytes(4).toString('hex')}`;
  const passwords = Object.fromEntries(
    SERVICE_ROLES.map((r) => [r, `pw-${r}-${randomBytes(6).toString('hex')}'"\\`]),
  ) as Record<ServiceRole, string>;
  const login = (role: ServiceRole, password = passwords[role]) => {
    const u = new URL(url);
    // Fields, not a URL: pg lets a connection string's absent password override the one given beside it.
    const pool = new pg.Pool({
      host: u.hostname,
      port: Number(u.port),
      database: u.pathname.slice(1),
      user: `${prefix}_${role}`,
      password,
      max: 2,
    });
    pool.on('error', () => undefined);
    pools.push(pool);
    return pool;
  };
  // One at a time: each rewrites pg_hba.conf.
  const requirePasswords = async () => {
    for (const r of SERVICE_ROLES)
      await db.server.requirePassword(`${prefix}_${r}`, new URL(url).pathname.slice(1));
  };
  return { owner, prefix, passwords, login, requirePasswords };
}

/** The SQLSTATE a statement fails with (undefined when it succeeds). */
async function sqlstate(pool: pg.Pool, sql: string): Promise<string | undefined> {
  try {
    await pool.query(sql);
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

const DENIED = '42501';

describe('service roles', () => {
  it('lets each service do its work with its own password, and refuses it everything else', async () => {
    const d = await database();
    const granted = await grantServiceRoles(d.owner, { prefix: d.prefix, passwords: d.passwords });
    expect(granted.map((g) => [g.name, g.created, g.passwordSet])).toEqual(
      SERVICE_ROLES.map((r) => [`${d.prefix}_${r}`, true, true]),
    );
    await d.requirePasswords();

    const writer = d.login('writer');
    expect(await ensureSchema(writer, 'off')).toEqual({ applied: [], currentVersion: LATEST });
    const sink = createPostgresSink(writer);
    await sink.claim(3, 1);
    const results = history({ events: 20, accounts: 4, prefix: 'r-' });
    expect(await sink.commitBatch({ partition: 3, epoch: 1, upstream: 1 }, results)).toEqual({
      inserted: 20,
      duplicates: 0,
    });
    expect(await sqlstate(writer, 'DELETE FROM ledger')).toBe(DENIED);
    expect(await sqlstate(writer, 'TRUNCATE balances')).toBe(DENIED);
    expect(await sqlstate(writer, 'SELECT * FROM tenant_configs')).toBe(DENIED);
    expect(await sqlstate(writer, `UPDATE tenant_configs SET fee_bps = 0`)).toBe(DENIED);
    expect(await sqlstate(writer, 'CREATE TABLE mine (x int)')).toBe(DENIED);
    expect(await sqlstate(writer, 'DROP TABLE ledger')).toBe(DENIED);

    const state = d.login('state');
    const source = createPostgresStateSource(state);
    expect([...(await source.loadAccounts(['r-acc-0', 'r-acc-1'])).keys()].sort()).toEqual([
      'r-acc-0',
      'r-acc-1',
    ]);
    expect((await source.committedEvents(['r-ev-1'])).size).toBe(1);
    expect(await source.hasCommittedRows(3)).toBe(true);
    expect(await source.committedHighWater(3)).toBeGreaterThan(0n);
    expect(await sqlstate(state, `UPDATE tl_partition_epochs SET high_water = 0`)).toBe(DENIED);
    expect(await readDeploymentId(state)).toBe(await readDeploymentId(d.owner));
    expect(await sqlstate(state, `UPDATE balances SET balance_minor = 0`)).toBe(DENIED);
    expect(await sqlstate(state, `DELETE FROM ledger`)).toBe(DENIED);
    expect(await sqlstate(state, `SELECT * FROM tenant_config_history`)).toBe(DENIED);

    const config = d.login('config');
    const repo = createTenantConfigRepository(config);
    const changes: string[] = [];
    const stop = await repo.listen((tenantId) => void changes.push(tenantId));
    expect(await repo.seedDemoTenants()).toBe(DEMO_TENANTS.length);
    const put = await repo.put({ ...DEMO_TENANTS[0]!, feeBps: 7 }, { changedBy: 'token:ops' });
    expect(put.feeBps).toBe(7);
    expect((await repo.list()).configs).toHaveLength(DEMO_TENANTS.length);
    await expect.poll(() => changes.includes(DEMO_TENANTS[0]!.tenantId)).toBe(true);
    await stop();
    expect(await sqlstate(config, 'SELECT * FROM ledger')).toBe(DENIED);
    expect(await sqlstate(config, 'DELETE FROM tenant_config_history')).toBe(DENIED);
    expect(await sqlstate(config, `UPDATE balances SET balance_minor = 0`)).toBe(DENIED);

    const reader = d.login('reader');
    const report = await verifyLedger(reader);
    expect(report).toMatchObject({ ok: true, checkedEvents: 20, checkedAccounts: 4 });
    expect(await sqlstate(reader, `INSERT INTO tl_partition_epochs VALUES ('writer', 9, 9)`)).toBe(DENIED);
    expect(await sqlstate(reader, `UPDATE tenant_configs SET fee_bps = 0`)).toBe(DENIED);

    // The passwords are checked: another role's is refused.
    expect(await sqlstate(d.login('writer', d.passwords.state), 'SELECT 1')).toBe('28P01');
  }, 120_000);

  it('grants again idempotently: what is not in the list is taken back, passwords kept unless given', async () => {
    const d = await database();
    await grantServiceRoles(d.owner, { prefix: d.prefix, passwords: d.passwords });
    await d.requirePasswords();
    await d.owner.query(`GRANT DELETE, TRUNCATE ON ledger TO ${d.prefix}_writer`);
    const writer = d.login('writer');
    expect(await sqlstate(writer, 'DELETE FROM ledger')).toBeUndefined();

    const again = await grantServiceRoles(d.owner, { prefix: d.prefix, roles: ['writer'] });
    expect(again).toEqual([
      { service: 'writer', name: `${d.prefix}_writer`, created: false, passwordSet: false },
    ]);
    expect(await sqlstate(writer, 'DELETE FROM ledger')).toBe(DENIED);
    expect(await sqlstate(d.login('writer'), 'SELECT count(*) FROM ledger')).toBeUndefined();
  });

  it('a role that may not migrate starts only on a current schema, and says what to run when it is behind', async () => {
    const d = await database(4);
    await grantServiceRoles(d.owner, { prefix: d.prefix, passwords: d.passwords });
    await d.requirePasswords();
    const writer = d.login('writer');
    expect(await schemaVersion(writer)).toBe(4);

    const off = await ensureSchema(writer, 'off').catch((err: unknown) => err);
    expect(isStoreError(off, StoreErrorCode.schemaBehind)).toBe(true);
    expect((off as Error).message).toContain(
      `at version 4 and this build needs ${LATEST}: run the migrations first`,
    );
    // `auto` tries, and PostgreSQL refuses the role: nothing is half done.
    const auto = await ensureSchema(writer, 'auto').catch((err: unknown) => err);
    expect(isStoreError(auto, StoreErrorCode.migrationFailed)).toBe(true);
    expect((auto as Error).message).toMatch(/permission denied|must be owner/);
    expect(await schemaVersion(d.owner)).toBe(4);

    const owned = await ensureSchema(d.owner, 'off').catch((err: unknown) => err);
    expect(isStoreError(owned, StoreErrorCode.schemaBehind)).toBe(true);
    expect(await ensureSchema(d.owner, 'auto')).toEqual({
      applied: MIGRATIONS.filter((m) => m.version > 4).map((m) => m.version),
      currentVersion: LATEST,
    });
    expect(await ensureSchema(writer, 'off')).toEqual({ applied: [], currentVersion: LATEST });
  });

  it('reads a fresh database as version 0 without writing anything', async () => {
    const pool = await db.newPool();
    expect(await schemaVersion(pool)).toBe(0);
    const res = await pool.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`);
    expect(res.rows[0]).toEqual({ n: 0 });
  });

  it('reads role passwords from a directory of files named after the roles', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tl-roles-'));
    try {
      writeFileSync(join(dir, 'writer'), 'w-secret\n');
      writeFileSync(join(dir, 'reader'), 'r-secret');
      writeFileSync(join(dir, 'other'), 'ignored');
      expect(readRolePasswords(dir)).toEqual({ writer: 'w-secret', reader: 'r-secret' });
      // PostgreSQL would clear the password (a notice only): refused, naming the file, not its content.
      writeFileSync(join(dir, 'state'), '\n');
      expect(() => readRolePasswords(dir)).toThrow(
        `the state role's password ${join(dir, 'state')} is empty`,
      );
      expect(() => readRolePasswords(join(dir, 'missing'))).toThrow(
        /role password directory .* does not exist/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
