/**
 * The writer's sink: commits a batch of results to PostgreSQL in one statement (so one transaction and one
 * round trip), idempotently.
 */
import { Direction, Outcome, type Result } from '@throughline/contracts';
import type pg from 'pg';
import { StoreError, StoreErrorCode, toStoreError } from './errors.js';
import { ArrayLiteralBuilder } from './pg-arrays.js';

export interface PostgresSinkOptions {
  /**
   * Run the commit as a named prepared statement, so PostgreSQL parses and plans it once per connection.
   * Turn off behind a transaction-pooling proxy (PgBouncer in transaction mode) that cannot keep them.
   * Default true.
   */
  preparedStatements?: boolean;
}

/** What one commit wrote. */
export interface CommitOutcome {
  /** Ledger rows inserted. */
  inserted: number;
  /** Results whose event id already had a ledger row (a replayed batch, or a repeat inside the batch). */
  duplicates: number;
}

/** The results of one partition's batch. */
export interface PartitionResults {
  partition: number;
  results: readonly Result[];
}

export interface PostgresSink {
  /**
   * Commits one partition's batch: its ledger rows (`ON CONFLICT (event_id) DO NOTHING`) and, for each account, the
   * state after its last result (only when that is newer than the stored one). All or nothing; ack after it resolves.
   */
  commitBatch(partition: number, results: readonly Result[]): Promise<CommitOutcome>;
  /** Commits the batches of several partitions in one transaction. */
  commitBatches(groups: readonly PartitionResults[]): Promise<CommitOutcome>;
}

/*
 * Both inserts are data-modifying CTEs of one statement: one snapshot, one implicit transaction, one round trip.
 * Timestamps arrive as epoch milliseconds; to_timestamp(float8) keeps them exact (rounded to the microsecond).
 */
const COMMIT_SQL = `
WITH ins AS (
  INSERT INTO ledger (event_id, partition, account_id, tenant_id, position, outcome, reject_reason, direction,
                      amount_minor, currency, delta_minor, fee_minor, balance_after_minor, config_version,
                      occurred_at, accepted_at)
  SELECT u.event_id, u.partition, u.account_id, u.tenant_id, u.position, u.outcome, u.reject_reason, u.direction,
         u.amount_minor, u.currency, u.delta_minor, u.fee_minor, u.balance_after_minor, u.config_version,
         to_timestamp(u.occurred_ms::float8 / 1000), to_timestamp(u.accepted_ms::float8 / 1000)
  FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::int8[], $6::text[], $7::text[], $8::text[],
              $9::int8[], $10::text[], $11::int8[], $12::int8[], $13::int8[], $14::int8[], $15::int8[], $16::int8[])
       AS u(event_id, partition, account_id, tenant_id, position, outcome, reject_reason, direction,
            amount_minor, currency, delta_minor, fee_minor, balance_after_minor, config_version,
            occurred_ms, accepted_ms)
  ON CONFLICT (event_id) DO NOTHING
  RETURNING 1
), bal AS (
  INSERT INTO balances AS b (account_id, tenant_id, partition, balance_minor, position, debits_day, debits_day_minor)
  SELECT * FROM unnest($17::text[], $18::text[], $19::int[], $20::int8[], $21::int8[], $22::int[], $23::int8[])
  ON CONFLICT (account_id) DO UPDATE
    SET tenant_id = EXCLUDED.tenant_id, partition = EXCLUDED.partition, balance_minor = EXCLUDED.balance_minor,
        position = EXCLUDED.position, debits_day = EXCLUDED.debits_day,
        debits_day_minor = EXCLUDED.debits_day_minor, updated_at = now()
    WHERE b.position < EXCLUDED.position
)
SELECT count(*)::int AS inserted FROM ins`;

function outcomeName(result: Result): string {
  if (result.outcome === Outcome.OUTCOME_APPLIED) return 'APPLIED';
  if (result.outcome === Outcome.OUTCOME_REJECTED) return 'REJECTED';
  throw new StoreError(
    StoreErrorCode.invalidInput,
    `result ${result.eventId} has no outcome (${result.outcome})`,
  );
}

function directionName(result: Result): string {
  if (result.direction === Direction.DIRECTION_DEBIT) return 'DEBIT';
  if (result.direction === Direction.DIRECTION_CREDIT) return 'CREDIT';
  throw new StoreError(
    StoreErrorCode.invalidInput,
    `result ${result.eventId} has no direction (${result.direction})`,
  );
}

/** Builds the 23 parameters of COMMIT_SQL: ledger columns for every result, balance columns for each account's last. */
export function commitParameters(groups: readonly PartitionResults[]): string[] {
  const ledger = Array.from({ length: 16 }, () => new ArrayLiteralBuilder());
  const [eventIds, partitions, accountIds, tenantIds, positions, outcomes, reasons, directions] =
    ledger as Builders8;
  const [amounts, currencies, deltas, fees, balancesAfter, configVersions, occurred, accepted] = ledger.slice(
    8,
  ) as Builders8;
  const last = new Map<string, { partition: number; result: Result }>();
  for (const { partition, results } of groups) {
    for (const r of results) {
      eventIds.text(r.eventId);
      partitions.int(partition);
      accountIds.text(r.accountId);
      tenantIds.text(r.tenantId);
      positions.int(r.position);
      outcomes.word(outcomeName(r));
      reasons.nullableText(r.rejectReason === '' ? undefined : r.rejectReason);
      directions.word(directionName(r));
      amounts.int(r.amountMinor);
      currencies.text(r.currency);
      deltas.int(r.deltaMinor);
      fees.int(r.feeMinor);
      balancesAfter.int(r.balanceAfterMinor);
      configVersions.int(r.configVersion);
      occurred.int(r.occurredAtMs);
      accepted.int(r.acceptedAtMs);
      const seen = last.get(r.accountId);
      if (seen === undefined || seen.result.position < r.position) {
        last.set(r.accountId, { partition, result: r });
      }
    }
  }
  const balance = Array.from({ length: 7 }, () => new ArrayLiteralBuilder());
  const [bAccounts, bTenants, bPartitions, bBalances, bPositions, bDays, bDebits] = balance as Builders7;
  for (const [accountId, { partition, result }] of last) {
    bAccounts.text(accountId);
    bTenants.text(result.tenantId);
    bPartitions.int(partition);
    bBalances.int(result.balanceAfterMinor);
    bPositions.int(result.position);
    bDays.int(result.debitsDay);
    bDebits.int(result.debitsDayMinor);
  }
  return [...ledger, ...balance].map(String);
}

type B = ArrayLiteralBuilder;
type Builders7 = [B, B, B, B, B, B, B];
type Builders8 = [B, B, B, B, B, B, B, B];

export function createPostgresSink(pool: pg.Pool, opts: PostgresSinkOptions = {}): PostgresSink {
  const name = (opts.preparedStatements ?? true) ? 'tl_commit_results' : undefined;

  async function commitBatches(groups: readonly PartitionResults[]): Promise<CommitOutcome> {
    let total = 0;
    for (const group of groups) total += group.results.length;
    if (total === 0) return { inserted: 0, duplicates: 0 };
    const values = commitParameters(groups);
    let inserted: number;
    try {
      const res = await pool.query<{ inserted: number }>({ name, text: COMMIT_SQL, values });
      inserted = res.rows[0]?.inserted ?? 0;
    } catch (err) {
      throw toStoreError(StoreErrorCode.commitFailed, `cannot commit ${total} results`, err);
    }
    return { inserted, duplicates: total - inserted };
  }

  return {
    commitBatch: (partition, results) => commitBatches([{ partition, results }]),
    commitBatches,
  };
}
