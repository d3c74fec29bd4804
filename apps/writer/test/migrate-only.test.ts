/**
 * The writer process as the chart's migration Job runs it (MIGRATE_ONLY, with and without the roles), and as a
 * service whose role may not migrate (DATABASE_MIGRATE=off), on a real PostgreSQL. None of this needs NATS: the
 * schema is settled before the writer joins its stage.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVICE_NODE_FLAGS } from '@throughline/runtime';
import { MIGRATIONS } from '@throughline/stores';
import { startPostgres, type PostgresHandle } from '@throughline/testkit';

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/main.js');
const LATEST = MIGRATIONS.at(-1)!.version;
let postgres: PostgresHandle;
const dir = mkdtempSync(join(tmpdir(), 'tl-writer-app-'));

beforeAll(async () => {
  postgres = await startPostgres();
});
afterAll(async () => {
  await postgres?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function runWriter(env: Record<string, string>) {
  return spawnSync(process.execPath, [...SERVICE_NODE_FLAGS, MAIN], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', NATS_URL: 'nats://127.0.0.1:1', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

async function query<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  values: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

const logLines = (stdout: string, msg: string) =>
  stdout
    .split('\n')
    .filter((l) => l.includes(`"msg":"${msg}"`))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('the writer as the migration Job', () => {
  it('migrates, creates the service roles with their passwords and grants them, and exits 0; again, changes nothing', async () => {
    const url = await postgres.createDatabase();
    const passwords = join(dir, 'passwords');
    mkdirSync(passwords);
    writeFileSync(join(passwords, 'writer'), 'writer-secret-9f3a\n');
    writeFileSync(join(passwords, 'state'), 'state-secret-77b1\n');
    const env = {
      DATABASE_URL: url,
      MIGRATE_ONLY: 'true',
      DATABASE_ROLES_PREFIX: 'job',
      DATABASE_ROLE_PASSWORDS_DIR: passwords,
    };

    const first = runWriter(env);
    expect(first.status, first.stderr).toBe(0);
    expect(logLines(first.stdout, 'schema up to date')[0]).toMatchObject({ currentVersion: LATEST });
    // Which roles were granted, in any order (one CI run printed the writer's line last).
    expect(
      logLines(first.stdout, 'service role granted').map((l) => [l.name, l.created, l.passwordSet]),
    ).toEqual(
      expect.arrayContaining([
        ['job_writer', true, true],
        ['job_state', true, true],
        ['job_config', true, false],
        ['job_reader', true, false],
      ]),
    );
    expect(logLines(first.stdout, 'service role granted')).toHaveLength(4);
    expect(first.stdout + first.stderr).not.toMatch(/secret-9f3a|secret-77b1/);
    const rights = await query<{ insert: boolean; delete: boolean; config: boolean }>(
      url,
      `SELECT has_table_privilege('job_writer', 'ledger', 'INSERT') AS insert,
              has_table_privilege('job_writer', 'ledger', 'DELETE') AS delete,
              has_table_privilege('job_writer', 'tenant_configs', 'SELECT') AS config`,
    );
    expect(rights).toEqual([{ insert: true, delete: false, config: false }]);

    const again = runWriter(env);
    expect(again.status, again.stderr).toBe(0);
    expect(logLines(again.stdout, 'schema up to date')[0]).toMatchObject({ applied: [] });
    expect(logLines(again.stdout, 'service role granted').every((l) => l.created === false)).toBe(true);
  });

  it('fails, changing nothing, when the directory of the passwords is not there (a Secret not mounted)', async () => {
    const url = await postgres.createDatabase();
    const run = runWriter({
      DATABASE_URL: url,
      MIGRATE_ONLY: 'true',
      DATABASE_ROLES_PREFIX: 'nojob',
      DATABASE_ROLE_PASSWORDS_DIR: join(dir, 'no-such-dir'),
    });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(`role password directory ${join(dir, 'no-such-dir')} does not exist`);
    expect(await query(url, `SELECT 1 FROM pg_roles WHERE rolname LIKE 'nojob\\_%'`)).toEqual([]);
    expect(await query(url, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)).toEqual([]);
  });
});

describe('the writer as a service whose role may not migrate', () => {
  it('refuses to start on a schema older than it needs, saying what to run, and writes nothing', async () => {
    const url = await postgres.createDatabase();
    const run = runWriter({ DATABASE_URL: url, DATABASE_MIGRATE: 'off' });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain(
      `the database schema is at version 0 and this build needs ${LATEST}: run the migrations first`,
    );
    expect(await query(url, `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)).toEqual([]);
  });
});
