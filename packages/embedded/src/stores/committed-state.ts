/**
 * The state stage's read side on the embedded database. When the ledger was empty as the process started, every
 * account and event id it could hold since went through this process's state stage, whose in-memory store keeps
 * them all (it evicts nothing): an account the store does not know has never been committed, so the lookups are
 * answered without a query. Otherwise (a database from an earlier run) they go to PostgreSQL, as in distributed
 * mode after a loss of Redis.
 */
import type { CommittedState } from '@throughline/pipeline';
import { createPostgresStateSource } from '@throughline/stores';
import type pg from 'pg';

export async function createEmbeddedCommittedState(
  pool: pg.Pool,
): Promise<CommittedState & { readonly emptyAtStart: boolean }> {
  const source = createPostgresStateSource(pool);
  const { rows } = await pool.query<{ empty: boolean }>('SELECT NOT EXISTS (SELECT 1 FROM ledger) AS empty');
  const emptyAtStart = rows[0]?.empty === true;
  if (!emptyAtStart) return { ...source, emptyAtStart };
  return {
    emptyAtStart,
    loadAccounts: () => Promise.resolve(new Map()),
    committedEvents: () => Promise.resolve(new Map()),
    hasCommittedRows: (partition) => source.hasCommittedRows(partition),
    committedHighWater: (partition) => source.committedHighWater(partition),
  };
}
