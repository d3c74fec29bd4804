import { beforeEach, describe, expect, it } from 'vitest';
import {
  createPostgresSink,
  createTenantConfigRepository,
  verifyLedger,
  type Invariant,
} from '../src/index.js';
import { at, history } from './fixtures.js';
import { useMigratedDatabase } from './support.js';

const db = useMigratedDatabase({ perTest: true });
let configVersion: bigint;

/** A clean ledger: 60 events on 5 accounts of tenant-1, committed in 3 batches, under a config with overdraft 500. */
beforeEach(async () => {
  const configs = createTenantConfigRepository(db.pool);
  const config = await configs.put({
    tenantId: 'tenant-1',
    enabled: true,
    baseCurrency: 'EUR',
    feeBps: 0,
    fxRatesE9: { EUR: 1_000_000_000n },
    dailyDebitLimitMinor: 0n,
    overdraftLimitMinor: 500n,
  });
  configVersion = config.version;
  const sink = createPostgresSink(db.pool);
  const balances = new Map<string, bigint>();
  for (let b = 0; b < 3; b++) {
    const batch = history({
      events: 20,
      accounts: 5,
      firstPosition: BigInt(b * 20 + 1),
      balances,
      configVersion,
    });
    await sink.commitBatch(at(0), batch);
  }
});

const kinds = (report: { violations: { invariant: Invariant }[] }): Invariant[] =>
  [...new Set(report.violations.map((v) => v.invariant))].sort();

describe('verifyLedger', () => {
  it('finds nothing wrong with a clean run', async () => {
    const expected = Array.from({ length: 60 }, (_, i) => `ev-${i + 1}`);
    const report = await verifyLedger(db.pool, { expectedEventIds: expected });
    expect(report).toEqual({
      ok: true,
      checkedEvents: 60,
      checkedAccounts: 5,
      violations: [],
      totalViolations: 0,
    });
  });

  it('reports expected events without a row', async () => {
    const report = await verifyLedger(db.pool, { expectedEventIds: ['ev-1', 'ev-999', 'ev-1000'] });
    expect(report.ok).toBe(false);
    expect(report.violations).toEqual([
      { invariant: 'exactly-one-row', eventId: 'ev-1000', detail: 'expected event has 0 ledger rows' },
      { invariant: 'exactly-one-row', eventId: 'ev-999', detail: 'expected event has 0 ledger rows' },
    ]);
  });

  it('reports a balance that is not the sum of applied deltas, and a position that is not the last', async () => {
    await db.pool.query(`UPDATE balances SET balance_minor = balance_minor + 1 WHERE account_id = 'acc-1'`);
    await db.pool.query(`UPDATE balances SET position = position - 5 WHERE account_id = 'acc-2'`);
    const report = await verifyLedger(db.pool);
    expect(report.violations).toEqual([
      expect.objectContaining({ invariant: 'balance-mismatch', accountId: 'acc-1' }),
      expect.objectContaining({ invariant: 'position-order', accountId: 'acc-2' }),
    ]);
    expect(report.totalViolations).toBe(2);
  });

  it('reports ledger rows of an account without a balance row', async () => {
    await db.pool.query(`DELETE FROM balances WHERE account_id = 'acc-3'`);
    const report = await verifyLedger(db.pool);
    expect(report.violations).toEqual([
      { invariant: 'balance-mismatch', accountId: 'acc-3', detail: 'ledger rows but no balance row' },
    ]);
  });

  it('reports an effect applied twice', async () => {
    // acc-0's event at position 6 counted twice by the state stage: every later balance is off by its delta.
    const { rows } = await db.pool.query<{ delta: string }>(
      `SELECT delta_minor::text AS delta FROM ledger WHERE event_id = 'ev-6'`,
    );
    const delta = rows[0]!.delta;
    await db.pool.query(
      `UPDATE ledger SET balance_after_minor = balance_after_minor + $1::int8 WHERE account_id = 'acc-0' AND position > 6`,
      [delta],
    );
    await db.pool.query(
      `UPDATE balances SET balance_minor = balance_minor + $1::int8 WHERE account_id = 'acc-0'`,
      [delta],
    );
    const report = await verifyLedger(db.pool);
    expect(kinds(report)).toEqual(['balance-mismatch', 'double-apply']);
    const double = report.violations.find((v) => v.invariant === 'double-apply')!;
    expect(double).toMatchObject({ accountId: 'acc-0', eventId: 'ev-11' });
  });

  it('reports a broken running balance and a duplicate position', async () => {
    await db.pool.query(
      `UPDATE ledger SET balance_after_minor = balance_after_minor - 7 WHERE event_id = 'ev-22'`,
    );
    await db.pool.query(`UPDATE ledger SET position = 8 WHERE event_id = 'ev-13'`); // acc-2 already has position 8
    const report = await verifyLedger(db.pool);
    expect(kinds(report)).toContain('running-balance');
    expect(report.violations).toContainEqual(
      expect.objectContaining({ invariant: 'running-balance', eventId: 'ev-22', accountId: 'acc-1' }),
    );
    expect(report.violations).toContainEqual(
      expect.objectContaining({ invariant: 'position-order', accountId: 'acc-2' }),
    );
  });

  it('reports a rejected row that moves money', async () => {
    await db.pool.query(`UPDATE ledger SET delta_minor = 3 WHERE event_id = 'ev-7'`);
    const report = await verifyLedger(db.pool);
    expect(report.violations).toContainEqual(
      expect.objectContaining({
        invariant: 'running-balance',
        eventId: 'ev-7',
        detail: expect.stringContaining('rejected'),
      }),
    );
  });

  it('reports a debit below the overdraft limit of its config version', async () => {
    // ev-3 is a debit; pretend it left the account 600 below zero (limit 500) and keep the books consistent.
    const row = await db.pool.query<{ account_id: string; position: string; after: string }>(
      `SELECT account_id, position::text, balance_after_minor::text AS after FROM ledger WHERE event_id = 'ev-3'`,
    );
    const { account_id: account, after } = row.rows[0]!;
    const shift = -600n - BigInt(after);
    await db.pool.query(
      `UPDATE ledger SET delta_minor = delta_minor + $1::int8, balance_after_minor = balance_after_minor + $1::int8
       WHERE event_id = 'ev-3'`,
      [shift.toString()],
    );
    await db.pool.query(
      `UPDATE ledger SET balance_after_minor = balance_after_minor + $1::int8
       WHERE account_id = $2 AND position > 3`,
      [shift.toString(), account],
    );
    await db.pool.query(
      `UPDATE balances SET balance_minor = balance_minor + $1::int8 WHERE account_id = $2`,
      [shift.toString(), account],
    );
    const report = await verifyLedger(db.pool);
    expect(kinds(report)).toEqual(['overdraft']);
    expect(report.violations[0]).toEqual({
      invariant: 'overdraft',
      accountId: account,
      eventId: 'ev-3',
      detail: `balance after -600 is below -500 (config version ${configVersion})`,
    });
    // later debits of the account went further below the limit; credits there are not counted
    expect(report.violations.every((v) => v.accountId === account)).toBe(true);
    const debits = await db.pool.query<{ event_id: string }>(
      `SELECT event_id FROM ledger WHERE account_id = $1 AND outcome = 'APPLIED' AND delta_minor < 0
       AND balance_after_minor < -500 ORDER BY position`,
      [account],
    );
    expect(report.violations.map((v) => v.eventId)).toEqual(debits.rows.map((r) => r.event_id));
    // a version missing from the history is skipped, not guessed
    await db.pool.query(`UPDATE ledger SET config_version = 999999 WHERE account_id = $1`, [account]);
    expect((await verifyLedger(db.pool)).ok).toBe(true);
  });

  it('caps the list but counts every violation', async () => {
    await db.pool.query(`UPDATE balances SET balance_minor = balance_minor + 1`);
    const report = await verifyLedger(db.pool, { maxViolations: 2 });
    expect(report.violations).toHaveLength(2);
    expect(report.totalViolations).toBe(5);
    expect(report.ok).toBe(false);
  });
});
