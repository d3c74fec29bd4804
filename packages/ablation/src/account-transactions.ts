/**
 * Account state read and written in PostgreSQL per event, each event in its own transaction: the naive design the
 * benchmark starts from (`PIPELINE_MODE=naive` without the `cache` lesson). Kept in its own table so it never
 * touches the writer's `balances`.
 */
import type pg from 'pg';
import type { AccountState } from '@throughline/ledger';
import { StoreErrorCode, toStoreError } from '@throughline/stores';
import { injectDelay, withInjectedLatency, type LatencySpec } from './latency.js';

/**
 * Account state kept in the datastore and touched per event (the naive design): `lock` opens a transaction and
 * reads the account `FOR UPDATE`; the handle commits the new state (an upsert) or rolls back.
 */
export interface AccountTransactions {
  lock(accountId: string): Promise<LockedAccount>;
}

export interface LockedAccount {
  /** The stored state, undefined for an account never seen. */
  readonly state: AccountState | undefined;
  commit(next: AccountState | undefined): Promise<void>;
  rollback(): Promise<void>;
}

/**
 * `accounts` with the round trips to PostgreSQL that `spec` models: before each lock, and before the commit or
 * rollback of each locked account.
 */
export function withAccountLatency(accounts: AccountTransactions, spec: LatencySpec): AccountTransactions {
  return {
    async lock(accountId) {
      await injectDelay(spec, 'postgres');
      return withInjectedLatency(await accounts.lock(accountId), spec, 'postgres');
    },
  };
}

export interface PostgresAccountTransactions {
  /** Creates the table when absent (safe to call from several processes at once). */
  prepare(): Promise<void>;
  lock(accountId: string): Promise<LockedAccountRow>;
}

export interface LockedAccountRow {
  readonly state: AccountState | undefined;
  commit(next: AccountState | undefined): Promise<void>;
  rollback(): Promise<void>;
}

/** Any fixed key: serialises the `CREATE TABLE` of concurrent starters. */
const PREPARE_LOCK_KEY = 7_324_411;
const CREATE_SQL = `
CREATE TABLE IF NOT EXISTS naive_account_state (
  account_id       text   PRIMARY KEY,
  balance_minor    bigint NOT NULL,
  position         bigint NOT NULL,
  debits_day       int    NOT NULL,
  debits_day_minor bigint NOT NULL
)`;
const SELECT_SQL = `
SELECT balance_minor::text, position::text, debits_day, debits_day_minor::text
FROM naive_account_state WHERE account_id = $1 FOR UPDATE`;
const UPSERT_SQL = `
INSERT INTO naive_account_state (account_id, balance_minor, position, debits_day, debits_day_minor)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (account_id) DO UPDATE
  SET balance_minor = EXCLUDED.balance_minor, position = EXCLUDED.position,
      debits_day = EXCLUDED.debits_day, debits_day_minor = EXCLUDED.debits_day_minor`;

export function createPostgresAccountTransactions(pool: pg.Pool): PostgresAccountTransactions {
  return {
    async prepare() {
      const client = await pool.connect();
      try {
        await client.query('SELECT pg_advisory_lock($1)', [PREPARE_LOCK_KEY]);
        try {
          await client.query(CREATE_SQL);
        } finally {
          await client.query('SELECT pg_advisory_unlock($1)', [PREPARE_LOCK_KEY]);
        }
      } catch (err) {
        throw toStoreError(StoreErrorCode.migrationFailed, 'cannot create naive_account_state', err);
      } finally {
        client.release();
      }
    },

    async lock(accountId) {
      const client = await pool.connect();
      let state: AccountState | undefined;
      try {
        await client.query('BEGIN');
        const res = await client.query<[string, string, number, string]>({
          text: SELECT_SQL,
          values: [accountId],
          rowMode: 'array',
        });
        const row = res.rows[0];
        if (row)
          state = {
            balanceMinor: BigInt(row[0]),
            position: BigInt(row[1]),
            debitsDay: row[2],
            debitsDayMinor: BigInt(row[3]),
          };
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        client.release();
        throw toStoreError(StoreErrorCode.queryFailed, `cannot lock account ${accountId}`, err);
      }
      let open = true;
      const finish = async (sql: string[], values: unknown[][]) => {
        if (!open) return;
        open = false;
        try {
          for (let i = 0; i < sql.length; i++) await client.query(sql[i]!, values[i]);
          client.release();
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          client.release(err as Error);
          throw toStoreError(StoreErrorCode.commitFailed, `cannot commit account ${accountId}`, err);
        }
      };
      return {
        state,
        commit: (next) =>
          next === undefined
            ? finish(['COMMIT'], [[]])
            : finish(
                [UPSERT_SQL, 'COMMIT'],
                [
                  [
                    accountId,
                    next.balanceMinor.toString(),
                    next.position.toString(),
                    next.debitsDay,
                    next.debitsDayMinor.toString(),
                  ],
                  [],
                ],
              ),
        rollback: () => finish(['ROLLBACK'], [[]]),
      };
    },
  };
}
