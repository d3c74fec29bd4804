import { beforeAll, describe, expect, it } from 'vitest';
import { createPostgresSink, createPostgresStateSource, type PostgresStateSource } from '../src/index.js';
import { at, history, result } from './fixtures.js';
import { useMigratedDatabase } from './support.js';

const db = useMigratedDatabase();
let source: PostgresStateSource;

beforeAll(async () => {
  source = createPostgresStateSource(db.pool);
  const sink = createPostgresSink(db.pool);
  await sink.commitBatch(at(3), history({ events: 12, accounts: 3, prefix: 's-' }));
  await sink.commitBatch(at(4), [
    result({
      eventId: 'big',
      accountId: 'big-acc',
      position: 2n ** 63n - 1n,
      balanceAfterMinor: -(2n ** 63n),
      debitsDay: 20_000,
      debitsDayMinor: 2n ** 62n,
    }),
  ]);
});

describe('PostgresStateSource', () => {
  it('loads committed account states and leaves unknown accounts out', async () => {
    const states = await source.loadAccounts(['s-acc-0', 's-acc-2', 'never-seen', 'big-acc']);
    expect([...states.keys()].sort()).toEqual(['big-acc', 's-acc-0', 's-acc-2']);
    expect(states.get('big-acc')).toEqual({
      balanceMinor: -(2n ** 63n),
      position: 2n ** 63n - 1n,
      debitsDay: 20_000,
      debitsDayMinor: 2n ** 62n,
    });
    const last = history({ events: 12, accounts: 3, prefix: 's-' })
      .filter((r) => r.accountId === 's-acc-2')
      .at(-1)!;
    expect(states.get('s-acc-2')).toEqual({
      balanceMinor: last.balanceAfterMinor,
      position: last.position,
      debitsDay: last.debitsDay,
      debitsDayMinor: last.debitsDayMinor,
    });
    expect((await source.loadAccounts([])).size).toBe(0);
  });

  it('tells which event ids are committed, for which account and at which position', async () => {
    const committed = await source.committedEvents(['s-ev-1', 's-ev-12', 's-ev-13', 'nope', 'big']);
    expect([...committed.keys()].sort()).toEqual(['big', 's-ev-1', 's-ev-12']);
    const { rows } = await db.pool.query<{ account_id: string; position: string }>(
      "SELECT account_id, position::text FROM ledger WHERE event_id = 's-ev-12'",
    );
    expect(committed.get('s-ev-12')).toEqual({
      accountId: rows[0]!.account_id,
      position: BigInt(rows[0]!.position),
    });
    expect((await source.committedEvents([])).size).toBe(0);
  });

  it('tells whether a partition has committed rows', async () => {
    expect(await source.hasCommittedRows(3)).toBe(true);
    expect(await source.hasCommittedRows(4)).toBe(true);
    expect(await source.hasCommittedRows(5)).toBe(false);
  });
});

describe('the committed high-water position', () => {
  it('is the highest position committed for the partition, never lowered, and 0 before any commit', async () => {
    const sink = createPostgresSink(db.pool);
    const committed = history({ events: 12, accounts: 3, prefix: 's-' });
    const highest = committed.reduce((max, r) => (r.position > max ? r.position : max), 0n);
    expect(await source.committedHighWater(3)).toBe(highest);
    expect(await source.committedHighWater(4)).toBe(2n ** 63n - 1n);
    expect(await source.committedHighWater(5)).toBe(0n);
    // A redelivered older batch (its rows already committed) and an empty one leave it where it is.
    await sink.commitBatch(at(3), committed.slice(0, 2));
    await sink.commitBatch(at(3), []);
    expect(await source.committedHighWater(3)).toBe(highest);
    // A stale writer's commit is refused, and so is its high-water.
    await sink.claim(3, 9);
    await expect(
      sink.commitBatch(at(3), [result({ eventId: 'stale', position: highest + 100n })]),
    ).rejects.toThrow();
    expect(await source.committedHighWater(3)).toBe(highest);
  });
});
