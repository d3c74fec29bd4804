/**
 * `throughline db migrate` and `db roles` against a real PostgreSQL, as an operator would: migrate, create the
 * services' roles with passwords from files, and use one (the reader) to verify the ledger.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MIGRATIONS } from '@throughline/stores';
import { startPostgres, type PostgresHandle } from '@throughline/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './cli.js';

let postgres: PostgresHandle;
let url: string;
const dir = tempDir('db');

beforeAll(async () => {
  postgres = await startPostgres();
  url = await postgres.createDatabase('ledger_db');
}, 60_000);

afterAll(async () => {
  await postgres?.stop();
});

const db = (args: string[]) => runCli(['db', ...args, '--database-url', url]);

describe('throughline db', () => {
  it('migrates, then creates the roles with their passwords; the reader role verifies the ledger', async () => {
    const early = await db(['roles']);
    expect(early.code).toBe(1);
    expect(early.stderr).toMatch(/at version 0, not \d+: run `throughline db migrate` first/);

    const migrated = await db(['migrate']);
    expect(migrated.code).toBe(0);
    const versions = MIGRATIONS.map((m) => m.version);
    expect(migrated.stdout).toContain(`applied migrations ${versions.join(', ')} to `);
    expect(migrated.stdout).toContain(`ledger_db (now version ${versions.at(-1)})`);
    expect((await db(['migrate'])).stdout).toContain(`is current (version ${versions.at(-1)})`);

    const passwords = join(dir, 'passwords');
    mkdirSync(passwords);
    const secret = (role: string) => `${role}-${randomBytes(9).toString('base64url')}`;
    const given = Object.fromEntries(['writer', 'state', 'config', 'reader'].map((r) => [r, secret(r)]));
    for (const [role, password] of Object.entries(given))
      writeFileSync(join(passwords, role), `${password}\n`);
    const roles = await db(['roles', '--prefix', 'ops', '--password-dir', passwords]);
    expect(roles.code).toBe(0);
    expect(roles.stdout).toMatch(/^ops_writer \(created, password set\): SELECT, INSERT ON TABLE ledger;/m);
    expect(roles.stdout).toMatch(/^ops_reader \(created, password set\): SELECT ON TABLE ledger, balances/m);
    for (const password of Object.values(given)) expect(roles.stdout + roles.stderr).not.toContain(password);

    await postgres.requirePassword('ops_reader', 'ledger_db');
    const asReader = (password: string) =>
      runCli(['verify', '--database-url', url.replace('postgres@', `ops_reader:${password}@`)]);
    const verified = await asReader(given.reader!);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^OK: 0 ledger rows and 0 accounts/);
    const wrong = await asReader(given.writer!);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/password authentication failed for user "ops_reader"/);
    expect(wrong.stderr).not.toContain(given.writer);

    const again = await db(['roles', '--prefix', 'ops', '--only', 'writer', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({
      roles: [{ service: 'writer', name: 'ops_writer', created: false, passwordSet: false }],
    });
    const bad = await db(['roles', '--only', 'writer,admin']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('"admin" is not one of writer, state, config, reader');
  });
});
