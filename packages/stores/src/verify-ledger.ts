/**
 * `throughline verify`: checks the committed ledger against the invariants of DESIGN.md and lists what breaks them.
 * All queries run in one REPEATABLE READ snapshot, so a writer committing meanwhile cannot produce false alarms.
 */
import type pg from 'pg';
import { StoreErrorCode } from './errors.js';
import { withClient } from './pg-client.js';
import { textArray } from './pg-arrays.js';
import {
  BALANCES_SQL,
  COUNTS_SQL,
  EXACTLY_ONE_ROW_SQL,
  OVERDRAFT_SQL,
  RUNNING_BALANCE_SQL,
} from './verify-queries.js';

export type Invariant =
  | 'exactly-one-row'
  | 'double-apply'
  | 'balance-mismatch'
  | 'position-order'
  | 'overdraft'
  | 'running-balance';

export interface Violation {
  invariant: Invariant;
  accountId?: string;
  eventId?: string;
  detail: string;
}

export interface VerifyOptions {
  /** Event ids that were accepted (acked to clients): each must have exactly one ledger row. Default: not checked. */
  expectedEventIds?: readonly string[];
  /** Most violations listed; `totalViolations` still counts them all. Default 1,000. */
  maxViolations?: number;
}

export interface VerifyReport {
  ok: boolean;
  /** Ledger rows checked. */
  checkedEvents: number;
  /** Balance rows checked. */
  checkedAccounts: number;
  /** The violations found, at most `maxViolations` of them, grouped by check. */
  violations: Violation[];
  /** How many violations there are in all. */
  totalViolations: number;
}

type Row = Record<string, string | number | boolean | null>;

interface Check {
  sql: string;
  values: unknown[];
  toViolations(row: Row): Violation[];
}

export async function verifyLedger(pool: pg.Pool, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const cap = opts.maxViolations ?? 1000;
  const checks: Check[] = [];
  if (opts.expectedEventIds !== undefined) {
    checks.push({
      sql: EXACTLY_ONE_ROW_SQL,
      values: [textArray(opts.expectedEventIds), cap],
      toViolations: (r) => [
        {
          invariant: 'exactly-one-row',
          eventId: String(r.event_id),
          detail: `expected event has ${r.row_count} ledger rows`,
        },
      ],
    });
  }
  checks.push(
    { sql: BALANCES_SQL, values: [cap], toViolations: balanceViolations },
    { sql: RUNNING_BALANCE_SQL, values: [cap], toViolations: runningViolations },
    { sql: OVERDRAFT_SQL, values: [cap], toViolations: overdraftViolations },
  );

  const how = {
    code: StoreErrorCode.queryFailed,
    connectFailed: 'verify: cannot connect',
    failed: 'verify failed',
  };
  // A failed check leaves the connection inside its transaction: it is discarded, not reused.
  return withClient(pool, how, async (client) => {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const counts = (await client.query<{ events: string; accounts: string }>(COUNTS_SQL)).rows[0];
    const violations: Violation[] = [];
    let totalViolations = 0;
    for (const check of checks) {
      const { rows } = await client.query<Row>(check.sql, check.values);
      if (rows[0] !== undefined) totalViolations += Number(rows[0].total);
      for (const row of rows) violations.push(...check.toViolations(row));
    }
    await client.query('COMMIT');
    return {
      ok: totalViolations === 0,
      checkedEvents: Number(counts?.events ?? 0),
      checkedAccounts: Number(counts?.accounts ?? 0),
      violations: violations.slice(0, cap),
      totalViolations,
    };
  });
}

function balanceViolations(r: Row): Violation[] {
  const accountId = String(r.account_id);
  if (r.balance_minor === null) {
    return [{ invariant: 'balance-mismatch', accountId, detail: 'ledger rows but no balance row' }];
  }
  const out: Violation[] = [];
  if (r.bad_balance === true) {
    out.push({
      invariant: 'balance-mismatch',
      accountId,
      detail: `balance ${r.balance_minor} != sum of applied deltas ${r.applied_sum ?? 'none (no ledger rows)'}`,
    });
  }
  if (r.bad_position === true) {
    out.push({
      invariant: 'position-order',
      accountId,
      detail: `balance position ${r.position} != last ledger position ${r.max_position ?? 'none (no ledger rows)'}`,
    });
  }
  return out;
}

function runningViolations(r: Row): Violation[] {
  const invariant = r.invariant as Invariant;
  const at = `position ${r.position}`;
  let detail: string;
  if (invariant === 'position-order') detail = `${at} appears more than once on the account`;
  else if (r.outcome === 'REJECTED' && r.delta_minor !== '0')
    detail = `rejected row at ${at} moves ${r.delta_minor}`;
  else detail = `balance after ${r.balance_after_minor} at ${at} is off the running sum by ${r.step_error}`;
  return [{ invariant, accountId: String(r.account_id), eventId: String(r.event_id), detail }];
}

function overdraftViolations(r: Row): Violation[] {
  return [
    {
      invariant: 'overdraft',
      accountId: String(r.account_id),
      eventId: String(r.event_id),
      detail: `balance after ${r.balance_after_minor} is below -${r.overdraft_limit_minor} (config version ${r.config_version})`,
    },
  ];
}
