/**
 * The writer's sink: commits a batch of results to PostgreSQL in one statement (so one transaction and one
 * round trip), idempotently. The columns go as binary arrays (pg-binary-arrays.ts): nothing to concatenate on the
 * client, nothing to parse on the server.
 */
import type { Result } from '@throughline/contracts';
import type pg from 'pg';
import { StoreError, StoreErrorCode, toStoreError } from './errors.js';
import { ledgerNamesOf, ledgerTraceId } from './ledger-columns.js';
import { Int4ArrayBuilder, Int8ArrayBuilder, TextArrayBuilder } from './pg-binary-arrays.js';

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

/**
 * The fences a commit carries: the partition, the lease epoch of the writer instance committing it (refused when
 * a newer one owns the partition), and the highest lease epoch of the state instances whose results it holds;
 * with the id of the writer turn's trace (32 hex digits), stored with each row it inserts when given.
 */
export interface CommitFence {
  partition: number;
  epoch: number;
  upstream: number;
  traceId?: string;
}

/** The results of one partition's batch, with its fences. */
export interface PartitionResults {
  fence: CommitFence;
  results: readonly Result[];
}

/** What one partition's part of a grouped commit did: written, or refused as stale. */
export type GroupOutcome = (CommitOutcome & { fenced: false }) | { inserted: 0; duplicates: 0; fenced: true };

export interface PostgresSink {
  /**
   * Raises the partition's writer fence to `epoch` (commits of older epochs are refused from now on) and returns
   * the highest state epoch committed for it. `STORE_FENCED` when a newer writer epoch holds it.
   */
  claim(partition: number, epoch: number): Promise<{ upstream: number }>;
  /**
   * Commits one partition's batch: its ledger rows (`ON CONFLICT (event_id) DO NOTHING`) and, for each account, the
   * state after its last result (only when that is newer than the stored one), after checking and advancing its
   * fences in the same statement. All or nothing; ack after it resolves. `STORE_FENCED` when refused as stale.
   */
  commitBatch(fence: CommitFence, results: readonly Result[]): Promise<CommitOutcome>;
  /**
   * Commits the batches of several partitions in one statement (one transaction, one round trip) and tells what
   * each did, in the order given: the writer's group commit. The partitions must be distinct; a stale one is
   * refused alone.
   */
  commitGroups(groups: readonly PartitionResults[]): Promise<GroupOutcome[]>;
}

/**
 * The writer's commit statement. Its inserts are data-modifying CTEs of one statement: one snapshot, one implicit
 * transaction, one round trip. The first CTE checks and advances each partition's writer fence (a row lock held
 * to the end of the statement): a partition whose fence holds a newer epoch is left out of every other CTE, so a
 * stale writer changes nothing. Its 27 parameters are column arrays (ledger columns for every result, balance
 * columns for each account's last, the fences and trace id of each partition; see `commitParameters`); an empty
 * `reject_reason` element is NULL. Timestamps arrive as epoch milliseconds; to_timestamp(float8) keeps them exact
 * (rounded to the microsecond). Returns each partition that passed its fence with the rows it inserted. Exported
 * for the benchmark's floor, which runs the same statement without this package's parameter encoding.
 */
export const COMMIT_SQL = `
WITH f AS (
  SELECT u.partition, u.epoch, u.upstream, decode(u.trace, 'hex') AS trace_id, u.high_water
  FROM unnest($24::int[], $25::int8[], $26::int8[], $27::text[], $28::int8[])
       AS u(partition, epoch, upstream, trace, high_water)
), fence AS (
  INSERT INTO tl_partition_epochs AS e (stage, partition, epoch, high_water)
  SELECT 'writer', f.partition, f.epoch, f.high_water FROM f
  ON CONFLICT (stage, partition) DO UPDATE
    SET epoch = EXCLUDED.epoch, high_water = GREATEST(e.high_water, EXCLUDED.high_water)
    WHERE e.epoch <= EXCLUDED.epoch
  RETURNING partition
), up AS (
  INSERT INTO tl_partition_epochs AS e (stage, partition, epoch)
  SELECT 'state', f.partition, f.upstream FROM f WHERE f.partition IN (SELECT partition FROM fence)
  ON CONFLICT (stage, partition) DO UPDATE SET epoch = EXCLUDED.epoch WHERE e.epoch < EXCLUDED.epoch
), ins AS (
  INSERT INTO ledger (event_id, partition, account_id, tenant_id, position, outcome, reject_reason, direction,
                      amount_minor, currency, delta_minor, fee_minor, balance_after_minor, config_version,
                      occurred_at, accepted_at, trace_id)
  SELECT u.event_id, u.partition, u.account_id, u.tenant_id, u.position, u.outcome, u.reject_reason, u.direction,
         u.amount_minor, u.currency, u.delta_minor, u.fee_minor, u.balance_after_minor, u.config_version,
         to_timestamp(u.occurred_ms::float8 / 1000), to_timestamp(u.accepted_ms::float8 / 1000), f.trace_id
  FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::int8[], $6::text[], $7::text[], $8::text[],
              $9::int8[], $10::text[], $11::int8[], $12::int8[], $13::int8[], $14::int8[], $15::int8[], $16::int8[])
       AS u(event_id, partition, account_id, tenant_id, position, outcome, reject_reason, direction,
            amount_minor, currency, delta_minor, fee_minor, balance_after_minor, config_version,
            occurred_ms, accepted_ms)
  JOIN f ON f.partition = u.partition
  WHERE u.partition IN (SELECT partition FROM fence)
  ON CONFLICT (event_id) DO NOTHING
  RETURNING partition
), bal AS (
  INSERT INTO balances AS b (account_id, tenant_id, partition, balance_minor, position, debits_day, debits_day_minor)
  SELECT v.* FROM unnest($17::text[], $18::text[], $19::int[], $20::int8[], $21::int8[], $22::int[], $23::int8[])
       AS v(account_id, tenant_id, partition, balance_minor, position, debits_day, debits_day_minor)
  WHERE v.partition IN (SELECT partition FROM fence)
  ON CONFLICT (account_id) DO UPDATE
    SET tenant_id = EXCLUDED.tenant_id, partition = EXCLUDED.partition, balance_minor = EXCLUDED.balance_minor,
        position = EXCLUDED.position, debits_day = EXCLUDED.debits_day,
        debits_day_minor = EXCLUDED.debits_day_minor, updated_at = now()
    WHERE b.position < EXCLUDED.position
)
SELECT fence.partition, (SELECT count(*)::int FROM ins WHERE ins.partition = fence.partition) AS inserted
FROM fence`;

/** Raises the writer fence of a partition, and reads its state fence, in one statement. */
const CLAIM_SQL = `
WITH fence AS (
  INSERT INTO tl_partition_epochs AS e (stage, partition, epoch) VALUES ('writer', $1, $2)
  ON CONFLICT (stage, partition) DO UPDATE SET epoch = EXCLUDED.epoch WHERE e.epoch <= EXCLUDED.epoch
  RETURNING epoch
)
SELECT (SELECT count(*)::int FROM fence) AS claimed,
       (SELECT epoch::text FROM tl_partition_epochs WHERE stage = 'writer' AND partition = $1) AS writer,
       (SELECT epoch::text FROM tl_partition_epochs WHERE stage = 'state' AND partition = $1) AS upstream`;

/**
 * Builds the 27 parameters of COMMIT_SQL, as binary arrays: ledger columns for every result, balance columns for
 * each account's last, and each partition's fences and trace id.
 */
export function commitParameters(groups: readonly PartitionResults[]): Buffer[] {
  const fencePartitions = new Int4ArrayBuilder(groups.length);
  const fenceEpochs = new Int8ArrayBuilder(groups.length);
  const fenceUpstreams = new Int8ArrayBuilder(groups.length);
  const fenceTraces = new TextArrayBuilder(groups.length, 32);
  const fenceHighWaters = new Int8ArrayBuilder(groups.length);
  for (const { fence, results } of groups) {
    fencePartitions.push(fence.partition);
    fenceEpochs.push(BigInt(fence.epoch));
    fenceUpstreams.push(BigInt(fence.upstream));
    fenceTraces.push(ledgerTraceId(fence));
    fenceHighWaters.push(highWaterOf(results));
  }
  let rows = 0;
  for (const { results } of groups) rows += results.length;
  const eventIds = new TextArrayBuilder(rows, 24);
  const partitions = new Int4ArrayBuilder(rows);
  const accountIds = new TextArrayBuilder(rows);
  const tenantIds = new TextArrayBuilder(rows, 8);
  const positions = new Int8ArrayBuilder(rows);
  const outcomes = new TextArrayBuilder(rows, 8);
  const reasons = new TextArrayBuilder(rows, 0);
  const directions = new TextArrayBuilder(rows, 6);
  const amounts = new Int8ArrayBuilder(rows);
  const currencies = new TextArrayBuilder(rows, 3);
  const deltas = new Int8ArrayBuilder(rows);
  const fees = new Int8ArrayBuilder(rows);
  const balancesAfter = new Int8ArrayBuilder(rows);
  const configVersions = new Int8ArrayBuilder(rows);
  const occurred = new Int8ArrayBuilder(rows);
  const accepted = new Int8ArrayBuilder(rows);
  const last = new Map<string, { partition: number; result: Result }>();
  for (const { fence, results } of groups) {
    const partition = fence.partition;
    for (const r of results) {
      eventIds.push(r.eventId);
      partitions.push(partition);
      accountIds.push(r.accountId);
      tenantIds.push(r.tenantId);
      positions.push(r.position);
      const names = ledgerNamesOf(r);
      outcomes.push(names.outcome);
      reasons.push(r.rejectReason === '' ? undefined : r.rejectReason);
      directions.push(names.direction);
      amounts.push(r.amountMinor);
      currencies.push(r.currency);
      deltas.push(r.deltaMinor);
      fees.push(r.feeMinor);
      balancesAfter.push(r.balanceAfterMinor);
      configVersions.push(r.configVersion);
      occurred.push(r.occurredAtMs);
      accepted.push(r.acceptedAtMs);
      const seen = last.get(r.accountId);
      if (seen === undefined || seen.result.position < r.position) {
        last.set(r.accountId, { partition, result: r });
      }
    }
  }
  const bAccounts = new TextArrayBuilder(last.size);
  const bTenants = new TextArrayBuilder(last.size, 8);
  const bPartitions = new Int4ArrayBuilder(last.size);
  const bBalances = new Int8ArrayBuilder(last.size);
  const bPositions = new Int8ArrayBuilder(last.size);
  const bDays = new Int4ArrayBuilder(last.size);
  const bDebits = new Int8ArrayBuilder(last.size);
  for (const [accountId, { partition, result }] of last) {
    bAccounts.push(accountId);
    bTenants.push(result.tenantId);
    bPartitions.push(partition);
    bBalances.push(result.balanceAfterMinor);
    bPositions.push(result.position);
    bDays.push(result.debitsDay);
    bDebits.push(result.debitsDayMinor);
  }
  return [
    eventIds,
    partitions,
    accountIds,
    tenantIds,
    positions,
    outcomes,
    reasons,
    directions,
    amounts,
    currencies,
    deltas,
    fees,
    balancesAfter,
    configVersions,
    occurred,
    accepted,
    bAccounts,
    bTenants,
    bPartitions,
    bBalances,
    bPositions,
    bDays,
    bDebits,
    fencePartitions,
    fenceEpochs,
    fenceUpstreams,
    fenceTraces,
    fenceHighWaters,
  ].map((b) => b.finish());
}

/** The highest position among `results` (0 for none): what a commit raises its partition's high-water to. */
export function highWaterOf(results: readonly Result[]): bigint {
  let highWater = 0n;
  for (const r of results) if (r.position > highWater) highWater = r.position;
  return highWater;
}

export function createPostgresSink(pool: pg.Pool, opts: PostgresSinkOptions = {}): PostgresSink {
  const name = (opts.preparedStatements ?? true) ? 'tl_commit_results' : undefined;

  async function commitGroups(groups: readonly PartitionResults[]): Promise<GroupOutcome[]> {
    const seen = new Set<number>();
    let total = 0;
    for (const { fence, results } of groups) {
      if (seen.has(fence.partition))
        throw new StoreError(
          StoreErrorCode.invalidInput,
          `partition ${fence.partition} appears twice in one commit; its rows could not be told apart`,
        );
      seen.add(fence.partition);
      total += results.length;
    }
    if (groups.length === 0) return [];
    const values = commitParameters(groups);
    const insertedBy = new Map<number, number>();
    try {
      const res = await pool.query<{ partition: number; inserted: number }>({
        name,
        text: COMMIT_SQL,
        values,
      });
      for (const row of res.rows) insertedBy.set(row.partition, row.inserted);
    } catch (err) {
      throw toStoreError(StoreErrorCode.commitFailed, `cannot commit ${total} results`, err);
    }
    return groups.map(({ fence, results }): GroupOutcome => {
      const inserted = insertedBy.get(fence.partition);
      if (inserted === undefined) return { inserted: 0, duplicates: 0, fenced: true };
      return { inserted, duplicates: results.length - inserted, fenced: false };
    });
  }

  async function commitBatch(fence: CommitFence, results: readonly Result[]): Promise<CommitOutcome> {
    const [outcome] = await commitGroups([{ fence, results }]);
    if (outcome!.fenced) throw fencedError(fence);
    return { inserted: outcome!.inserted, duplicates: outcome!.duplicates };
  }

  async function claim(partition: number, epoch: number): Promise<{ upstream: number }> {
    let row: { claimed: number; writer: string | null; upstream: string | null } | undefined;
    try {
      const res = await pool.query<{ claimed: number; writer: string | null; upstream: string | null }>(
        CLAIM_SQL,
        [partition, epoch],
      );
      row = res.rows[0];
    } catch (err) {
      throw toStoreError(StoreErrorCode.queryFailed, `cannot claim partition ${partition}`, err);
    }
    if (row === undefined || row.claimed === 0)
      throw new StoreError(
        StoreErrorCode.fenced,
        `partition ${partition} is owned under writer lease epoch ${row?.writer ?? '?'}, newer than ${epoch}`,
        row?.writer ? { currentEpoch: Number(row.writer) } : {},
      );
    return { upstream: Number(row.upstream ?? 0) };
  }

  return { claim, commitBatch, commitGroups };
}

function fencedError(fence: CommitFence): StoreError {
  return new StoreError(
    StoreErrorCode.fenced,
    `commit of partition ${fence.partition} refused: a writer of a newer lease epoch than ${fence.epoch} owns it`,
  );
}
