/** The stores' own code on the embedded database, and the COPY sink against the stores' sink. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFencedError } from '@throughline/runtime';
import {
  createPostgresSink,
  createPostgresStateSource,
  createTenantConfigRepository,
  DEMO_TENANTS,
  migrate,
  MIGRATIONS,
  readDeploymentId,
  verifyLedger,
} from '@throughline/stores';
import { createCopySink, EmbeddedDatabase, isEmbeddedError } from '@throughline/embedded';
import { history, tempDir } from './fixtures.js';

const dir = tempDir('database');
let db: EmbeddedDatabase;

beforeAll(async () => {
  db = await EmbeddedDatabase.open({ dataDir: dir });
});
afterAll(async () => {
  await db?.close();
});

async function rows(prefix: string) {
  const ledger = await db.pool.query(
    `SELECT event_id, partition, account_id, position::text, outcome, reject_reason, direction, amount_minor::text, delta_minor::text,
            balance_after_minor::text, occurred_at, accepted_at, encode(trace_id, 'hex') AS trace FROM ledger WHERE account_id LIKE $1 ORDER BY event_id`,
    [`${prefix}%`],
  );
  const balances = await db.pool.query(
    `SELECT account_id, partition, balance_minor::text, position::text, debits_day, debits_day_minor::text FROM balances
     WHERE account_id LIKE $1 ORDER BY account_id`,
    [`${prefix}%`],
  );
  return { ledger: ledger.rows, balances: balances.rows };
}

describe('the stores on the embedded database', () => {
  it('migrates once, under the advisory lock, and again finds nothing to do', async () => {
    expect((await migrate(db.pool)).applied).toEqual(MIGRATIONS.map((m) => m.version));
    expect((await migrate(db.pool)).applied).toEqual([]);
    expect(await readDeploymentId(db.pool)).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('keeps tenant configurations with versions', async () => {
    const repo = createTenantConfigRepository(db.pool);
    expect(await repo.seedDemoTenants()).toBe(DEMO_TENANTS.length);
    expect(await repo.seedDemoTenants()).toBe(0);
    const before = await repo.get('tenant-1');
    const stored = await repo.put({ ...before!, feeBps: 42 });
    expect(stored.version).toBeGreaterThan(before!.version);
    expect((await repo.get('tenant-1'))?.feeBps).toBe(42);
    const list = await repo.list();
    expect(list.configs.map((c) => c.tenantId)).toEqual(DEMO_TENANTS.map((t) => t.tenantId));
    expect(list.version).toBe(stored.version);
  });

  it("commits with the COPY sink exactly what the stores' sink commits", async () => {
    const viaCopy = history({ events: 300, accounts: 7, prefix: 'a-' });
    const viaUnnest = history({ events: 300, accounts: 7, prefix: 'b-' });
    const fence = { partition: 3, epoch: 1, upstream: 0, traceId: '0af7651916cd43dd8448eb211c80319c' };
    expect(await createCopySink(db).commitBatch(fence, viaCopy)).toEqual({
      inserted: 300,
      duplicates: 0,
    });
    // Both sinks keep the partition's committed high-water position as well.
    expect(await createPostgresStateSource(db.pool).committedHighWater(3)).toBe(viaCopy.at(-1)!.position);
    expect(await createPostgresSink(db.pool).commitBatch(fence, viaUnnest)).toEqual({
      inserted: 300,
      duplicates: 0,
    });
    const a = await rows('a-');
    const b = await rows('b-');
    const strip = (r: Record<string, unknown>) => ({
      ...r,
      event_id: String(r.event_id).slice(2),
      account_id: String(r.account_id).slice(2),
    });
    expect(a.ledger.map(strip)).toEqual(b.ledger.map(strip));
    expect(a.balances.map(strip)).toEqual(b.balances.map(strip));
    expect(a.balances).toHaveLength(7);
    expect(new Set(a.ledger.map((r: { trace: string | null }) => r.trace))).toEqual(new Set([fence.traceId]));
  });

  it('is idempotent and moves balances only forward', async () => {
    const sink = createCopySink(db);
    const balances = new Map<string, bigint>();
    const older = history({ events: 20, accounts: 2, prefix: 'c-', balances });
    const newer = history({ events: 20, accounts: 2, prefix: 'c-', balances, firstPosition: 21n });
    await sink.commitBatch({ partition: 0, epoch: 1, upstream: 0 }, newer);
    const after = await rows('c-');
    expect(await sink.commitBatch({ partition: 0, epoch: 1, upstream: 0 }, older)).toEqual({
      inserted: 20,
      duplicates: 0,
    });
    expect(await sink.commitBatch({ partition: 0, epoch: 1, upstream: 0 }, newer)).toEqual({
      inserted: 0,
      duplicates: 20,
    });
    expect((await rows('c-')).balances).toEqual(after.balances);
  });

  it('escapes text that COPY would take for delimiters', async () => {
    const [odd] = history({ events: 1, accounts: 1, prefix: 'd-' });
    odd!.eventId = 'd-tab\there\\back\nline';
    await createCopySink(db).commitBatch({ partition: 1, epoch: 1, upstream: 0 }, [odd!]);
    const { rows: found } = await db.pool.query('SELECT event_id FROM ledger WHERE event_id LIKE $1', [
      'd-tab%',
    ]);
    expect(found).toEqual([{ event_id: 'd-tab\there\\back\nline' }]);
  });

  it("refuses, whole, the commit of a writer older than the partition's owner, as the stores' sink does", async () => {
    const copy = createCopySink(db);
    const unnest = createPostgresSink(db.pool);
    expect(await copy.claim(6, 50)).toEqual({ upstream: 0 });
    const batch = history({ events: 5, accounts: 1, prefix: 'f-' });
    for (const sink of [copy, unnest]) {
      const err: unknown = await sink
        .commitBatch({ partition: 6, epoch: 49, upstream: 0 }, batch)
        .catch((e: unknown) => e);
      expect(isFencedError(err)).toBe(true);
    }
    expect((await rows('f-')).ledger).toHaveLength(0);
    expect(isFencedError(await copy.claim(6, 48).catch((e: unknown) => e))).toBe(true);
    expect(await copy.commitBatch({ partition: 6, epoch: 50, upstream: 3 }, batch)).toEqual({
      inserted: 5,
      duplicates: 0,
    });
    expect(await unnest.claim(6, 51)).toEqual({ upstream: 3 });
  });

  it('rolls a failed batch back whole', async () => {
    const batch = history({ events: 5, accounts: 1, prefix: 'e-' });
    batch[4]!.currency = 'TOOLONG'; // char(3)
    await expect(
      createCopySink(db).commitBatch({ partition: 0, epoch: 1, upstream: 0 }, batch),
    ).rejects.toSatisfy((err) => isEmbeddedError(err, 'EMBEDDED_QUERY_FAILED'));
    expect((await rows('e-')).ledger).toHaveLength(0);
  });

  it('reads committed state back and verifies the ledger', async () => {
    const source = createPostgresStateSource(db.pool);
    const accounts = await source.loadAccounts(['a-acc-0', 'nobody']);
    expect([...accounts.keys()]).toEqual(['a-acc-0']);
    expect([...(await source.committedEvents(['a-ev-1', 'nobody'])).keys()]).toEqual(['a-ev-1']);
    expect(await source.hasCommittedRows(3)).toBe(true);
    expect(await source.hasCommittedRows(99)).toBe(false);
    const report = await verifyLedger(db.pool, { expectedEventIds: ['a-ev-1', 'b-ev-300'] });
    expect(report).toMatchObject({ ok: true, totalViolations: 0 });
  });

  it('reports a broken invariant', async () => {
    await db.pool.query(`UPDATE balances SET balance_minor = balance_minor + 1 WHERE account_id = 'a-acc-0'`);
    const report = await verifyLedger(db.pool);
    expect(report.ok).toBe(false);
    expect(report.violations.map((v) => v.invariant)).toContain('balance-mismatch');
    await db.pool.query(`UPDATE balances SET balance_minor = balance_minor - 1 WHERE account_id = 'a-acc-0'`);
  });
});

describe('EmbeddedDatabase', () => {
  it('refuses to create a database where it was asked only to open one', async () => {
    await expect(EmbeddedDatabase.open({ dataDir: `${dir}/missing`, create: false })).rejects.toSatisfy(
      (err) => isEmbeddedError(err, 'EMBEDDED_OPEN_FAILED'),
    );
  });

  it('keeps a transaction of a checked-out client apart from other calls', async () => {
    const client = await db.pool.connect();
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO tenant_configs (tenant_id, version, base_currency) VALUES ('tx-test', 999, 'EUR')`,
    );
    const outside = db.pool.query(
      `SELECT count(*)::int AS n FROM tenant_configs WHERE tenant_id = 'tx-test'`,
    );
    await client.query('ROLLBACK');
    client.release();
    expect((await outside).rows).toEqual([{ n: 0 }]);
  });
});
