/**
 * @throughline/stores — where throughline keeps things: per-key state in Redis (the state stage's cache), the
 * PostgreSQL sink (the writer's one-statement, idempotent batch commit), the read side that rebuilds lost state,
 * tenant configuration with change notifications, schema migrations, and the ledger verifier.
 *
 * Everything is built by a factory from a client you own (`pg.Pool`, ioredis `Redis`), never from globals.
 *
 * ```ts
 * import pg from 'pg';
 * import { Redis } from 'ioredis';
 * import { migrate, createPostgresSink, createRedisStateStore } from '@throughline/stores';
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * await migrate(pool);
 * const sink = createPostgresSink(pool);
 * const { inserted, duplicates } = await sink.commitBatch(3, resultBatch.results);
 *
 * const state = createRedisStateStore(new Redis(redisUrl));
 * const { marker, accounts, taken } = await state.read(3, accountIds, [{ eventId, position }], Date.now());
 * ```
 */
export { StoreError, StoreErrorCode, ensureError, isStoreError, toStoreError } from './errors.js';
export type { AccountState } from './account-state.js';
export {
  ensureSchema,
  migrate,
  MIGRATION_LOCK_KEY,
  schemaVersion,
  type MigrateOptions,
  type MigrateOutcome,
  type SchemaPolicy,
} from './migrate.js';
export {
  grantServiceRoles,
  readRolePasswords,
  ROLE_PREFIX_PATTERN,
  ROLE_PRIVILEGES,
  scramVerifier,
  SERVICE_ROLES,
  serviceRoleName,
  type GrantedRole,
  type GrantOptions,
  type ServiceRole,
} from './roles.js';
export { MIGRATIONS, SCHEMA_VERSION, type Migration } from './migrations/index.js';
export { FENCED_SQLSTATE } from './migrations/004_partition_epochs.js';
export {
  COMMIT_SQL,
  commitParameters,
  createPostgresSink,
  highWaterOf,
  type CommitFence,
  type CommitOutcome,
  type GroupOutcome,
  type PartitionResults,
  type PostgresSink,
  type PostgresSinkOptions,
} from './postgres-sink.js';
export { ledgerNamesOf, ledgerTraceId } from './ledger-columns.js';
export { createPostgresStateSource, type PostgresStateSource } from './postgres-state-source.js';
export {
  createTenantConfigRepository,
  type ConfigChangeListener,
  type TenantConfigList,
  type TenantConfigRepository,
} from './tenant-config-repository.js';
export type { TenantConfigInput } from './tenant-config-rows.js';
export { CONFIG_CHANNEL, type ConfigListenOptions } from './tenant-config-listener.js';
export { DEMO_TENANTS } from './demo-tenants.js';
export {
  createRedisStateStore,
  type RedisStateStore,
  type RedisStateStoreOptions,
  type IdClaim,
  type StateRead,
  type WriteFence,
} from './redis-state-store.js';
export { stateKeys, type StateKeys, type StateMarker } from './redis-codec.js';
export {
  verifyLedger,
  type Invariant,
  type VerifyOptions,
  type VerifyReport,
  type Violation,
} from './verify-ledger.js';
export { readDeploymentId, stateKeyPrefixFor } from './deployment.js';
