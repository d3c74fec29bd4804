/**
 * The pool every PostgreSQL service uses: its password from a file (a mounted Secret), read again for each new
 * connection, so a rotated password is picked up without a restart.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@throughline/runtime';
import { createTestPki, startPostgres, type PostgresHandle } from '@throughline/testkit';
import { createPostgresPool, postgresSettings } from '../src/index.js';

describe('createPostgresPool', () => {
  let server: PostgresHandle;
  let url: string;
  let dir: string;

  beforeAll(async () => {
    server = await startPostgres();
    await server.createDatabase('app');
    url = await server.createPasswordRole('app_user', 'first', 'app');
    dir = mkdtempSync(join(tmpdir(), 'throughline-pgpass-'));
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await server?.stop();
  });

  it('reads the password file for every new connection: a rotation needs no restart', async () => {
    const file = join(dir, 'password');
    writeFileSync(file, 'first\n');
    const settings = postgresSettings.parse({ DATABASE_URL: url, DATABASE_PASSWORD_FILE: file });
    const pool = createPostgresPool(settings, { max: 1, logger: silentLogger });
    try {
      expect((await pool.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u).toBe('app_user');

      // Rotated in the database: the open connection goes on, a new one fails until the file has the new password.
      await pool.query("ALTER ROLE app_user PASSWORD 'second'");
      const fresh = () => pool.connect().then((c) => c.release(true)); // release(true) closes it
      await fresh(); // closes the one open connection
      await expect(fresh()).rejects.toThrow(/password authentication failed for user "app_user"/);
      writeFileSync(file, 'second');
      await fresh();
      expect((await pool.query<{ n: number }>('SELECT 1 AS n')).rows[0]!.n).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it('names the file it cannot read, and never the password', async () => {
    const file = join(dir, 'missing');
    const pool = createPostgresPool(
      postgresSettings.parse({ DATABASE_URL: url, DATABASE_PASSWORD_FILE: file }),
      {
        max: 1,
        logger: silentLogger,
      },
    );
    try {
      await expect(pool.query('SELECT 1')).rejects.toThrow(
        `cannot read DATABASE_PASSWORD_FILE ${file} (ENOENT)`,
      );
    } finally {
      await pool.end();
    }
  });
});

describe('createPostgresPool over SSL', () => {
  const pki = createTestPki();
  const ca = pki.ca('pg-ca');
  const otherCa = pki.ca('other-ca');
  const serverCert = pki.cert('postgres', ca, 'server');
  let server: PostgresHandle;
  let url: string;
  let passwordFile: string;

  beforeAll(async () => {
    server = await startPostgres({ ssl: serverCert });
    await server.createDatabase('app');
    url = await server.createPasswordRole('app_user', 'secret', 'app');
    await server.requireSsl('app_user', 'app');
    passwordFile = join(pki.dir, 'pg-password');
    writeFileSync(passwordFile, 'secret\n', { mode: 0o600 });
  });
  afterAll(async () => {
    await server?.stop();
  });

  const query = async (databaseUrl: string, extra: Record<string, string> = {}): Promise<string> => {
    const pool = createPostgresPool(
      postgresSettings.parse({ DATABASE_URL: databaseUrl, DATABASE_PASSWORD_FILE: passwordFile, ...extra }),
      {
        max: 1,
        logger: silentLogger,
      },
    );
    try {
      const { rows } = await pool.query<{ ssl: boolean }>(
        'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
      );
      return rows[0]!.ssl ? 'ssl' : 'plaintext';
    } catch (err) {
      return (err as Error).message;
    } finally {
      await pool.end();
    }
  };

  it('verifies the server against the CA and its name (sslmode=verify-full), and is refused otherwise', async () => {
    expect(await query(`${url}?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca.cert)}`)).toBe('ssl');
    // Another CA: the server's certificate is not trusted.
    expect(await query(`${url}?sslmode=verify-full&sslrootcert=${encodeURIComponent(otherCa.cert)}`)).toMatch(
      /certificate/i,
    );
    // The role may not connect without encryption.
    expect(await query(`${url}?sslmode=disable`)).toMatch(/no encryption/);
  });

  it('takes the CA from DATABASE_TLS_CA_FILE (a mounted Secret) and verifies the server with it', async () => {
    expect(await query(url, { DATABASE_TLS_CA_FILE: ca.cert })).toBe('ssl');
    expect(await query(url, { DATABASE_TLS_CA_FILE: otherCa.cert })).toMatch(/certificate/i);
  });
});
