import type pg from 'pg';
import { toStoreError, type StoreErrorCode } from './errors.js';

/** How a piece of work on a client of its own says what failed: the error code, and a message for each failure. */
export interface ClientWork {
  code: StoreErrorCode;
  /** When no client could be had: `cannot connect to migrate`. */
  connectFailed: string;
  /** When the work failed: `migration failed`. */
  failed: string;
}

/**
 * Runs `work` on a client of its own from `pool`, then gives the client back: discarded when the work failed (its
 * connection may be lost, or left inside a failed transaction), reused otherwise. A checked-out client has no error
 * listener; one is added meanwhile, so that a dropped connection fails the work instead of crashing the process.
 * Every failure is a StoreError (one already is stays as it is).
 */
export async function withClient<T>(
  pool: pg.Pool,
  how: ClientWork,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw toStoreError(how.code, how.connectFailed, err);
  }
  let broken: Error | undefined;
  const onError = (err: Error): void => {
    broken = err;
  };
  client.on('error', onError);
  try {
    return await work(client);
  } catch (err) {
    broken ??= err instanceof Error ? err : new Error(String(err));
    throw toStoreError(how.code, how.failed, err);
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
