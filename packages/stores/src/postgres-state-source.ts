/**
 * The read side the state stage uses to rebuild what Redis lost: committed balances and ledger rows.
 * Every method is one query, one round trip.
 */
import type pg from 'pg';
import type { AccountState } from './account-state.js';
import { StoreErrorCode, toStoreError } from './errors.js';
import { textArray } from './pg-arrays.js';

export interface PostgresStateSource {
  /** The committed state of each of `accountIds` that has a balance row; accounts never committed are absent. */
  loadAccounts(accountIds: readonly string[]): Promise<Map<string, AccountState>>;
  /** Which of `eventIds` already have a ledger row. */
  committedEvents(eventIds: readonly string[]): Promise<Map<string, { accountId: string; position: bigint }>>;
  /**
   * True when the ledger holds at least one row of `partition` (so state for it existed before). Asked of
   * `balances`, which the writer fills in the same statement as the ledger: one row per account, not per event.
   */
  hasCommittedRows(partition: number): Promise<boolean>;
  /**
   * The highest position the writer committed for `partition` (0 before any): the high-water a state store that
   * lost no write is never below, once the writer has committed everything published.
   */
  committedHighWater(partition: number): Promise<bigint>;
}

// bigint columns are read as text so nobody's global pg type parser can turn them into lossy numbers.
const LOAD_ACCOUNTS_SQL = `
SELECT account_id, balance_minor::text, position::text, debits_day, debits_day_minor::text
FROM balances WHERE account_id = ANY($1::text[])`;
const COMMITTED_IDS_SQL =
  'SELECT event_id, account_id, position::text FROM ledger WHERE event_id = ANY($1::text[])';
const HAS_ROWS_SQL = 'SELECT EXISTS (SELECT 1 FROM balances WHERE partition = $1) AS found';
const HIGH_WATER_SQL = `SELECT high_water::text FROM tl_partition_epochs WHERE stage = 'writer' AND partition = $1`;

export function createPostgresStateSource(pool: pg.Pool): PostgresStateSource {
  return {
    async loadAccounts(accountIds) {
      const accounts = new Map<string, AccountState>();
      if (accountIds.length === 0) return accounts;
      try {
        const res = await pool.query<[string, string, string, number, string]>({
          text: LOAD_ACCOUNTS_SQL,
          values: [textArray(accountIds)],
          rowMode: 'array',
        });
        for (const [accountId, balance, position, day, debits] of res.rows) {
          accounts.set(accountId, {
            balanceMinor: BigInt(balance),
            position: BigInt(position),
            debitsDay: day,
            debitsDayMinor: BigInt(debits),
          });
        }
      } catch (err) {
        throw toStoreError(StoreErrorCode.queryFailed, 'cannot load account balances', err);
      }
      return accounts;
    },

    async committedEvents(eventIds) {
      const committed = new Map<string, { accountId: string; position: bigint }>();
      if (eventIds.length === 0) return committed;
      try {
        const res = await pool.query<[string, string, string]>({
          text: COMMITTED_IDS_SQL,
          values: [textArray(eventIds)],
          rowMode: 'array',
        });
        for (const [eventId, accountId, position] of res.rows)
          committed.set(eventId, { accountId, position: BigInt(position) });
      } catch (err) {
        throw toStoreError(StoreErrorCode.queryFailed, 'cannot read committed event ids', err);
      }
      return committed;
    },

    async hasCommittedRows(partition) {
      try {
        const res = await pool.query<{ found: boolean }>(HAS_ROWS_SQL, [partition]);
        return res.rows[0]?.found === true;
      } catch (err) {
        throw toStoreError(
          StoreErrorCode.queryFailed,
          `cannot check for rows of partition ${partition}`,
          err,
        );
      }
    },

    async committedHighWater(partition) {
      try {
        const res = await pool.query<{ high_water: string }>(HIGH_WATER_SQL, [partition]);
        return BigInt(res.rows[0]?.high_water ?? 0);
      } catch (err) {
        throw toStoreError(
          StoreErrorCode.queryFailed,
          `cannot read the committed high-water position of partition ${partition}`,
          err,
        );
      }
    },
  };
}
