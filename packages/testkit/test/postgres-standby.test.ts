import { afterAll, describe, expect, it } from 'vitest';
import { startPostgres, startTcpProxy, type PostgresHandle, type TcpProxy } from '../src/index.js';
import { findPostgresBinaries, psql } from '../src/postgres-cluster.js';

const { psql: psqlBinary } = findPostgresBinaries(undefined);

describe('a PostgreSQL standby behind a moving address', { timeout: 120_000 }, () => {
  const started: { stop(): Promise<void> }[] = [];
  let proxy: TcpProxy | undefined;
  afterAll(async () => {
    await proxy?.close();
    await Promise.all(started.map((s) => s.stop()));
  });

  it('streams every commit to a synchronous standby that, promoted after the primary died, holds them all', async () => {
    const primary: PostgresHandle = await startPostgres();
    started.push(primary);
    await primary.createDatabase('orders');
    await psql(psqlBinary, primary.port, 'CREATE TABLE t (v int)', 'orders');
    const standby = await primary.startStandby({ synchronous: true });
    started.push(standby);
    proxy = await startTcpProxy(primary.port);
    for (let v = 1; v <= 50; v++) await psql(psqlBinary, proxy.port, `INSERT INTO t VALUES (${v})`, 'orders');
    // A standby is read-only.
    await expect(psql(psqlBinary, standby.port, 'INSERT INTO t VALUES (0)', 'orders')).rejects.toThrow(
      /read-only/,
    );

    await primary.kill();
    proxy.retarget(standby.port);
    await expect(psql(psqlBinary, proxy.port, 'INSERT INTO t VALUES (0)', 'orders')).rejects.toThrow(
      /read-only/,
    );
    await standby.promote();
    await psql(psqlBinary, proxy.port, 'INSERT INTO t VALUES (51)', 'orders');
    expect(await psql(psqlBinary, proxy.port, 'SELECT count(*), sum(v) FROM t', 'orders')).toBe('51|1326');
  });
});
