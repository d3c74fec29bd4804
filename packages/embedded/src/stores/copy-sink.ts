/**
 * The writer's sink on the embedded database: the same effect as @throughline/stores' PostgreSQL sink (ledger rows
 * `ON CONFLICT (event_id) DO NOTHING`, each account's balance moved only forward by position, all in one
 * transaction), loaded differently. PGlite runs PostgreSQL single-threaded in WebAssembly, where binding the
 * stores' 23 array parameters and unnesting them costs more than the insert itself; `COPY … FROM '/dev/blob'` into a
 * session-local staging table, then `INSERT … SELECT`, moves the same rows for less (see the package README).
 */
import type { Result } from '@throughline/contracts';
import { PipelineError, PipelineErrorCode, type ResultSink } from '@throughline/pipeline';
import { FENCED_SQLSTATE, highWaterOf, ledgerNamesOf, ledgerTraceId } from '@throughline/stores';
import { EmbeddedError } from '../errors.js';
import type { SqlStep, StepResult } from '../database/protocol.js';

/** Temporary (so never WAL-logged), emptied at every commit. */
const CREATE_STAGE_SQL = `
CREATE TEMP TABLE IF NOT EXISTS tl_stage_results (
  event_id text, partition int, account_id text, tenant_id text, position int8, outcome text, reject_reason text,
  direction text, amount_minor int8, currency text, delta_minor int8, fee_minor int8, balance_after_minor int8,
  config_version int8, occurred_ms int8, accepted_ms int8
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS tl_stage_balances (
  account_id text, tenant_id text, partition int, balance_minor int8, position int8, debits_day int, debits_day_minor int8
) ON COMMIT DELETE ROWS`;

const COPY_RESULTS_SQL = `COPY tl_stage_results FROM '/dev/blob'`;
const COPY_BALANCES_SQL = `COPY tl_stage_balances FROM '/dev/blob'`;

const INSERT_LEDGER_SQL = `
INSERT INTO ledger (event_id, partition, account_id, tenant_id, position, outcome, reject_reason, direction,
                    amount_minor, currency, delta_minor, fee_minor, balance_after_minor, config_version,
                    occurred_at, accepted_at, trace_id)
SELECT event_id, partition, account_id, tenant_id, position, outcome, reject_reason, direction, amount_minor,
       currency, delta_minor, fee_minor, balance_after_minor, config_version,
       to_timestamp(occurred_ms::float8 / 1000), to_timestamp(accepted_ms::float8 / 1000), decode($1::text, 'hex')
FROM tl_stage_results
ON CONFLICT (event_id) DO NOTHING`;

/** Each account's state after its last result of the batch (picked in JS), moved forward only. */
const UPSERT_BALANCES_SQL = `
INSERT INTO balances AS b (account_id, tenant_id, partition, balance_minor, position, debits_day, debits_day_minor)
SELECT account_id, tenant_id, partition, balance_minor, position, debits_day, debits_day_minor FROM tl_stage_balances
ON CONFLICT (account_id) DO UPDATE
  SET tenant_id = EXCLUDED.tenant_id, partition = EXCLUDED.partition, balance_minor = EXCLUDED.balance_minor,
      position = EXCLUDED.position, debits_day = EXCLUDED.debits_day,
      debits_day_minor = EXCLUDED.debits_day_minor, updated_at = now()
  WHERE b.position < EXCLUDED.position`;

/** Checks and advances the writer fence first: a stale writer's transaction fails before it writes anything. */
const ADVANCE_FENCE_SQL = `SELECT tl_advance_writer_fence($1, $2)`;
const ADVANCE_UPSTREAM_SQL = `
INSERT INTO tl_partition_epochs AS e (stage, partition, epoch) VALUES ('state', $1, $2)
ON CONFLICT (stage, partition) DO UPDATE SET epoch = EXCLUDED.epoch WHERE e.epoch < EXCLUDED.epoch`;
const RAISE_HIGH_WATER_SQL = `
UPDATE tl_partition_epochs SET high_water = $2 WHERE stage = 'writer' AND partition = $1 AND high_water < $2`;
const READ_UPSTREAM_SQL = `SELECT epoch::text FROM tl_partition_epochs WHERE stage = 'state' AND partition = $1`;

/** What the sink needs of the database: one round trip for a list of statements, optionally as one transaction. */
export interface StatementRunner {
  run(steps: SqlStep[], opts?: { transaction?: boolean }): Promise<StepResult[]>;
}

const SPECIAL = /[\\\t\n\r]/;

/** A value in COPY's text format: backslash, tab, newline and carriage return escaped. */
function copyText(value: string): string {
  if (!SPECIAL.test(value)) return value;
  return value.replace(/[\\\t\n\r]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
  );
}

/**
 * The staging rows of a batch in COPY text format: one line per result, and one per account with the state after
 * its last result in the batch (the largest position).
 */
export function stagingText(
  partition: number,
  results: readonly Result[],
): { results: string; balances: string } {
  let out = '';
  const last = new Map<string, Result>();
  for (const r of results) {
    const { outcome, direction } = ledgerNamesOf(r);
    out +=
      `${copyText(r.eventId)}\t${partition}\t${copyText(r.accountId)}\t${copyText(r.tenantId)}\t${r.position}\t` +
      `${outcome}\t${r.rejectReason === '' ? '\\N' : copyText(r.rejectReason)}\t${direction}\t` +
      `${r.amountMinor}\t${copyText(r.currency)}\t${r.deltaMinor}\t${r.feeMinor}\t${r.balanceAfterMinor}\t` +
      `${r.configVersion}\t${r.occurredAtMs}\t${r.acceptedAtMs}\n`;
    const seen = last.get(r.accountId);
    if (seen === undefined || seen.position < r.position) last.set(r.accountId, r);
  }
  let balances = '';
  for (const [accountId, r] of last) {
    balances +=
      `${copyText(accountId)}\t${copyText(r.tenantId)}\t${partition}\t${r.balanceAfterMinor}\t${r.position}\t` +
      `${r.debitsDay}\t${r.debitsDayMinor}\n`;
  }
  return { results: out, balances };
}

/** The database's refusal of a stale writer (SQLSTATE TLF01) as the pipeline's fenced error. */
function fencedOr(err: unknown): unknown {
  if (err instanceof EmbeddedError && err.sqlState === FENCED_SQLSTATE) {
    const current = /lease epoch (\d+),/.exec(err.message)?.[1];
    return new PipelineError(PipelineErrorCode.fenced, err.message, {
      cause: err,
      ...(current === undefined ? {} : { currentEpoch: Number(current) }),
    });
  }
  return err;
}

/**
 * A `ResultSink` committing each batch with COPY into a staging table and two `INSERT … SELECT`s, in one
 * transaction that first checks and advances the partition's writer fence (and then its state fence).
 */
export function createCopySink(db: StatementRunner): ResultSink {
  let staged: Promise<unknown> | undefined;
  return {
    async claim(partition, epoch) {
      try {
        const [, upstream] = await db.run(
          [
            { sql: ADVANCE_FENCE_SQL, params: [partition, epoch] },
            { sql: READ_UPSTREAM_SQL, params: [partition] },
          ],
          { transaction: true },
        );
        const row = upstream?.rows[0] as { epoch?: string } | undefined;
        return { upstream: Number(row?.epoch ?? 0) };
      } catch (err) {
        throw fencedOr(err);
      }
    },
    async commitBatch(fence, results) {
      const { partition } = fence;
      const staging = stagingText(partition, results);
      staged ??= db.run([{ sql: CREATE_STAGE_SQL }]).catch((err: unknown) => {
        staged = undefined;
        throw err;
      });
      await staged;
      const steps: SqlStep[] = [
        { sql: ADVANCE_FENCE_SQL, params: [partition, fence.epoch] },
        { sql: ADVANCE_UPSTREAM_SQL, params: [partition, fence.upstream] },
      ];
      if (results.length > 0)
        steps.push(
          { sql: COPY_RESULTS_SQL, params: [], blob: staging.results },
          { sql: INSERT_LEDGER_SQL, params: [ledgerTraceId(fence) ?? null] },
          { sql: COPY_BALANCES_SQL, params: [], blob: staging.balances },
          { sql: UPSERT_BALANCES_SQL, params: [] },
          { sql: RAISE_HIGH_WATER_SQL, params: [partition, String(highWaterOf(results))] },
        );
      let done: StepResult[];
      try {
        done = await db.run(steps, { transaction: true });
      } catch (err) {
        throw fencedOr(err);
      }
      const inserted = done[3]?.rowCount ?? 0;
      return { inserted, duplicates: results.length - inserted };
    },
  };
}
