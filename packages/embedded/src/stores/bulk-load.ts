/**
 * A bulk load into an empty ledger defers the ledger's non-unique index (as migration 001 of @throughline/stores
 * defines it; migration 003 dropped the other) and builds it once at the end: a sorted build is far cheaper than a million
 * single insertions, and PGlite runs PostgreSQL on one core. Nothing the pipeline does while loading reads it (the
 * primary key, which `ON CONFLICT` needs, stays), so the effects are the same; the schema at the end is too.
 */
import { EmbeddedError, EmbeddedErrorCode } from '../errors.js';
import type { StatementRunner } from './copy-sink.js';

const SECONDARY_INDEXES = [
  'CREATE INDEX IF NOT EXISTS ledger_account_position_idx ON ledger (account_id, position)',
];

const DROP_SQL = 'DROP INDEX IF EXISTS ledger_account_position_idx';

/** (Re)creates the secondary indexes that are missing; cheap when they exist (and repairs an interrupted bulk load). */
export async function ensureSecondaryIndexes(db: StatementRunner): Promise<void> {
  try {
    await db.run(SECONDARY_INDEXES.map((sql) => ({ sql })));
  } catch (err) {
    throw new EmbeddedError(
      EmbeddedErrorCode.queryFailed,
      `cannot create the ledger's indexes: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** Drops the secondary indexes when the ledger is empty; returns whether it did. */
export async function deferSecondaryIndexes(db: StatementRunner): Promise<boolean> {
  const [result] = await db.run([{ sql: 'SELECT NOT EXISTS (SELECT 1 FROM ledger) AS empty', params: [] }]);
  const empty = (result?.rows[0] as { empty?: boolean } | undefined)?.empty === true;
  if (empty) await db.run([{ sql: DROP_SQL }]);
  return empty;
}
