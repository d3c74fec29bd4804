import { Outcome } from '@throughline/contracts';
import { beforeAll, describe, expect, it } from 'vitest';
import { createPostgresSink, isStoreError, StoreErrorCode, type PostgresSink } from '../src/index.js';
import { at, history, result } from './fixtures.js';
import { useMigratedDatabase } from './support.js';

const db = useMigratedDatabase();
let sink: PostgresSink;
beforeAll(() => {
  sink = createPostgresSink(db.pool);
});

async function snapshot(accountPrefix: string) {
  const ledger = await db.pool.query(
    `SELECT event_id, position::text, balance_after_minor::text, outcome, committed_at
     FROM ledger WHERE account_id LIKE $1 ORDER BY event_id`,
    [`${accountPrefix}%`],
  );
  const balances = await db.pool.query(
    `SELECT account_id, balance_minor::text, position::text, debits_day, debits_day_minor::text, updated_at
     FROM balances WHERE account_id LIKE $1 ORDER BY account_id`,
    [`${accountPrefix}%`],
  );
  return { ledger: ledger.rows, balances: balances.rows };
}

describe('PostgresSink', () => {
  it('commits ledger rows and the last state of each account', async () => {
    const batch = history({ events: 30, accounts: 4, prefix: 'c1-' });
    expect(await sink.commitBatch(at(2), batch)).toEqual({ inserted: 30, duplicates: 0 });
    const { ledger, balances } = await snapshot('c1-');
    expect(ledger).toHaveLength(30);
    expect(balances).toHaveLength(4);
    for (const b of balances) {
      const last = batch.filter((r) => r.accountId === b.account_id).at(-1)!;
      expect(b.balance_minor).toBe(last.balanceAfterMinor.toString());
      expect(b.position).toBe(last.position.toString());
      expect(b.debits_day_minor).toBe(last.debitsDayMinor.toString());
    }
    const row = await db.pool.query(
      `SELECT partition, outcome, reject_reason, direction, currency, occurred_at, accepted_at
       FROM ledger WHERE event_id = 'c1-ev-7'`,
    );
    expect(row.rows[0]).toMatchObject({
      partition: 2,
      outcome: 'REJECTED',
      reject_reason: 'DAILY_LIMIT_EXCEEDED',
      direction: 'CREDIT',
      currency: 'EUR',
    });
    expect((row.rows[0].occurred_at as Date).getTime()).toBe(1_700_000_000_123);
    expect((row.rows[0].accepted_at as Date).getTime()).toBe(1_700_000_000_456);
    const applied = await db.pool.query(`SELECT reject_reason FROM ledger WHERE event_id = 'c1-ev-1'`);
    expect(applied.rows[0].reject_reason).toBeNull();
  });

  it('is idempotent: the same batch twice leaves rows and balances as they were', async () => {
    const batch = history({ events: 20, accounts: 3, prefix: 'c2-' });
    await sink.commitBatch(at(1), batch);
    const before = await snapshot('c2-');
    expect(await sink.commitBatch(at(1), batch)).toEqual({ inserted: 0, duplicates: 20 });
    expect(await snapshot('c2-')).toEqual(before);
  });

  it('does not move a balance back when an older batch arrives after a newer one', async () => {
    const balances = new Map<string, bigint>();
    const older = history({ events: 10, accounts: 2, prefix: 'c3-', balances });
    const newer = history({ events: 10, accounts: 2, prefix: 'c3-', balances, firstPosition: 11n });
    await sink.commitBatch(at(0), newer);
    const afterNewer = await snapshot('c3-');
    expect(await sink.commitBatch(at(0), older)).toEqual({ inserted: 10, duplicates: 0 });
    const afterOlder = await snapshot('c3-');
    expect(afterOlder.balances).toEqual(afterNewer.balances);
    expect(afterOlder.ledger).toHaveLength(20);
  });

  it('moves the position on a rejected result and keeps the balance', async () => {
    await sink.commitBatch(at(0), [
      result({ eventId: 'c4-1', accountId: 'c4-a', position: 5n, balanceAfterMinor: 700n }),
    ]);
    await sink.commitBatch(at(0), [
      result({
        eventId: 'c4-2',
        accountId: 'c4-a',
        position: 9n,
        outcome: Outcome.OUTCOME_REJECTED,
        rejectReason: 'OVERDRAFT_LIMIT_EXCEEDED',
        deltaMinor: 0n,
        balanceAfterMinor: 700n,
      }),
    ]);
    const { balances } = await snapshot('c4-');
    expect(balances[0]).toMatchObject({ balance_minor: '700', position: '9' });
  });

  it('keeps bigint extremes exact', async () => {
    const max = 2n ** 63n - 1n;
    const min = -(2n ** 63n);
    await sink.commitBatch(at(7), [
      result({
        eventId: 'c5-1',
        accountId: 'c5-a',
        position: max,
        amountMinor: max,
        deltaMinor: min,
        feeMinor: max,
        balanceAfterMinor: min,
        configVersion: max,
        debitsDayMinor: max,
        occurredAtMs: 0n,
      }),
    ]);
    const row = await db.pool.query(
      `SELECT position::text, amount_minor::text, delta_minor::text, fee_minor::text, balance_after_minor::text,
              config_version::text, occurred_at FROM ledger WHERE event_id = 'c5-1'`,
    );
    expect(row.rows[0]).toMatchObject({
      position: max.toString(),
      amount_minor: max.toString(),
      delta_minor: min.toString(),
      fee_minor: max.toString(),
      balance_after_minor: min.toString(),
      config_version: max.toString(),
    });
    expect((row.rows[0].occurred_at as Date).getTime()).toBe(0);
    const { balances } = await snapshot('c5-');
    expect(balances[0]).toMatchObject({ balance_minor: min.toString(), debits_day_minor: max.toString() });
  });

  it('stores ids with quotes, backslashes, commas, braces and blanks as they are', async () => {
    const ids = ['c6-"quoted"', 'c6-back\\slash', 'c6-a,b', 'c6-{x}', 'c6- spaced ', 'c6-NULL', 'c6-ünï'];
    const batch = ids.map((id, i) =>
      result({ eventId: id, accountId: id, tenantId: id, position: BigInt(i + 1), rejectReason: '' }),
    );
    await sink.commitBatch(at(3), batch);
    const rows = await db.pool.query<{ event_id: string; account_id: string }>(
      `SELECT event_id, account_id FROM ledger WHERE event_id LIKE 'c6-%' ORDER BY position`,
    );
    expect(rows.rows.map((r) => r.event_id)).toEqual(ids);
    expect(rows.rows.map((r) => r.account_id)).toEqual(ids);
  });

  it('counts a repeat inside one batch as a duplicate', async () => {
    const one = result({ eventId: 'c7-1', accountId: 'c7-a' });
    expect(await sink.commitBatch(at(0), [one, one])).toEqual({ inserted: 1, duplicates: 1 });
  });

  it('commits several partitions in one transaction', async () => {
    const a = history({ events: 5, accounts: 1, prefix: 'c8a-' });
    const b = history({ events: 5, accounts: 1, prefix: 'c8b-' });
    const outcome = await sink.commitGroups([
      { fence: at(4), results: a },
      { fence: at(5), results: b },
    ]);
    expect(outcome).toEqual([
      { inserted: 5, duplicates: 0, fenced: false },
      { inserted: 5, duplicates: 0, fenced: false },
    ]);
    const parts = await db.pool.query(
      `SELECT account_id, partition FROM balances WHERE account_id LIKE 'c8%' ORDER BY account_id`,
    );
    expect(parts.rows).toEqual([
      { account_id: 'c8a-acc-0', partition: 4 },
      { account_id: 'c8b-acc-0', partition: 5 },
    ]);
    expect(await sink.commitGroups([])).toEqual([]);
  });

  it("keeps each partition's writer trace id with the rows it inserted, and NULL for anything else", async () => {
    const traced = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const other = '0123456789abcdef0123456789abcdef';
    const a = history({ events: 3, accounts: 1, prefix: 'tr-a-' });
    const b = history({ events: 2, accounts: 1, prefix: 'tr-b-' });
    const c = history({ events: 2, accounts: 1, prefix: 'tr-c-' });
    const d = history({ events: 1, accounts: 1, prefix: 'tr-d-' });
    await sink.commitGroups([
      { fence: { ...at(20), traceId: traced }, results: a },
      { fence: { ...at(21), traceId: other }, results: b },
      { fence: at(22), results: c },
      { fence: { ...at(23), traceId: 'not-a-trace-id' }, results: d },
    ]);
    // A replay under another trace keeps the id of the commit that inserted the row.
    await sink.commitBatch({ ...at(20), traceId: other }, a);
    const rows = await db.pool.query<{ event_id: string; trace: string | null }>(
      `SELECT event_id, encode(trace_id, 'hex') AS trace FROM ledger WHERE event_id LIKE 'tr-%' ORDER BY event_id`,
    );
    const byPrefix = (prefix: string) =>
      rows.rows.filter((r) => r.event_id.startsWith(prefix)).map((r) => r.trace);
    expect(byPrefix('tr-a-')).toEqual([traced, traced, traced]);
    expect(byPrefix('tr-b-')).toEqual([other, other]);
    expect(byPrefix('tr-c-')).toEqual([null, null]);
    expect(byPrefix('tr-d-')).toEqual([null]);
  });

  it("refuses the commit of a writer older than the partition's owner, and writes nothing of it", async () => {
    const batch = history({ events: 4, accounts: 1, prefix: 'f1-' });
    // A new owner (epoch 20) acquired partition 9; the old one (epoch 12) resumes after a pause and commits.
    expect(await sink.claim(9, 20)).toEqual({ upstream: 0 });
    const err: unknown = await sink.commitBatch(at(9, 12), batch).catch((e: unknown) => e);
    expect(isStoreError(err, StoreErrorCode.fenced)).toBe(true);
    expect(await snapshot('f1-')).toEqual({ ledger: [], balances: [] });
    // Claims of older epochs are refused; the owner's commits go through and carry the state fence forward.
    expect(isStoreError(await sink.claim(9, 19).catch((e: unknown) => e), StoreErrorCode.fenced)).toBe(true);
    expect(await sink.commitBatch(at(9, 20, 7), batch)).toEqual({ inserted: 4, duplicates: 0 });
    expect(await sink.commitBatch(at(9, 20, 5), [])).toEqual({ inserted: 0, duplicates: 0 });
    expect(await sink.claim(9, 21)).toEqual({ upstream: 7 });
    const fences = await db.pool.query(
      `SELECT stage, epoch::int FROM tl_partition_epochs WHERE partition = 9 ORDER BY stage`,
    );
    expect(fences.rows).toEqual([
      { stage: 'state', epoch: 7 },
      { stage: 'writer', epoch: 21 },
    ]);
  });

  it('refuses only the stale partition of a group commit', async () => {
    await sink.claim(11, 30);
    const stale = history({ events: 3, accounts: 1, prefix: 'f2a-' });
    const fresh = history({ events: 3, accounts: 1, prefix: 'f2b-' });
    expect(
      await sink.commitGroups([
        { fence: at(11, 29), results: stale },
        { fence: at(12, 3), results: fresh },
      ]),
    ).toEqual([
      { inserted: 0, duplicates: 0, fenced: true },
      { inserted: 3, duplicates: 0, fenced: false },
    ]);
    expect((await snapshot('f2a-')).ledger).toEqual([]);
    expect((await snapshot('f2b-')).ledger).toHaveLength(3);
  });

  it('makes a claim wait for a commit in flight, so no stale commit lands after it', async () => {
    await sink.claim(13, 40);
    const client = await db.pool.connect();
    try {
      // The old owner's commit holds the partition's fence row…
      await client.query('BEGIN');
      await client.query(
        `UPDATE tl_partition_epochs SET epoch = 40 WHERE stage = 'writer' AND partition = 13`,
      );
      // …so the new owner's claim waits for it, and wins after it.
      const claimed = sink.claim(13, 41);
      const early = await Promise.race([
        claimed.then(() => 'claimed'),
        new Promise((r) => setTimeout(() => r('waiting'), 200)),
      ]);
      expect(early).toBe('waiting');
      await client.query('COMMIT');
      await claimed;
    } finally {
      client.release();
    }
    expect(
      isStoreError(await sink.commitBatch(at(13, 40), []).catch((e: unknown) => e), StoreErrorCode.fenced),
    ).toBe(true);
  });

  it('tells each partition of a group commit what it wrote, replays included', async () => {
    const a = history({ events: 4, accounts: 1, prefix: 'g1a-' });
    const b = history({ events: 6, accounts: 2, prefix: 'g1b-' });
    const c = history({ events: 3, accounts: 1, prefix: 'g1c-' });
    expect(await sink.commitGroups([{ fence: at(1), results: a }])).toEqual([
      { inserted: 4, duplicates: 0, fenced: false },
    ]);
    // Partition 1 replays its batch (all duplicates), 2 commits new rows, 3 has nothing.
    expect(
      await sink.commitGroups([
        { fence: at(2), results: b },
        { fence: at(1), results: a },
        { fence: at(3), results: [] },
        { fence: at(6), results: c },
      ]),
    ).toEqual([
      { inserted: 6, duplicates: 0, fenced: false },
      { inserted: 0, duplicates: 4, fenced: false },
      { inserted: 0, duplicates: 0, fenced: false },
      { inserted: 3, duplicates: 0, fenced: false },
    ]);
    expect((await snapshot('g1')).ledger).toHaveLength(13);
  });

  it('refuses a group commit that names a partition twice, writing nothing', async () => {
    const a = history({ events: 2, accounts: 1, prefix: 'g2a-' });
    const b = history({ events: 2, accounts: 1, prefix: 'g2b-' });
    const err: unknown = await sink
      .commitGroups([
        { fence: at(1), results: a },
        { fence: at(1), results: b },
      ])
      .catch((e: unknown) => e);
    expect(isStoreError(err, StoreErrorCode.invalidInput)).toBe(true);
    expect((await snapshot('g2')).ledger).toHaveLength(0);
  });

  it('rejects a result without outcome before writing anything', async () => {
    const bad = result({ eventId: 'c9-2', accountId: 'c9-a', outcome: Outcome.OUTCOME_UNSPECIFIED });
    const err: unknown = await sink
      .commitBatch(at(0), [result({ eventId: 'c9-1', accountId: 'c9-a' }), bad])
      .catch((e: unknown) => e);
    expect(isStoreError(err, StoreErrorCode.invalidInput)).toBe(true);
    expect((await snapshot('c9-')).ledger).toHaveLength(0);
  });

  it('writes nothing of a batch whose statement fails', async () => {
    const bad = result({ eventId: 'c10-2', accountId: 'c10-a', position: 2n, currency: 'EURO' });
    const err: unknown = await sink
      .commitBatch(at(0), [result({ eventId: 'c10-1', accountId: 'c10-a' }), bad])
      .catch((e: unknown) => e);
    expect(isStoreError(err, StoreErrorCode.commitFailed)).toBe(true);
    expect((err as Error).cause).toBeInstanceOf(Error);
    const after = await snapshot('c10-');
    expect(after).toEqual({ ledger: [], balances: [] });
  });

  it('works without prepared statements', async () => {
    const plain = createPostgresSink(db.pool, { preparedStatements: false });
    expect(await plain.commitBatch(at(0), history({ events: 3, accounts: 1, prefix: 'c11-' }))).toEqual({
      inserted: 3,
      duplicates: 0,
    });
  });
});
