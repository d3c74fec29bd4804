import type pg from 'pg';
import { StoreErrorCode, toStoreError } from './errors.js';

/**
 * The id of the deployment whose data this database holds (created by migration 002). Key namespaces outside the
 * database (the state stage's Redis keys) carry it, so they always belong to this database.
 */
export async function readDeploymentId(pool: Pick<pg.Pool, 'query'>): Promise<string> {
  try {
    const { rows } = await pool.query<{ id: string }>('SELECT id::text AS id FROM tl_deployment');
    const id = rows[0]?.id;
    if (id === undefined) throw new Error('tl_deployment is empty');
    return id;
  } catch (err) {
    throw toStoreError(
      StoreErrorCode.queryFailed,
      'cannot read the deployment id (are the migrations applied?)',
      err,
    );
  }
}

/** The Redis key prefix of the state of deployment `id`: `tl:<first 12 hex digits>`. */
export function stateKeyPrefixFor(deploymentId: string): string {
  return `tl:${deploymentId.replace(/-/g, '').slice(0, 12)}`;
}
