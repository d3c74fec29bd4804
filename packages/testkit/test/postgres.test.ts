import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresHandle } from '../src/index.js';
import { runCommand } from '../src/command.js';
import { findPostgresBinaries, psql } from '../src/postgres-cluster.js';
import { isListening, processExists } from './helpers.js';

const { psql: psqlBinary } = findPostgresBinaries(undefined);

describe('startPostgres', () => {
  let pg: PostgresHandle;

  beforeAll(async () => {
    pg = await startPostgres();
  });

  afterAll(async () => {
    await pg.stop();
  });

  it('answers queries on 127.0.0.1', async () => {
    expect(pg.url).toBe(`postgres://postgres@127.0.0.1:${pg.port}/postgres`);
    expect(await psql(psqlBinary, pg.port, "SELECT current_setting('listen_addresses')")).toBe('127.0.0.1');
  });

  it('creates databases that survive kill -9 and restart on the same port', async () => {
    const url = await pg.createDatabase('orders');
    expect(url).toBe(`postgres://postgres@127.0.0.1:${pg.port}/orders`);
    await psql(psqlBinary, pg.port, 'CREATE TABLE t (v int); INSERT INTO t VALUES (42)', 'orders');
    const generated = await pg.createDatabase();
    const generatedName = decodeURIComponent(new URL(generated).pathname.slice(1));
    expect(generatedName).toMatch(/^test_[0-9a-f]{12}$/);

    const { port } = pg;
    const pid = pg.pid!;
    await pg.kill();
    expect(processExists(pid)).toBe(false);
    expect(await isListening(port)).toBe(false);

    await pg.restart();
    expect(pg.port).toBe(port);
    const names = await psql(psqlBinary, port, 'SELECT datname FROM pg_database ORDER BY datname');
    expect(names.split('\n')).toEqual(expect.arrayContaining(['orders', generatedName]));
    expect(await psql(psqlBinary, port, 'SELECT v FROM t', 'orders')).toBe('42');
  });

  it('adds a role that must give its password, owning a database', async () => {
    await pg.createDatabase('owned');
    const url = await pg.createPasswordRole('app', "it's secret", 'owned');
    expect(url).toBe(`postgres://app@127.0.0.1:${pg.port}/owned`);
    const asApp = (password: string, sql: string) =>
      runCommand({
        command: psqlBinary,
        args: [
          '-X',
          '-A',
          '-t',
          '-q',
          '-w',
          '-h',
          '127.0.0.1',
          '-p',
          String(pg.port),
          '-U',
          'app',
          '-d',
          'owned',
          '-c',
          sql,
        ],
        env: { ...process.env, PGPASSWORD: password, PGSSLMODE: 'disable' },
      });
    expect((await asApp("it's secret", 'CREATE TABLE mine (v int); SELECT current_user')).trim()).toBe('app');
    await expect(asApp('wrong', 'SELECT 1')).rejects.toThrow(/password authentication failed for user "app"/);
    await expect(asApp('', 'SELECT 1')).rejects.toThrow(/password/);
  });

  it('rejects a second database of the same name', async () => {
    await pg.createDatabase('twice');
    await expect(pg.createDatabase('twice')).rejects.toThrow(/already exists/);
  });

  it('stop removes the cluster', async () => {
    const other = await startPostgres();
    const { port } = other;
    const socketDirs = await psql(psqlBinary, port, "SELECT current_setting('unix_socket_directories')");
    expect(existsSync(socketDirs)).toBe(true);
    await other.stop();
    await other.stop();
    expect(existsSync(socketDirs)).toBe(false);
    expect(await isListening(port)).toBe(false);
  });
});
